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


def _pair_potentials(potentials: torch.Tensor, sample: PreparedSample) -> torch.Tensor:
    """``(u_a + u_b) / 2`` for every pair of orbitals of the structure, (n_orb_total, n_orb_total)."""
    u = potentials.reshape(-1)[torch.as_tensor(sample.orbital_slot, device=potentials.device)]
    return 0.5 * (u[:, None] + u[None, :])


def gamma_potential_term(potentials: torch.Tensor, sample: PreparedSample) -> torch.Tensor:
    """``(U S + S U) / 2`` at Γ with ``U`` the atom-shell potentials (n_atoms, max_shells) on the orbitals."""
    gamma = np.flatnonzero(np.all(np.abs(np.asarray(sample.kpts_frac if sample.kpts_frac is not None else np.zeros((1, 3)))) < 1e-12, axis=1))
    overlap = torch.as_tensor(np.real(sample.potential_overlap[gamma[0] if gamma.size else 0]), dtype=potentials.dtype,
                              device=potentials.device)
    return _pair_potentials(potentials, sample) * overlap


def edge_potential_term(potentials: torch.Tensor, sample: PreparedSample, layout) -> torch.Tensor:
    """The same term on the graph's edge blocks: ``(u_i[a] + u_j[b]) / 2 · S_ij(R)[a, b]``."""
    g = sample.graph
    shells = torch.as_tensor(layout.block_shells()[layout.species_index(g.numbers)], device=potentials.device)  # (n_atoms, m)
    u_orb = torch.gather(potentials, 1, shells)  # (n_atoms, m)
    i = torch.as_tensor(g.edge_index[0], device=potentials.device)
    j = torch.as_tensor(g.edge_index[1], device=potentials.device)
    overlap = torch.as_tensor(sample.edge_overlap, dtype=potentials.dtype, device=potentials.device)
    return 0.5 * (u_orb[i][:, :, None] + u_orb[j][:, None, :]) * overlap


def _without_shift(diffs: list[torch.Tensor], overlaps: list[torch.Tensor]) -> list[torch.Tensor]:
    """``diff - c·S`` with the ``c`` that minimizes the squared norm (one c over all parts)."""
    c = sum((d * s).sum() for d, s in zip(diffs, overlaps)) / sum((s * s).sum() for s in overlaps)
    return [d - c * s for d, s in zip(diffs, overlaps)]


def realspace_loss(blocks: torch.Tensor, sample: PreparedSample, scale: torch.Tensor) -> torch.Tensor:
    """MSE of blocks (n_edges, max_orb, max_orb) against the aligned target, in units of ``scale``."""
    mask = torch.as_tensor(sample.block_mask, device=blocks.device)
    target = torch.as_tensor(sample.blocks, dtype=blocks.dtype, device=blocks.device)
    diff = (blocks - target)[mask] / scale
    if sample.shift_invariant and sample.edge_overlap is not None:
        overlap = torch.as_tensor(sample.edge_overlap, dtype=blocks.dtype, device=blocks.device)[mask]
        diff = _without_shift([diff], [overlap / scale])[0]
    return (diff**2).mean()


def kspace_loss(blocks: torch.Tensor, sample: PreparedSample, scale: torch.Tensor,
                potentials: torch.Tensor | None = None) -> torch.Tensor:
    """Squared error of the Bloch sums per covered matrix entry, averaged over k-points."""
    total = blocks.new_zeros(())
    for k, kpt in enumerate(sample.kpts_frac):
        reference = np.asarray(sample.matrices[k])
        real, imag = bloch_sum(blocks, sample, kpt)
        if potentials is not None:
            pair = _pair_potentials(potentials, sample)
            s_k = sample.potential_overlap[k]
            real = real + pair * torch.as_tensor(np.real(s_k), dtype=blocks.dtype, device=blocks.device)
            if np.iscomplexobj(s_k):  # np.imag of a real array is a read-only zero view
                imag = imag + pair * torch.as_tensor(np.imag(s_k), dtype=blocks.dtype, device=blocks.device)
        ref_real = torch.as_tensor(np.real(reference), dtype=blocks.dtype, device=blocks.device)
        diffs = [(real - ref_real) / scale]
        if np.iscomplexobj(reference) or np.any(np.abs(kpt) > 1e-12):
            ref_imag = torch.as_tensor(np.imag(reference), dtype=blocks.dtype, device=blocks.device)
            diffs.append((imag - ref_imag) / scale)
        if sample.shift_invariant and sample.potential_overlap is not None:
            s_k = sample.potential_overlap[k]
            parts = [np.real(s_k), np.imag(s_k).copy()][:len(diffs)]
            diffs = _without_shift(diffs, [torch.as_tensor(x, dtype=blocks.dtype, device=blocks.device) for x in parts])
        total = total + sum((d**2).sum() for d in diffs)
    return total / (len(sample.kpts_frac) * sample.fold.n_covered)


def sample_loss(blocks: torch.Tensor, sample: PreparedSample, scale: torch.Tensor,
                potentials: torch.Tensor | None = None, layout=None) -> torch.Tensor:
    """The loss in the space the sample's data lives in; ``potentials`` (n_atoms, max_shells) add
    the term ``(U S + S U) / 2`` of an overlap-scaled baseline."""
    if sample.is_realspace:
        if potentials is not None:
            blocks = blocks + edge_potential_term(potentials, sample, layout)
        return realspace_loss(blocks, sample, scale)
    return kspace_loss(blocks, sample, scale, potentials)
