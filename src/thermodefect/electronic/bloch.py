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
    return edge_phases(op.cell_shift, op.structure.cell, k_cart)


def is_lattice_point(k_cart: np.ndarray | None, cell: np.ndarray) -> bool:
    """True for Γ (None) or a reciprocal lattice vector, where every Bloch phase is 1."""
    if k_cart is None:
        return True
    k_frac = cartesian_to_fractional(np.asarray(k_cart, float), cell)
    return bool(np.allclose(k_frac, np.round(k_frac), atol=1e-12))


def edge_phases(cell_shift: np.ndarray, cell: np.ndarray, k_cart: np.ndarray | None) -> np.ndarray | None:
    """``exp(i k.R)`` of edges with lattice vectors ``R = cell_shift @ cell``, or None when k is Γ
    or a reciprocal lattice vector (every phase exactly 1)."""
    if k_cart is None:
        return None
    k_cart = np.asarray(k_cart, float)
    if k_cart.shape != (3,):
        raise KPointError(f"a k-point needs 3 components, got shape {k_cart.shape}")
    if is_lattice_point(k_cart, cell):
        return None
    return np.exp(1j * ((np.asarray(cell_shift) @ np.asarray(cell, float)) @ k_cart))


class _BlochPlan:
    """Where each block entry of an operator lands in ``O(k)``, for its edge structure.

    Edges of the same atom pair (periodic images) are summed first, as one
    sparse (pairs x edges) product with the phases; the pair sums then fill a
    CSR matrix whose structure (``indptr``, ``indices``) is fixed. Operators
    that share ``edge_index``/``cell_shift`` arrays (ensemble members, the
    mean, the overlap at each k of a band path) share one plan.
    """

    def __init__(self, op: BlockOperator):
        offsets = op.offsets()
        sizes = np.diff(offsets)
        n_atoms = len(sizes)
        i, j = op.edge_index
        m1, m2 = op.blocks.shape[1:]
        self.shape = (m1, m2)
        pair_of_edge = i * n_atoms + j
        pairs, self.edge_pair = np.unique(pair_of_edge, return_inverse=True)
        self.n_pairs, self.n_edges = len(pairs), len(i)
        pi, pj = pairs // n_atoms, pairs % n_atoms
        # Valid entries of each pair's padded (m1, m2) block, in row-major order of the final matrix.
        a = np.arange(m1)[None, :, None]
        b = np.arange(m2)[None, None, :]
        valid = (a < sizes[pi][:, None, None]) & (b < sizes[pj][:, None, None])
        rows = np.broadcast_to(offsets[pi][:, None, None] + a, valid.shape)[valid]
        cols = np.broadcast_to(offsets[pj][:, None, None] + b, valid.shape)[valid]
        source = np.flatnonzero(valid.ravel())
        order = np.lexsort((cols, rows))
        self.n = int(offsets[-1])
        self.source = source[order]
        self.indices = cols[order].astype(np.int32 if self.n < 2**31 else np.int64)
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=self.n))]).astype(self.indices.dtype)

    def matrix(self, blocks: np.ndarray, phases: np.ndarray | None) -> sp.csr_matrix:
        weights = np.ones(self.n_edges) if phases is None else phases
        summing = sp.csr_matrix((weights, (self.edge_pair, np.arange(self.n_edges))), shape=(self.n_pairs, self.n_edges))
        pair_blocks = summing @ blocks.reshape(self.n_edges, -1)  # (n_pairs, m1 * m2)
        # Copies: eliminate_zeros compacts the index arrays in place, and the plan is reused.
        matrix = sp.csr_matrix((pair_blocks.ravel()[self.source], self.indices.copy(), self.indptr.copy()), shape=(self.n, self.n))
        matrix.eliminate_zeros()
        return matrix


_PLANS: list[tuple[tuple, tuple, _BlochPlan]] = []  # (ids, weak references, plan), newest first


def _plan(op: BlockOperator) -> _BlochPlan:
    import weakref

    ids = (id(op.edge_index), id(op.cell_shift), op.blocks.shape[1:], tuple(sorted(op.basis.items())),
           op.structure.numbers.tobytes())
    for key, refs, plan in _PLANS:
        if key == ids and refs[0]() is op.edge_index and refs[1]() is op.cell_shift:
            return plan
    plan = _BlochPlan(op)
    _PLANS.insert(0, (ids, (weakref.ref(op.edge_index), weakref.ref(op.cell_shift)), plan))
    del _PLANS[4:]
    return plan


def _k_cartesian(op: BlockOperator, k_cart, k_frac) -> np.ndarray | None:
    if k_cart is not None and k_frac is not None:
        raise KPointError("give k either Cartesian or fractional, not both")
    if k_frac is not None:
        return fractional_to_cartesian(np.asarray(k_frac, float), op.structure.cell)
    return k_cart


def bloch_sum(op: BlockOperator, k_cart: np.ndarray | None = None, k_frac: np.ndarray | None = None) -> sp.csr_matrix:
    """Sparse Bloch sum ``O(k)``, shape (n_orb_total, n_orb_total).

    Give k Cartesian (1/Å) or fractional; neither means Γ. Blocks of the same
    atom pair from different lattice vectors are summed. Real dtype at Γ when
    the blocks are real, complex otherwise.
    """
    k_cart = _k_cartesian(op, k_cart, k_frac)
    if op.n_edges == 0:
        n = int(op.offsets()[-1])
        return sp.csr_matrix((n, n))
    return _plan(op).matrix(op.blocks, _phases(op, k_cart))


# Edges added to the dense matrix at a time: bounds the (phase-weighted) copy of their blocks.
DENSE_CHUNK_EDGES = 100_000


