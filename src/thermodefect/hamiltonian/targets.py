"""Training targets: reference data aligned with the model's graph.

A sample holds either real-space blocks (aligned edge by edge with the graph;
graph edges the reference lacks have target zero) or k-space matrices, which
the loss compares with the Bloch sum of the predicted blocks. For a Γ-only
reference the Bloch sum adds up every edge that maps onto the atom pair
``(i, j)``, periodic images included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from thermodefect.data.operators import BlockOperator, HamiltonianSample, Structure, orbital_offsets
from thermodefect.core.errors import UserInputError
from thermodefect.hamiltonian.blocks import OrbitalLayout
from thermodefect.hamiltonian.graph import CrystalGraph, build_graph, edge_keys
from thermodefect.orbitals import parse_basis


@dataclass
class FoldIndex:
    """Where each valid block entry lands in the full matrix (the Bloch sum's scatter)."""

    edge: np.ndarray  # (n_entries,) edge of the entry
    block_flat: np.ndarray  # (n_entries,) a * max_orb + b inside the padded block
    matrix_flat: np.ndarray  # (n_entries,) row * n_orb_total + col in the full matrix
    n_orbitals: int  # n_orb_total
    n_covered: int  # matrix entries reached by at least one edge


@dataclass
class PreparedSample:
    """One sample ready for the loss; target units: eV (H) or dimensionless (S)."""

    graph: CrystalGraph
    fold: FoldIndex
    block_mask: np.ndarray  # (n_edges, max_orb, max_orb) bool, valid entries
    blocks: np.ndarray | None = None  # (n_edges, max_orb, max_orb) real-space target
    kpts_frac: np.ndarray | None = None  # (n_k, 3)
    matrices: np.ndarray | None = None  # (n_k, n_orb_total, n_orb_total) k-space target
    n_electrons: float = 0.0
    overlap_gamma: np.ndarray | None = None  # (n_orb_total,)*2 reference S(Γ), None = orthogonal
    hamiltonian_gamma: np.ndarray | None = None  # reference H(Γ) when known
    metadata: dict[str, Any] = field(default_factory=dict)
    eigen: Any = None  # eigen_loss.EigenTarget when the eigenvalue loss is on
    # Two-center baseline at Γ (already subtracted from ``blocks``/``matrices``), None = no baseline
    baseline_gamma: np.ndarray | None = None
    # With an overlap-scaled baseline: its two-center overlap, for the potential term (U S + S U)/2
    orbital_slot: np.ndarray | None = None  # (n_orb_total,) atom * max_shells + shell
    potential_overlap: np.ndarray | None = None  # (n_k, n_orb_total, n_orb_total) S(k) of the two-center overlap
    edge_overlap: np.ndarray | None = None  # (n_edges, max_orb, max_orb) its blocks on the graph's edges
    # Loss blind to a global shift c·S of the whole structure (the arbitrary potential reference)
    shift_invariant: bool = False

    @property
    def is_realspace(self) -> bool:
        return self.blocks is not None


def check_basis(sample_basis: dict[int, str], numbers: np.ndarray, layout: OrbitalLayout, source: str) -> None:
    for z in sorted(set(int(n) for n in numbers)):
        if z not in layout.basis:
            raise UserInputError(f"{source}: element Z={z} has no orbital basis in the model ({layout.basis})")
        if z not in sample_basis or parse_basis(sample_basis[z]) != parse_basis(layout.basis[z]):
            raise UserInputError(
                f"{source}: basis of Z={z} is {sample_basis.get(z)!r}, the model uses {layout.basis[z]!r}"
            )


def fold_index(graph: CrystalGraph, layout: OrbitalLayout) -> tuple[FoldIndex, np.ndarray]:
    """Scatter indices of the Bloch sum and the valid-entry mask of every edge block."""
    species = layout.species_index(graph.numbers)
    pairs = layout.pair_index(species[graph.edge_index[0]], species[graph.edge_index[1]])
    mask = layout.block_mask()[pairs]
    edge, a, b = np.nonzero(mask)
    offsets = orbital_offsets(graph.numbers, layout.basis)
    n_total = int(offsets[-1])
    rows = offsets[graph.edge_index[0, edge]] + a
    cols = offsets[graph.edge_index[1, edge]] + b
    matrix_flat = rows * n_total + cols
    m = layout.max_orbitals
    fold = FoldIndex(edge, a * m + b, matrix_flat, n_total, int(np.unique(matrix_flat).size))
    return fold, mask


def bloch_sum_numpy(blocks: np.ndarray, graph: CrystalGraph, fold: FoldIndex, kpt_frac: np.ndarray) -> np.ndarray:
    """``O(k) = sum_R exp(2πi k·R) O(R)`` of padded blocks, (n_orb_total, n_orb_total) complex."""
    m = blocks.shape[1]
    phase = np.exp(2j * np.pi * graph.cell_shift[fold.edge] @ np.asarray(kpt_frac, dtype=np.float64))
    values = blocks.reshape(len(blocks), m * m)[fold.edge, fold.block_flat] * phase
    out = np.zeros(fold.n_orbitals**2, dtype=np.complex128)
    np.add.at(out, fold.matrix_flat, values)
    return out.reshape(fold.n_orbitals, fold.n_orbitals)


def aligned_blocks(op: BlockOperator, graph: CrystalGraph, layout: OrbitalLayout) -> np.ndarray:
    """Reference blocks on the graph's edges, (n_edges, max_orb, max_orb); zero where absent."""
    m = layout.max_orbitals
    out = np.zeros((graph.n_edges, m, m))
    index_of = {key: e for e, key in enumerate(edge_keys(graph.edge_index, graph.cell_shift))}
    offsets = op.offsets()
    for e_ref, key in enumerate(edge_keys(op.edge_index, op.cell_shift)):
        e = index_of.get(key)
        if e is None:
            continue  # beyond the cutoff: the model cannot represent it
        i, j = key[0], key[1]
        ni, nj = offsets[i + 1] - offsets[i], offsets[j + 1] - offsets[j]
        out[e, :ni, :nj] = np.real(op.blocks[e_ref, :ni, :nj])
    return out


def prepare_sample(sample: HamiltonianSample, layout: OrbitalLayout, cutoff_angstrom: float, target: str,
                   source: str = "sample", baseline=None, shift_invariant: bool = False) -> PreparedSample:
    """Graph + aligned target of one :class:`HamiltonianSample`.

    With a ``baseline`` (:class:`~thermodefect.hamiltonian.two_center.TwoCenterModel`)
    the target is what the baseline leaves: reference minus baseline, blocks or
    Bloch sums; ``hamiltonian_gamma`` stays the full reference.
    """
    prepared = _prepare(sample, layout, cutoff_angstrom, target, source)
    if baseline is None:
        return prepared
    from thermodefect.electronic.bloch import bloch_sum

    check_basis(baseline.basis, sample.structure.numbers, layout, f"{source} (two-center baseline)")
    op = baseline.operator(sample.structure)
    prepared.baseline_gamma = np.real(bloch_sum(op, k_frac=np.zeros(3)).toarray())
    overlap = getattr(baseline, "overlap", None)
    if overlap is not None:
        prepared.orbital_slot = layout.orbital_slots(sample.structure.numbers)
        s_op = overlap.operator(sample.structure)
        kpts = prepared.kpts_frac if prepared.kpts_frac is not None else np.zeros((1, 3))
        prepared.potential_overlap = np.stack([bloch_sum(s_op, k_frac=k).toarray() for k in kpts])
        if prepared.is_realspace:
            prepared.edge_overlap = overlap.edge_blocks(prepared.graph)
        prepared.shift_invariant = shift_invariant
    if prepared.is_realspace:
        prepared.blocks = prepared.blocks - aligned_blocks(op, prepared.graph, layout)
    else:
        prepared.matrices = np.stack([np.asarray(m) - bloch_sum(op, k_frac=k).toarray()
                                      for m, k in zip(prepared.matrices, prepared.kpts_frac)])
        if not np.iscomplexobj(sample.kspace.hamiltonian) and np.all(prepared.kpts_frac == 0):
            prepared.matrices = np.real(prepared.matrices)
    return prepared


def _prepare(sample: HamiltonianSample, layout: OrbitalLayout, cutoff_angstrom: float, target: str,
             source: str) -> PreparedSample:
    check_basis(sample.basis, sample.structure.numbers, layout, source)
    graph = build_graph(sample.structure, cutoff_angstrom)
    fold, mask = fold_index(graph, layout)
    prepared = PreparedSample(graph=graph, fold=fold, block_mask=mask, n_electrons=float(sample.n_electrons),
                              metadata=dict(sample.metadata))
    if sample.realspace is not None:
        h_op, s_op = sample.realspace
        op = h_op if target == "hamiltonian" else s_op
        if op is None:
            raise UserInputError(f"{source}: has no real-space overlap (orthogonal basis); nothing to learn for target 'overlap'")
        prepared.blocks = aligned_blocks(op, graph, layout)
        gamma = np.zeros(3)
        prepared.hamiltonian_gamma = bloch_sum_numpy(aligned_blocks(h_op, graph, layout), graph, fold, gamma).real
        if s_op is not None:
            prepared.overlap_gamma = bloch_sum_numpy(aligned_blocks(s_op, graph, layout), graph, fold, gamma).real
        return prepared
    kspace = sample.kspace
    matrices = kspace.hamiltonian if target == "hamiltonian" else kspace.overlap
    if matrices is None:
        raise UserInputError(f"{source}: has no k-space overlap (orthogonal basis); nothing to learn for target 'overlap'")
    matrices = np.asarray(matrices)
    if matrices.shape[1:] != (fold.n_orbitals, fold.n_orbitals):
        raise UserInputError(f"{source}: k-space matrices are {matrices.shape[1:]}, the basis gives {fold.n_orbitals} orbitals")
    prepared.kpts_frac = np.asarray(kspace.kpts_frac, dtype=np.float64).reshape(-1, 3)
    prepared.matrices = matrices
    gamma_k = np.flatnonzero(np.all(np.abs(prepared.kpts_frac) < 1e-12, axis=1))
    if gamma_k.size:
        prepared.hamiltonian_gamma = np.real(np.asarray(kspace.hamiltonian)[gamma_k[0]])
        if kspace.overlap is not None:
            prepared.overlap_gamma = np.real(np.asarray(kspace.overlap)[gamma_k[0]])
    return prepared

