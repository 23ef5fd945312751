"""Bloch sums of real-space block operators: ``O(k) = sum_R exp(i k.R) O_ij(R)``.

The convention is the one of :mod:`thermodefect.data.operators` (lattice
gauge: atom positions are not in the phase). ``R = cell_shift @ cell``;
k is Cartesian in 1/Å (``k_cart = k_frac @ 2π cell^{-T}``). At k = 0 with
real blocks the result is a real matrix, so Γ-point work stays in real
arithmetic.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from thermodefect.data.operators import BlockOperator, KSpaceMatrices
from thermodefect.core.errors import UserInputError


class KPointError(UserInputError):
    """A k-point given in a form that cannot be used."""


def reciprocal_cell(cell: np.ndarray) -> np.ndarray:
    """Reciprocal lattice vectors as rows, with the 2π: ``b_i . a_j = 2π δ_ij``, 1/Å."""
    return 2.0 * np.pi * np.linalg.inv(np.asarray(cell, float)).T


def fractional_to_cartesian(k_frac: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """k in reciprocal-lattice coordinates -> Cartesian 1/Å; shape (..., 3)."""
    return np.asarray(k_frac, float) @ reciprocal_cell(cell)


def cartesian_to_fractional(k_cart: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Cartesian k (1/Å) -> reciprocal-lattice coordinates; shape (..., 3)."""
    return np.asarray(k_cart, float) @ np.asarray(cell, float).T / (2.0 * np.pi)


def _phases(op: BlockOperator, k_cart: np.ndarray | None) -> np.ndarray | None:
    """``exp(i k.R)`` per edge, or None at Γ (all phases 1)."""
    if k_cart is None:
        return None
    k_cart = np.asarray(k_cart, float)
    if k_cart.shape != (3,):
        raise KPointError(f"a k-point needs 3 components, got shape {k_cart.shape}")
    k_frac = cartesian_to_fractional(k_cart, op.structure.cell)
    if np.allclose(k_frac, np.round(k_frac), atol=1e-12):
        return None  # a reciprocal lattice vector: every phase is exactly 1
    lattice_vectors = op.cell_shift @ op.structure.cell
    return np.exp(1j * (lattice_vectors @ k_cart))


def bloch_sum(op: BlockOperator, k_cart: np.ndarray | None = None, k_frac: np.ndarray | None = None) -> sp.csr_matrix:
    """Sparse Bloch sum ``O(k)``, shape (n_orb_total, n_orb_total).

    Give k Cartesian (1/Å) or fractional; neither means Γ. Blocks of the same
    atom pair from different lattice vectors are summed. Real dtype at Γ when
    the blocks are real, complex otherwise.
    """
    if k_cart is not None and k_frac is not None:
        raise KPointError("give k either Cartesian or fractional, not both")
    if k_frac is not None:
        k_cart = fractional_to_cartesian(np.asarray(k_frac, float), op.structure.cell)
    phases = _phases(op, k_cart)
    offsets = op.offsets()
    sizes = np.diff(offsets)
    i, j = op.edge_index
    rows, cols, values = [], [], []
    # Group edges by block shape so each group is one vectorized scatter.
    shape_keys = sizes[i] * 1000 + sizes[j]
    for key in np.unique(shape_keys):
        edges = np.nonzero(shape_keys == key)[0]
        ni, nj = int(sizes[i[edges[0]]]), int(sizes[j[edges[0]]])
        block = op.blocks[edges, :ni, :nj]
        if phases is not None:
            block = block * phases[edges, None, None]
        r = offsets[i[edges]][:, None, None] + np.arange(ni)[None, :, None]
        c = offsets[j[edges]][:, None, None] + np.arange(nj)[None, None, :]
        rows.append(np.broadcast_to(r, block.shape).ravel())
        cols.append(np.broadcast_to(c, block.shape).ravel())
        values.append(block.ravel())
    n = int(offsets[-1])
    if not rows:
        return sp.csr_matrix((n, n))
    rows, cols, values = np.concatenate(rows), np.concatenate(cols), np.concatenate(values)
    if values.size > n * n:  # long cutoffs: many images per entry, the matrix is dense anyway
        flat = rows * n + cols
        dense = np.bincount(flat, weights=values.real, minlength=n * n)
        if np.iscomplexobj(values):
            dense = dense + 1j * np.bincount(flat, weights=values.imag, minlength=n * n)
        matrix = sp.csr_matrix(dense.reshape(n, n))
        matrix.eliminate_zeros()
        return matrix
    matrix = sp.coo_matrix((values, (rows, cols)), shape=(n, n)).tocsr()
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    return matrix


def bloch_pair(
    hamiltonian: BlockOperator,
    overlap: BlockOperator | None,
    k_cart: np.ndarray | None = None,
    k_frac: np.ndarray | None = None,
) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
    """``H(k)`` (eV) and ``S(k)`` (None for an orthogonal basis) as CSR matrices."""
    h = bloch_sum(hamiltonian, k_cart=k_cart, k_frac=k_frac)
    s = bloch_sum(overlap, k_cart=k_cart, k_frac=k_frac) if overlap is not None else None
    return h, s


def kspace_pair(matrices: KSpaceMatrices, index: int = 0) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
    """``H(k), S(k)`` of k-point ``index`` of stored k-space matrices, as CSR."""
    n_k = len(matrices.kpts_frac)
    if not 0 <= index < n_k:
        raise KPointError(f"k-point index {index} out of range: the matrices hold {n_k} k-points")
    h = _real_if_possible(matrices.hamiltonian[index])
    s = None if matrices.overlap is None else _real_if_possible(matrices.overlap[index])
    return sp.csr_matrix(h), (None if s is None else sp.csr_matrix(s))


def _real_if_possible(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix)
    if np.iscomplexobj(matrix) and not np.any(matrix.imag):
        return matrix.real
    return matrix
