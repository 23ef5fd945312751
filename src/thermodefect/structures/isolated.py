"""An isolated atom: one atom in a box of vacuum (isolated-atom reference energies)."""

from __future__ import annotations

from ase import Atoms

ISOLATED_BOX_ANGSTROM = 20.0  # edge of the vacuum box


def isolated_atom(symbol: str, box_angstrom: float = ISOLATED_BOX_ANGSTROM) -> Atoms:
    """One atom at the centre of a cubic vacuum box, not periodic."""
    return Atoms(symbol, positions=[[box_angstrom / 2] * 3], cell=[box_angstrom] * 3, pbc=False)
