"""Crystal graphs for the Hamiltonian model.

Atoms are nodes. Every pair ``(i, j, R)`` with ``|r_j + R·cell - r_i| <
cutoff`` is an edge, self-pairs ``(i, i, 0)`` included (onsite blocks), and
both directions of each pair are present, so every edge has a partner
``(j, i, -R)``; the model uses it to make blocks Hermitian by construction.
Periodic images of an atom itself (``(i, i, R != 0)``) are ordinary edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase.neighborlist import primitive_neighbor_list

from thermodefect.data.operators import Structure


@dataclass
class CrystalGraph:
    """One structure's graph in numpy; lengths in Å."""

    numbers: np.ndarray  # (n_atoms,) int atomic numbers
    edge_index: np.ndarray  # (2, n_edges) int, (i, j): block row atom, column atom
    cell_shift: np.ndarray  # (n_edges, 3) int, lattice vector R of j's image (fractional)
    edge_vector: np.ndarray  # (n_edges, 3) float, r_j + R·cell - r_i, Å
    partner: np.ndarray  # (n_edges,) int, index of the edge (j, i, -R)
    cell: np.ndarray  # (3, 3) lattice vectors as rows, Å

    @property
    def n_atoms(self) -> int:
        return len(self.numbers)

    @property
    def n_edges(self) -> int:
        return self.edge_index.shape[1]


def edge_chunks(graph: CrystalGraph, size: int):
    """``(edge slice, graph of those edges only)`` in turn, ``size`` edges at a time (``partner``
    is not carried: a chunk's edges need not hold each other's partners)."""
    for start in range(0, graph.n_edges, size):
        part = slice(start, start + size)
        yield part, CrystalGraph(graph.numbers, graph.edge_index[:, part], graph.cell_shift[part], graph.edge_vector[part],
                                 np.full(len(graph.cell_shift[part]), -1, dtype=np.int64), graph.cell)


def edge_keys(edge_index: np.ndarray, cell_shift: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    """``(i, j, Rx, Ry, Rz)`` of each edge, for matching edges between graphs and data."""
    stacked = np.concatenate([edge_index.T, cell_shift], axis=1)
    return [tuple(int(v) for v in row) for row in stacked]


def encode_edges(edge_index: np.ndarray, cell_shift: np.ndarray, n_atoms: int, span: int) -> np.ndarray:
    """One int64 per edge ``(i, j, R)``, for |R components| < ``span``; equal keys = equal edges."""
    width = 2 * span + 1
    shift = (np.asarray(cell_shift, dtype=np.int64) + span)
    return (((np.asarray(edge_index[0], dtype=np.int64) * n_atoms + edge_index[1]) * width + shift[:, 0]) * width
            + shift[:, 1]) * width + shift[:, 2]


def match_edges(keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Index into ``keys`` of each query key; -1 where absent."""
    order = np.argsort(keys, kind="stable")
    pos = np.searchsorted(keys[order], queries)
    pos = np.clip(pos, 0, len(keys) - 1) if len(keys) else pos
    found = (len(keys) > 0) & (keys[order][pos] == queries) if len(keys) else np.zeros(len(queries), dtype=bool)
    return np.where(found, order[pos], -1)


def neighbour_pairs(structure: Structure, cutoff_angstrom: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(i, j, S)`` of every pair within the cutoff except ``(i, i, 0)``.

    matscipy's linked-cell list (a mace-torch dependency; ~10x faster than
    ASE's at the 18 Å of the two-center model) for fully periodic cells, ASE's
    ``primitive_neighbor_list`` otherwise; both give the same set of pairs.
    """
    positions = np.asarray(structure.positions, dtype=np.float64)
    cell = np.asarray(structure.cell, dtype=np.float64)
    if all(structure.pbc):
        try:
            from matscipy.neighbours import neighbour_list
        except ImportError:
            pass
        else:
            return neighbour_list("ijS", positions=positions, cell=cell, pbc=np.array([True] * 3), cutoff=cutoff_angstrom)
    return primitive_neighbor_list("ijS", structure.pbc, cell, positions, cutoff_angstrom, self_interaction=False)


def build_graph(structure: Structure, cutoff_angstrom: float) -> CrystalGraph:
    """All pairs within ``cutoff_angstrom`` plus the onsite self-pairs.

    Edges are ordered by (i, j, R) so the graph of a structure does not depend
    on neighbour-list internals.
    """
    positions = np.asarray(structure.positions, dtype=np.float64)
    cell = np.asarray(structure.cell, dtype=np.float64)
    n_atoms = len(positions)
    i, j, shift = neighbour_pairs(structure, float(cutoff_angstrom))
    onsite = np.arange(n_atoms)
    i = np.concatenate([i, onsite]).astype(np.int64)
    j = np.concatenate([j, onsite]).astype(np.int64)
    shift = np.concatenate([shift, np.zeros((n_atoms, 3), dtype=np.int64)]).astype(np.int64)
    order = np.lexsort((shift[:, 2], shift[:, 1], shift[:, 0], j, i))
    i, j, shift = i[order], j[order], shift[order]
    edge_index = np.stack([i, j])
    vector = positions[j] + shift @ cell - positions[i]
    span = int(np.abs(shift).max(initial=0)) + 1
    partner = match_edges(encode_edges(edge_index, shift, n_atoms, span), encode_edges(np.stack([j, i]), -shift, n_atoms, span))
    if np.any(partner < 0):  # cannot happen for a symmetric neighbour list; guards the invariant
        raise RuntimeError("neighbour list is not symmetric: an edge has no partner")
    return CrystalGraph(
        numbers=np.asarray(structure.numbers, dtype=np.int64),
        edge_index=edge_index,
        cell_shift=shift,
        edge_vector=vector,
        partner=partner,
        cell=cell,
    )
