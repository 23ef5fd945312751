"""Eigenvalue loss at Γ: the band energies nearest the gap, not only matrix elements.

With the predicted Γ Hamiltonian ``H = sym(Σ_R H_pred(R))`` (eV) and the
reference overlap ``S(Γ) = L Lᵀ`` (Cholesky, computed once per sample), the
generalized eigenvalues are those of the ordinary symmetric problem

    ε = eigvalsh(L⁻¹ H L⁻ᵀ),

compared over the window ``W`` of ``eigenvalue_loss_bands`` levels around the
gap (half up to the highest occupied, half above; :func:`.metrics.band_window`)
with the reference eigenvalues ``ε_ref`` of ``eigh(H_ref, S_ref)``:

    L_eig = mean_{n∈W} (ε_n − ε_ref,n)² / σ²        (σ = target_scale, eV)

The same ``σ²`` normalises the element loss, so both are dimensionless and
comparable. With a shift-invariant element loss (``shift_invariant_loss``) the
window's mean error is removed first: ``H + c·S`` moves every level by ``c``
and that loss leaves each cell's ``c`` free, so this term leaves it free too.
Optionally a gap term ``(E_g − E_g,ref)² / σ²`` with ``E_g`` the lowest empty
minus the highest occupied level. The backward of ``eigvalsh``
for eigenvalue-only losses is ``V diag(∂L/∂ε) Vᵀ``: finite for degenerate
levels (no ``1/(ε_i − ε_j)`` factors).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch

from thermodefect.hamiltonian.losses import bloch_sum
from thermodefect.hamiltonian.metrics import band_window
from thermodefect.hamiltonian.targets import PreparedSample


@dataclass
class EigenTarget:
    """Per-sample data of the eigenvalue loss (float64)."""

    inverse_cholesky: np.ndarray | None  # (n_orb, n_orb) L⁻¹ with S(Γ) = L Lᵀ; None = orthogonal basis
    window: slice  # levels of the loss in ascending order
    reference_ev: np.ndarray  # (n_window,) reference eigenvalues, eV
    homo_in_window: int  # index inside the window of the highest occupied level


def eigen_target(sample: PreparedSample, n_bands: int) -> EigenTarget | None:
    """Cholesky factor and reference window of one sample; None when no Γ Hamiltonian is known."""
    if sample.hamiltonian_gamma is None or n_bands <= 0:
        return None
    h_ref = np.asarray(sample.hamiltonian_gamma, dtype=np.float64)
    n = h_ref.shape[0]
    window = band_window(n, sample.n_electrons, n_bands)
    inverse = None
    if sample.overlap_gamma is not None:
        lower = np.linalg.cholesky(np.asarray(sample.overlap_gamma, dtype=np.float64))
        inverse = scipy.linalg.solve_triangular(lower, np.eye(n), lower=True)
    reference = scipy.linalg.eigh(0.5 * (h_ref + h_ref.T), sample.overlap_gamma, eigvals_only=True)[window]
    homo = int(np.ceil(sample.n_electrons / 2 - 1e-9)) - 1
    return EigenTarget(inverse, window, reference, homo - window.start)


def attach_eigen_targets(prepared: list[PreparedSample], n_bands: int) -> None:
    """Set ``sample.eigen`` to :func:`eigen_target` (computed once, before training)."""
    for sample in prepared:
        sample.eigen = eigen_target(sample, n_bands)


def predicted_eigenvalues(blocks: torch.Tensor, sample: PreparedSample, target: EigenTarget,
                          potentials: torch.Tensor | None = None) -> torch.Tensor:
    """Window eigenvalues (n_window,) in eV, float64, differentiable w.r.t. ``blocks`` (n_edges, m, m)."""
    real, _ = bloch_sum(blocks, sample, np.zeros(3))
    if potentials is not None:
        from thermodefect.hamiltonian.losses import gamma_potential_term

        real = real + gamma_potential_term(potentials, sample)
    h = real.to(torch.float64)
    if sample.baseline_gamma is not None:
        h = h + torch.as_tensor(sample.baseline_gamma, dtype=torch.float64, device=h.device)
    h = 0.5 * (h + h.T)
    if target.inverse_cholesky is not None:
        inverse = torch.as_tensor(target.inverse_cholesky, device=h.device)
        h = inverse @ h @ inverse.T
    return torch.linalg.eigvalsh(h)[target.window]


def eigenvalue_loss_terms(blocks: torch.Tensor, sample: PreparedSample, scale: torch.Tensor,
                          potentials: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``mean_W (ε − ε_ref)² / σ²`` and ``(ΔE_g / σ)²``: dimensionless scalars, zero without a target."""
    target = sample.eigen
    if target is None:
        zero = blocks.new_zeros(())
        return zero, zero
    predicted = predicted_eigenvalues(blocks, sample, target, potentials)
    reference = torch.as_tensor(target.reference_ev, device=predicted.device)
    sigma = scale.to(torch.float64)
    error = predicted - reference
    if sample.shift_invariant:
        # H + c·S moves every level by c: the element loss leaves c free, so this term does too.
        error = error - error.mean()
    eigen_term = ((error / sigma) ** 2).mean()
    h = target.homo_in_window
    gap_term = predicted.new_zeros(())
    if 0 <= h < len(reference) - 1:
        gap_error = (predicted[h + 1] - predicted[h]) - (reference[h + 1] - reference[h])
        gap_term = (gap_error / sigma) ** 2
    return eigen_term.to(blocks.dtype), gap_term.to(blocks.dtype)


def eigenvalue_loss(blocks: torch.Tensor, sample: PreparedSample, scale: torch.Tensor) -> torch.Tensor:
    """The window eigenvalue MSE in units of ``scale²`` (see the module docstring)."""
    return eigenvalue_loss_terms(blocks, sample, scale)[0]
