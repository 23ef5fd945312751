"""Generalized Hermitian eigenproblem ``H c = ε S c``: dense, or sparse near a target.

* :func:`solve_dense` -- every state (scipy.linalg.eigh), for small cells.
* :func:`solve_near_gap` -- the ``n_states`` states nearest a target energy by
  shift-invert Lanczos (scipy.sparse.linalg.eigsh with ``sigma`` and
  ``M = S``), for large cells. The global index of each state in the sorted
  spectrum follows from Sylvester's law of inertia: the number of
  eigenvalues below σ equals the number of negative pivots of the symmetric
  factorization of ``H - σ S`` (S positive definite). Without a target the
  window is centred on an energy between the highest occupied and the lowest
empty state, found by bisection on that count.

Eigenvectors are S-normalized (``c^H S c = 1``), columns of ``vectors``.
Energies in eV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from thermodefect.core.errors import UserInputError

DEFAULT_MIN_OVERLAP_EIGENVALUE = 1e-6


class OverlapError(UserInputError):
    """The overlap matrix is not (safely) positive definite."""


class EigenSolverError(UserInputError):
    """The eigensolver could not produce the requested states."""


@dataclass
class Eigenstates:
    """Eigenpairs of ``H c = ε S c``, sorted by energy."""

    energies_ev: np.ndarray  # (n_states,) eV, ascending
    vectors: np.ndarray  # (n_orb, n_states), S-normalized columns
    indices: np.ndarray  # (n_states,) 0-based position of each state in the full sorted spectrum
    n_orbitals: int  # size of the full problem


def _as_sparse(matrix) -> sp.csr_matrix:
    return matrix.tocsr() if sp.issparse(matrix) else sp.csr_matrix(np.asarray(matrix))


def _identity_like(h) -> sp.csr_matrix:
    return sp.identity(h.shape[0], dtype=float, format="csr")


def count_below(h, s, sigma_ev: float) -> int:
    """Number of eigenvalues of ``(H, S)`` below ``sigma_ev`` (inertia of ``H - σS``).

    Uses a sparse LU with diagonal pivoting and a symmetric ordering, which is
    an LDL^T factorization of the Hermitian matrix; the sign of each pivot
    counts. Falls back to dense eigenvalues if SuperLU chose off-diagonal pivots.
    """
    h = _as_sparse(h)
    s = _identity_like(h) if s is None else _as_sparse(s)
    shifted = (h - sigma_ev * s).tocsc()
    try:
        lu = spla.splu(shifted, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    except RuntimeError:  # exactly singular: sigma is an eigenvalue; nudge it
        return count_below(h, s, sigma_ev + 1e-9 * max(1.0, abs(sigma_ev)))
    if np.array_equal(lu.perm_r, lu.perm_c):
        return int(np.count_nonzero(lu.U.diagonal().real < 0))
    dense = la.eigvalsh(h.toarray(), s.toarray())
    return int(np.count_nonzero(dense < sigma_ev))


def check_overlap(s, min_eigenvalue: float = DEFAULT_MIN_OVERLAP_EIGENVALUE) -> None:
    """Raise :class:`OverlapError` naming the smallest eigenvalue if ``S`` has one below ``min_eigenvalue``."""
    if s is None:
        return
    s = _as_sparse(s)
    if count_below(s, None, min_eigenvalue) == 0:
        return
    if s.shape[0] <= 2000:
        smallest = float(la.eigvalsh(s.toarray(), subset_by_index=[0, 0])[0])
    else:
        smallest = float(spla.eigsh(s, k=1, sigma=0.0, which="LM", return_eigenvectors=False)[0])
    raise OverlapError(_singular_message(smallest, min_eigenvalue))


def _singular_message(smallest: float, min_eigenvalue: float) -> str:
    return (f"overlap matrix is nearly singular: smallest eigenvalue {smallest:.3e} < {min_eigenvalue:.1e} "
            "(atoms too close, or a linearly dependent basis)")


def _above(s_dense: np.ndarray, min_eigenvalue: float) -> bool:
    """True when every eigenvalue of the Hermitian ``s_dense`` exceeds ``min_eigenvalue`` (a Cholesky test)."""
    # One n x n copy, factorized in place (an identity and a separate factor would be two more:
    # 650 MB each for the 9,000 orbitals of a 1000-atom cell).
    shifted = np.array(s_dense, copy=True)
    shifted[np.diag_indices_from(shifted)] -= min_eigenvalue
    try:
        la.cholesky(shifted, lower=True, overwrite_a=True, check_finite=False)
    except la.LinAlgError:
        return False
    return True


def solve_canonical(h_dense: np.ndarray, s_dense: np.ndarray, cutoff: float, subset: tuple[int, int] | None = None) -> Eigenstates:
    """Eigenpairs in the span of the overlap eigenvectors with eigenvalue > ``cutoff``.

    Canonical orthogonalization (Löwdin 1956): with ``S = U s U^T``, keep the
    columns of ``X = U_k s_k^(-1/2)`` for ``s_k > cutoff`` and solve the
    standard problem ``X^T H X c' = ε c'``; ``c = X c'``. Near-linearly
    dependent (or, for a learned overlap, unphysical negative) directions are
    dropped; they carry the spurious very-high-energy states, not the states
    near the gap. ``subset``: as in :func:`solve_dense`, in the reduced spectrum.
    """
    w, u = la.eigh(s_dense)
    keep = w > cutoff
    x = u[:, keep] / np.sqrt(w[keep])
    reduced_h = x.conj().T @ h_dense @ x
    subset = None if subset is None else (subset[0], min(subset[1], reduced_h.shape[0] - 1))
    energies, reduced = la.eigh(reduced_h, subset_by_index=subset)
    vectors = x @ reduced
    first = 0 if subset is None else subset[0]
    return Eigenstates(energies, vectors, np.arange(first, first + len(energies)), h_dense.shape[0])


def solve_dense(
    h, s=None, min_overlap_eigenvalue: float = DEFAULT_MIN_OVERLAP_EIGENVALUE, canonical_cutoff: float | None = None,
    subset: tuple[int, int] | None = None,
) -> Eigenstates:
    """The eigenpairs of ``H c = ε S c`` (S None = identity): all, or states ``subset = (first, last)``
    (0-based, inclusive) of the sorted spectrum, which LAPACK finds for about half the cost.

    An overlap with an eigenvalue below ``min_overlap_eigenvalue`` is an error,
    unless ``canonical_cutoff`` is given: then the problem is solved by
    canonical orthogonalization (:func:`solve_canonical`).
    """
    h_dense = h.toarray() if sp.issparse(h) else np.asarray(h)
    s_dense = None if s is None else (s.toarray() if sp.issparse(s) else np.asarray(s))
    # Dense copies made here may be overwritten by LAPACK; the caller's own arrays may not.
    own_h, own_s = sp.issparse(h), s is not None and sp.issparse(s)
    if subset is not None:
        subset = (max(0, int(subset[0])), min(h_dense.shape[0] - 1, int(subset[1])))
    # Dense checks only: a sparse LU of a long-ranged (filled) overlap costs far more memory than eigh.
    if s_dense is not None and not _above(s_dense, min_overlap_eigenvalue):
        if canonical_cutoff is not None:
            return solve_canonical(h_dense, s_dense, canonical_cutoff, subset)
        smallest = float(la.eigvalsh(s_dense, subset_by_index=[0, 0])[0])
        raise OverlapError(_singular_message(smallest, min_overlap_eigenvalue))
    try:
        energies, vectors = la.eigh(h_dense, s_dense, subset_by_index=subset, overwrite_a=own_h, overwrite_b=own_s)
    except la.LinAlgError as exc:
        raise OverlapError(f"overlap matrix is not positive definite ({exc})") from None
    first = 0 if subset is None else subset[0]
    return Eigenstates(energies, vectors, np.arange(first, first + len(energies)), h_dense.shape[0])


def _extreme_eigenvalue(h, s, which: str) -> float:
    try:
        value = spla.eigsh(h, k=1, M=s, which=which, tol=1e-4, return_eigenvectors=False)[0]
    except spla.ArpackNoConvergence as exc:
        if len(exc.eigenvalues) == 0:
            raise EigenSolverError("Lanczos did not converge for the spectrum bounds") from None
        value = exc.eigenvalues[0]
    return float(value)


def locate_fermi_level(h, s, n_below: int, resolution_ev: float = 1e-6) -> float:
    """An energy σ between states ``n_below - 1`` and ``n_below`` (bisection on the inertia count).

    ``n_below`` is the number of occupied states. If those two states are
    degenerate the bisection ends at their common energy (within ``resolution_ev``).
    """
    low = _extreme_eigenvalue(h, s, "SA") - 1e-3
    high = _extreme_eigenvalue(h, s, "LA") + 1e-3
    while high - low > resolution_ev:
        sigma = 0.5 * (low + high)
        count = count_below(h, s, sigma)
        if count == n_below:
            return sigma
        if count > n_below:
            high = sigma
        else:
            low = sigma
    return 0.5 * (low + high)


def solve_near(h, s, n_states: int, sigma_ev: float, min_overlap_eigenvalue: float = DEFAULT_MIN_OVERLAP_EIGENVALUE) -> Eigenstates:
    """The ``n_states`` eigenpairs nearest ``sigma_ev`` (shift-invert Lanczos), with their global indices."""
    h = _as_sparse(h)
    n = h.shape[0]
    check_overlap(s, min_overlap_eigenvalue)
    s = None if s is None else _as_sparse(s)
    if n_states >= n - 1:
        return solve_dense(h, s, min_overlap_eigenvalue)
    below = count_below(h, s, sigma_ev)
    try:
        energies, vectors = spla.eigsh(h.tocsc(), k=n_states, M=None if s is None else s.tocsc(), sigma=sigma_ev, which="LM")
    except (spla.ArpackNoConvergence, spla.ArpackError, RuntimeError) as exc:
        raise EigenSolverError(f"shift-invert Lanczos around {sigma_ev:.3f} eV failed: {exc}") from None
    order = np.argsort(energies)
    energies, vectors = energies[order], vectors[:, order]
    n_lower = int(np.count_nonzero(energies < sigma_ev))
    indices = np.arange(below - n_lower, below - n_lower + n_states)
    return Eigenstates(energies, vectors, indices, n)


def solve_near_gap(
    h,
    s,
    n_occupied: int,
    n_states: int,
    target_ev: float | None = None,
    min_overlap_eigenvalue: float = DEFAULT_MIN_OVERLAP_EIGENVALUE,
) -> Eigenstates:
    """``n_states`` states around the Fermi level, covering states ``n_occupied - 1`` and ``n_occupied``.

    ``target_ev`` (e.g. a mid-gap estimate) skips the bisection; if the
    window it gives misses the frontier states the bisection runs anyway.
    """
    if n_states < 4:
        raise EigenSolverError(f"need at least 4 states near the gap, got {n_states}")
    if target_ev is not None:
        states = solve_near(h, s, n_states, target_ev, min_overlap_eigenvalue)
        if _covers(states, n_occupied):
            return states
    sigma = locate_fermi_level(h, s, n_occupied)
    states = solve_near(h, s, n_states, sigma, min_overlap_eigenvalue)
    if not _covers(states, n_occupied):
        raise EigenSolverError(
            f"states {n_occupied - 1} and {n_occupied} not in the window {states.indices[0]}..{states.indices[-1]}; "
            "increase bands_near_gap"
        )
    return states


def _covers(states: Eigenstates, n_occupied: int) -> bool:
    return states.indices[0] <= n_occupied - 1 and states.indices[-1] >= n_occupied
