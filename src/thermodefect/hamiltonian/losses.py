"""Losses in normalized units (target / ``target_scale``).

* real space: mean squared error over the valid entries of every graph edge's block;
* k space: ``sum_k sum_ab |O_pred(k) - O_ref(k)|^2 / (n_k · n_covered)``, with
  ``O_pred(k)`` the Bloch sum of the predicted blocks and ``n_covered`` the
  matrix entries that at least one edge reaches. When each covered entry gets
  exactly one edge (no two images of a pair within the cutoff) and uncovered
  reference entries are zero, the two losses coincide.
"""

from __future__ import annotations

import numpy as np
import torch

from thermodefect.hamiltonian.targets import PreparedSample


def bloch_sum(blocks: torch.Tensor, sample: PreparedSample, kpt_frac: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Real and imaginary parts of ``O(k) = sum_R e^{2πi k·R} O(R)``, each (n_orb_total, n_orb_total).

    ``blocks`` (n_edges, max_orb, max_orb) are one graph's padded blocks.
    """
    fold = sample.fold
    m = blocks.shape[1]
    device, dtype = blocks.device, blocks.dtype
    edge = torch.as_tensor(fold.edge, device=device)
    values = blocks.reshape(len(blocks), m * m)[edge, torch.as_tensor(fold.block_flat, device=device)]
    angle = 2 * np.pi * (sample.graph.cell_shift[fold.edge] @ np.asarray(kpt_frac, dtype=np.float64))
    flat = torch.as_tensor(fold.matrix_flat, device=device)
    n = fold.n_orbitals
    real = torch.zeros(n * n, dtype=dtype, device=device).index_add_(
        0, flat, values * torch.as_tensor(np.cos(angle), dtype=dtype, device=device))
    imag = torch.zeros(n * n, dtype=dtype, device=device).index_add_(
        0, flat, values * torch.as_tensor(np.sin(angle), dtype=dtype, device=device))
    return real.view(n, n), imag.view(n, n)


def realspace_loss(blocks: torch.Tensor, sample: PreparedSample, scale: torch.Tensor) -> torch.Tensor:
    """MSE of blocks (n_edges, max_orb, max_orb) against the aligned target, in units of ``scale``."""
    mask = torch.as_tensor(sample.block_mask, device=blocks.device)
    target = torch.as_tensor(sample.blocks, dtype=blocks.dtype, device=blocks.device)
    diff = (blocks - target)[mask] / scale
    return (diff**2).mean()


def kspace_loss(blocks: torch.Tensor, sample: PreparedSample, scale: torch.Tensor) -> torch.Tensor:
    """Squared error of the Bloch sums per covered matrix entry, averaged over k-points."""
    total = blocks.new_zeros(())
    for k, kpt in enumerate(sample.kpts_frac):
        reference = np.asarray(sample.matrices[k])
        real, imag = bloch_sum(blocks, sample, kpt)
        ref_real = torch.as_tensor(np.real(reference), dtype=blocks.dtype, device=blocks.device)
        total = total + (((real - ref_real) / scale) ** 2).sum()
        if np.iscomplexobj(reference) or np.any(np.abs(kpt) > 1e-12):
            ref_imag = torch.as_tensor(np.imag(reference), dtype=blocks.dtype, device=blocks.device)
            total = total + (((imag - ref_imag) / scale) ** 2).sum()
    return total / (len(sample.kpts_frac) * sample.fold.n_covered)


def sample_loss(blocks: torch.Tensor, sample: PreparedSample, scale: torch.Tensor) -> torch.Tensor:
    """The loss in the space the sample's data lives in."""
    if sample.is_realspace:
        return realspace_loss(blocks, sample, scale)
    return kspace_loss(blocks, sample, scale)
