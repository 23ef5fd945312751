"""The reference's own equilibrium lattice constant (``material.lattice = "relax"``).

E(a) on a pristine cubic zincblende cell (8 or 64 atoms) over a few lattice
constants, fitted with ASE's Birch-Murnaghan equation of state.
"""

from __future__ import annotations

import numpy as np

from thermodefect.core.errors import UserInputError


def equilibrium_lattice_constant(
    reference,
    cation: str,
    anion: str,
    guess_angstrom: float = 5.65,
    relative_span: float = 0.04,
    points: int = 7,
    n_atoms: int = 8,
) -> float:
    """Lattice constant a0 (Å) minimising the reference energy of the pristine crystal.

    Scans ``a = guess * (1 ± relative_span)`` with ``points`` values; raises
    :class:`UserInputError` when the minimum is not inside the scan.
    """
    from ase.eos import EquationOfState

    from thermodefect.structures import pristine_supercell

    if points < 5:
        raise UserInputError("equilibrium lattice scan needs at least 5 points")
    lattice_constants = guess_angstrom * np.linspace(1 - relative_span, 1 + relative_span, points)
    volumes, energies = [], []
    for a in lattice_constants:
        atoms = pristine_supercell(cation, anion, float(a), n_atoms, "cubic")
        energies.append(reference.label(atoms, hamiltonian=False).energy_ev)
        volumes.append(atoms.get_volume())
    lowest = int(np.argmin(energies))
    if lowest in (0, points - 1):
        raise UserInputError(
            f"{cation}{anion}: the energy minimum lies at the edge of the scan "
            f"({lattice_constants[0]:.3f}-{lattice_constants[-1]:.3f} Å); widen relative_span or change the guess"
        )
    v0, _, _ = EquationOfState(volumes, energies, eos="birchmurnaghan").fit()
    cells_per_supercell = n_atoms / 8
    return float((v0 / cells_per_supercell) ** (1 / 3))
