"""Whether an MD frame is still the material: no atoms collapsed onto each other."""

from __future__ import annotations

from ase import Atoms

COLLAPSE_FRACTION = 0.75  # a frame with a distance below this fraction of the ideal bond is unphysical


def is_physical(atoms: Atoms, bond_angstrom: float) -> bool:
    """``True`` unless two atoms are closer than ``COLLAPSE_FRACTION`` of the ideal bond length (Å)."""
    from ase.neighborlist import neighbor_list

    d = neighbor_list("d", atoms, bond_angstrom)
    return len(d) == 0 or float(d.min()) >= COLLAPSE_FRACTION * bond_angstrom
