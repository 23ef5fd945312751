"""The Albe et al. Ga-As potential: published equilibrium and finite-difference forces."""

from __future__ import annotations

import numpy as np
from ase.build import bulk
from ase.calculators.test import gradient_test

from thermodefect.potentials.albe import AlbeGaAs

COHESIVE_ENERGY_EV = -3.35  # Albe et al. 2002, zincblende GaAs, per atom
ENERGY_ATOL_EV = 0.01
LATTICE_ATOL_ANGSTROM = 0.02
FORCE_FD_ATOL_EV_PER_ANGSTROM = 1e-4


def _energy_per_atom(a):
    atoms = bulk("GaAs", "zincblende", a=a, cubic=True)
    atoms.calc = AlbeGaAs()
    return atoms.get_potential_energy() / len(atoms)


def test_zincblende_minimum_matches_published():
    grid = np.linspace(5.55, 5.75, 21)
    energies = [_energy_per_atom(a) for a in grid]
    assert abs(grid[int(np.argmin(energies))] - 5.65) <= LATTICE_ATOL_ANGSTROM
    assert abs(min(energies) - COHESIVE_ENERGY_EV) < ENERGY_ATOL_EV


def test_forces_match_finite_differences():
    atoms = bulk("GaAs", "zincblende", a=5.65, cubic=True)
    atoms.append("As")
    atoms.positions[-1] = [1.4, 1.4, 4.2]  # an interstitial: three-body terms of both kinds
    atoms.rattle(0.05, seed=4)
    atoms.calc = AlbeGaAs()
    analytic, numeric = gradient_test(atoms, indices=[0, 8])  # a lattice atom and the interstitial
    np.testing.assert_allclose(analytic, numeric, atol=FORCE_FD_ATOL_EV_PER_ANGSTROM)