class DenseBlochSum:
    """``O(k) = sum_R exp(i k.R) O_ij(R)`` accumulated into a dense matrix from blocks given a chunk
    of edges at a time, so the blocks of a long-ranged operator need never exist all at once.

    The sum is kept in the padded layout (atom, orbital slot) x (atom, orbital slot) with ``m``
    slots per atom (the blocks' padded size); :meth:`matrix` returns the (n_orb, n_orb) result,
    without a copy when every atom has ``m`` orbitals.
    """

    def __init__(self, numbers, basis: dict[int, str], m: int, cell: np.ndarray, k_cart: np.ndarray | None = None,
                 complex_blocks: bool = False):
        from thermodefect.data.operators import orbital_offsets

        self.cell = np.asarray(cell, float)
        self.k_cart = k_cart
        self.real = not complex_blocks and is_lattice_point(k_cart, self.cell)
        self.sizes = np.diff(orbital_offsets(numbers, basis))
        self.n_atoms, self.m = len(self.sizes), int(m)
        self.padded = np.zeros((self.n_atoms * self.m, self.n_atoms * self.m), dtype=np.float64 if self.real else np.complex128)

    def like(self) -> "DenseBlochSum":
        """An accumulator of the same layout and k, starting from a copy of this one's sum."""
        import copy

        other = copy.copy(self)
        other.padded = self.padded.copy()
        return other

    def add(self, edge_index: np.ndarray, cell_shift: np.ndarray, blocks: np.ndarray) -> None:
        """Add the padded ``blocks`` (n_edges, m1 <= m, m2 <= m) of edges ``(i, j, R)``."""
        m1, m2 = blocks.shape[1:]
        # A view (atom i, atom j, slot, slot) of the sum, cut to the blocks' padded size.
        by_pair = self.padded.reshape(self.n_atoms, self.m, self.n_atoms, self.m).transpose(0, 2, 1, 3)[..., :m1, :m2]
        i, j = np.asarray(edge_index)
        for start in range(0, len(i), DENSE_CHUNK_EDGES):
            chunk = slice(start, start + DENSE_CHUNK_EDGES)
            phases = edge_phases(cell_shift[chunk], self.cell, self.k_cart)
            np.add.at(by_pair, (i[chunk], j[chunk]), blocks[chunk] if phases is None else blocks[chunk] * phases[:, None, None])

    def add_potential(self, u: np.ndarray, overlap: "DenseBlochSum") -> None:
        """Add ``(u_a + u_b) / 2 · S(k)[a, b]``, ``u`` (n_atoms, m) per orbital slot: the Bloch sum of the
        potential term ``(u_i[a] + u_j[b]) / 2 · S_ij(R)[a, b]`` over the overlap's edges."""
        u = np.asarray(u, float).reshape(-1)
        rows = max(1, 2**22 // max(len(u), 1))  # bounds the temporary to ~32 MB
        for start in range(0, len(u), rows):
            part = slice(start, start + rows)
            self.padded[part] += 0.5 * (u[part, None] + u[None, :]) * overlap.padded[part]

    def matrix(self) -> np.ndarray:
        if bool(np.all(self.sizes == self.m)):
            return self.padded
        valid = (np.arange(self.m)[None, :] < self.sizes[:, None]).ravel()
        return self.padded[np.ix_(valid, valid)]


def bloch_dense(op: BlockOperator, k_cart: np.ndarray | None = None, k_frac: np.ndarray | None = None) -> np.ndarray:
    """Dense Bloch sum ``O(k)``: the same matrix as :func:`bloch_sum`, as a NumPy array.

    Blocks are added straight into the matrix, a chunk of edges at a time (:class:`DenseBlochSum`),
    so no sparse intermediate is built: for a long-ranged operator (a 21 Å two-center overlap fills
    the matrix of a 1000-atom cell) the sparse route's index arrays take several times the memory
    of the dense matrix itself.
    """
    k_cart = _k_cartesian(op, k_cart, k_frac)
    m1, m2 = op.blocks.shape[1:]
    total = DenseBlochSum(op.structure.numbers, op.basis, max(m1, m2), op.structure.cell, k_cart,
                          complex_blocks=np.iscomplexobj(op.blocks))
    total.add(op.edge_index, op.cell_shift, op.blocks)
    return total.matrix()


def pair_fill_fraction(op: BlockOperator) -> float:
    """Fraction of the entries of ``O(k)`` inside some atom pair's block: the fill of
    :func:`bloch_sum`'s matrix before exact zeros are dropped, without building it."""
    return edge_pair_fill(op.edge_index, np.diff(op.offsets()))


def edge_pair_fill(edge_index: np.ndarray, sizes: np.ndarray) -> float:
    """:func:`pair_fill_fraction` of edges ``edge_index`` (2, n_edges) between atoms of ``sizes`` orbitals."""
    n = float(np.sum(sizes))
    if edge_index.shape[1] == 0 or n == 0:
        return 0.0
    i, j = edge_index
    pairs = np.unique(i.astype(np.int64) * len(sizes) + j)
    return float(np.sum(sizes[pairs // len(sizes)] * sizes[pairs % len(sizes)])) / (n * n)


def bloch_pair(
    hamiltonian: BlockOperator,
    overlap: BlockOperator | None,
    k_cart: np.ndarray | None = None,
    k_frac: np.ndarray | None = None,
    dense: bool = False,
):
    """``H(k)`` (eV) and ``S(k)`` (None for an orthogonal basis): CSR matrices, or with ``dense``
    NumPy arrays assembled directly (:func:`bloch_dense`)."""
    bloch = bloch_dense if dense else bloch_sum
    h = bloch(hamiltonian, k_cart=k_cart, k_frac=k_frac)
    s = bloch(overlap, k_cart=k_cart, k_frac=k_frac) if overlap is not None else None
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
