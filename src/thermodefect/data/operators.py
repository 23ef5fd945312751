"""In-memory forms of Hamiltonian and overlap data shared by every stage.

Two forms, as a reference or a model produces them:

* :class:`BlockOperator` -- real-space blocks ``O_ij(R)`` of a periodic
  operator in a localized atomic-orbital basis (the DeepH form). Edge ``e``
  couples atom ``i = edge_index[0, e]`` in the home cell with the image of
  atom ``j = edge_index[1, e]`` displaced by the lattice vector
  ``cell_shift[e] @ cell``:

      O_ij(R) = <phi_i(r - r_i) | O | phi_j(r - r_j - R)>

  The Bloch sum is ``O(k)_ij = sum_R exp(i k . R) O_ij(R)`` (k Cartesian, 1/Å;
  atom positions are not in the phase -- the "lattice gauge" of DeepH).
  Hermiticity of the operator means ``O_ij(R) = O_ji(-R)^T``.

* :class:`KSpaceMatrices` -- full matrices ``H(k), S(k)`` at a few k-points
  (Γ only for a Γ-point reference such as tblite).

Orbitals follow the package convention of :mod:`thermodefect.orbitals`.
Units: eV for Hamiltonians, dimensionless overlaps, Å for lengths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from thermodefect.orbitals import n_orbitals


def orbital_offsets(numbers: np.ndarray, basis: dict[int, str]) -> np.ndarray:
    """Row offset of each atom's first orbital, shape (n_atoms + 1,); last = total."""
    try:
        sizes = [n_orbitals(basis[int(z)]) for z in numbers]
    except KeyError as exc:
        raise ValueError(f"no orbital basis given for atomic number {exc.args[0]}") from None
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


@dataclass
class Structure:
    """The atoms an operator lives on. Å; ``cell`` rows are lattice vectors."""

    numbers: np.ndarray  # (n_atoms,) int atomic numbers
    positions: np.ndarray  # (n_atoms, 3) Cartesian, Å
    cell: np.ndarray  # (3, 3) lattice vectors as rows, Å
    pbc: tuple[bool, bool, bool] = (True, True, True)

    @classmethod
    def from_atoms(cls, atoms) -> "Structure":
        return cls(
            numbers=np.asarray(atoms.numbers, dtype=np.int64).copy(),
            positions=np.asarray(atoms.positions, dtype=np.float64).copy(),
            cell=np.asarray(atoms.cell[:], dtype=np.float64).copy(),
            pbc=tuple(bool(p) for p in atoms.pbc),
        )

    def to_atoms(self):
        from ase import Atoms

        return Atoms(numbers=self.numbers, positions=self.positions, cell=self.cell, pbc=self.pbc)


@dataclass
class BlockOperator:
    """Sparse real-space operator as a list of orbital blocks, one per edge."""

    structure: Structure
    basis: dict[int, str]  # atomic number -> e3nn irreps string of its orbitals
    edge_index: np.ndarray  # (2, n_edges) int, 0-based atom indices (i, j)
    cell_shift: np.ndarray  # (n_edges, 3) int, lattice vector R of atom j's image
    blocks: np.ndarray  # (n_edges, max_orb, max_orb) float; block e is [:n_orb(i), :n_orb(j)]

    def __post_init__(self) -> None:
        self.edge_index = np.asarray(self.edge_index, dtype=np.int64)
        self.cell_shift = np.asarray(self.cell_shift, dtype=np.int64)
        self.blocks = np.asarray(self.blocks)
        n_edges = self.edge_index.shape[1] if self.edge_index.ndim == 2 else -1
        if self.edge_index.ndim != 2 or self.edge_index.shape[0] != 2:
            raise ValueError(f"edge_index must have shape (2, n_edges), got {self.edge_index.shape}")
        if self.cell_shift.shape != (n_edges, 3):
            raise ValueError(f"cell_shift must have shape ({n_edges}, 3), got {self.cell_shift.shape}")
        if self.blocks.ndim != 3 or self.blocks.shape[0] != n_edges:
            raise ValueError(f"blocks must have shape ({n_edges}, n, n), got {self.blocks.shape}")

    @property
    def n_edges(self) -> int:
        return self.edge_index.shape[1]

    def offsets(self) -> np.ndarray:
        return orbital_offsets(self.structure.numbers, self.basis)

    def block(self, e: int) -> np.ndarray:
        """Block of edge ``e`` cut to its true shape (n_orb(i), n_orb(j))."""
        off = self.offsets()
        i, j = self.edge_index[:, e]
        return self.blocks[e, : off[i + 1] - off[i], : off[j + 1] - off[j]]

    def as_dict(self) -> dict[tuple[int, int, int, int, int], np.ndarray]:
        """``{(Rx, Ry, Rz, i, j): block}`` with 0-based atoms (the DeepH keys are 1-based)."""
        return {
            (*map(int, self.cell_shift[e]), int(self.edge_index[0, e]), int(self.edge_index[1, e])): self.block(e)
            for e in range(self.n_edges)
        }


@dataclass
class KSpaceMatrices:
    """Full operator matrices at a set of k-points (package orbital order)."""

    kpts_frac: np.ndarray  # (n_k, 3) k-points in fractional reciprocal coordinates
    hamiltonian: np.ndarray  # (n_k, n_orb_total, n_orb_total) complex or real, eV
    overlap: np.ndarray | None  # same shape, dimensionless; None = orthogonal basis


@dataclass
class HamiltonianSample:
    """One labelled structure for the Hamiltonian model.

    Exactly one of ``realspace`` (H, and S or None) or ``kspace`` is set.
    ``n_electrons`` counts the valence electrons the reference treats, so
    band edges follow from the occupied count. ``metadata`` carries labels
    such as ``defect`` and ``temperature_k``; ``provenance`` records the
    reference name, settings and version.
    """

    structure: Structure
    basis: dict[int, str]
    n_electrons: float
    realspace: tuple[BlockOperator, BlockOperator | None] | None = None
    kspace: KSpaceMatrices | None = None
    energy_ev: float | None = None
    forces_ev_per_angstrom: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.realspace is None) == (self.kspace is None):
            raise ValueError("a HamiltonianSample holds either real-space blocks or k-space matrices, not both/neither")
