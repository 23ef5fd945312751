"""Δ-learning: the MACE models learn the reference minus a cheap analytic potential.

With ``forcefield.baseline = "albe"`` the training labels become

    E_train = E_ref - E_Albe,     F_train = F_ref - F_Albe

and every prediction (MD, uncertainty, test errors) is the sum
``E_Albe + E_MACE`` (ASE's :class:`~ase.calculators.mixing.SumCalculator` at
MD time). The Albe Ga–As bond-order potential
(:class:`thermodefect.potentials.albe.AlbeGaAs`) holds the bond stretching
and bending of crystalline GaAs. Measured on GFN1-xTB labels of the five
defects it does not pay: where Albe is wrong (As_i, V_Ga, As_Ga) the residual
is rougher than the reference itself (docs/forcefield.md, learning curve), so
the option is off by default. The force *uncertainty* is unchanged: the
baseline is the same for every ensemble member.

Isolated-atom energies for mace-torch's ``E0s`` follow the same rule: the
reference's isolated atom minus the baseline's (zero for a bond-order
potential, whose energy is a sum over bonds).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers

from thermodefect.data.forces import ENERGY_KEY, FORCES_KEY
from thermodefect.forcefield.model_files import ForceFieldError
from thermodefect.structures.isolated import isolated_atom

BASELINES = ("none", "albe")


def baseline_calculator(name: str):
    """A fresh ASE calculator for baseline ``name``; ``None`` for ``"none"``."""
    if name == "none":
        return None
    if name == "albe":
        from thermodefect.potentials.albe import AlbeGaAs

        return AlbeGaAs()
    raise ForceFieldError(f"unknown force-field baseline {name!r}; choose one of {', '.join(BASELINES)}")


def baseline_energy_forces(atoms: Atoms, name: str) -> tuple[float, np.ndarray]:
    """Baseline energy (eV) and forces (eV/Å, (n_atoms, 3)) of one structure; zeros for ``"none"``."""
    calculator = baseline_calculator(name)
    if calculator is None:
        return 0.0, np.zeros((len(atoms), 3))
    probe = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    probe.calc = calculator
    return float(probe.get_potential_energy()), np.array(probe.get_forces())


def residual_frames(frames: Sequence[Atoms], name: str) -> list[Atoms]:
    """Copies of labelled frames whose ``REF_energy``/``REF_forces`` have the baseline removed."""
    out = []
    for atoms in frames:
        energy, forces = baseline_energy_forces(atoms, name)
        copy = atoms.copy()
        copy.calc = None
        copy.info[ENERGY_KEY] = float(atoms.info[ENERGY_KEY]) - energy
        copy.arrays[FORCES_KEY] = np.asarray(atoms.arrays[FORCES_KEY]) - forces
        out.append(copy)
    return out


def e0s_argument(isolated_energies_ev: Mapping[str, float], baseline: str = "none") -> str:
    """mace-torch's ``--E0s`` dictionary (atomic number: eV) from reference isolated-atom energies.

    The baseline's own isolated-atom energy is removed, as from every label.
    """
    if not isolated_energies_ev:
        raise ForceFieldError("forcefield.e0s = 'isolated' needs isolated-atom energies of the reference; none were given")
    entries = []
    for symbol in sorted(isolated_energies_ev, key=lambda s: atomic_numbers[s]):
        energy = float(isolated_energies_ev[symbol]) - baseline_energy_forces(isolated_atom(symbol), baseline)[0]
        if not np.isfinite(energy):
            raise ForceFieldError(f"isolated-atom energy of {symbol} is not finite")
        entries.append(f"{atomic_numbers[symbol]}: {energy!r}")
    return "{" + ", ".join(entries) + "}"
