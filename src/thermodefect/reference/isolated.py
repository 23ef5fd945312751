"""Isolated-atom energies of a reference: mace-torch's ``E0s`` when ``forcefield.e0s = "isolated"``.

Each element is one neutral atom at the centre of a cubic box of vacuum,
not periodic, computed once by the same reference that labels the forces.
The energies fix the per-species offsets of a MACE model physically;
least squares over the training set (``"average"``) cannot separate the
Ga and As offsets when every cell has nearly the same composition.
"""

from __future__ import annotations

from typing import Iterable

from thermodefect.reference.base import CalculationFailed, Reference
from thermodefect.structures.isolated import isolated_atom


def isolated_atom_energies(reference: Reference, symbols: Iterable[str]) -> dict[str, float]:
    """``{symbol: energy (eV)}`` of each isolated atom with ``reference``."""
    energies = {}
    for symbol in sorted(set(symbols)):
        label = reference.label(isolated_atom(symbol), hamiltonian=False)
        if label.energy_ev is None:
            raise CalculationFailed(f"{reference.name}: no energy for an isolated {symbol} atom")
        energies[symbol] = float(label.energy_ev)
    return energies
