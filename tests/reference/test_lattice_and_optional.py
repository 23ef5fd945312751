"""Equilibrium lattice constant, and the optional GPAW reference."""

import importlib.util

import pytest
from ase.build import bulk

from thermodefect.errors import UserInputError
from thermodefect.reference.lattice import equilibrium_lattice_constant
from thermodefect.reference.registry import get_reference
from thermodefect.settings import ReferenceSettings

ATOL_LATTICE_ANGSTROM = 0.01
ALBE_A0_ANGSTROM = 5.65


def test_equilibrium_lattice_constant_of_the_albe_potential():
    """The Albe GaAs potential was fitted to a0 = 5.65 Å (analytic, fast, no SCF noise)."""
    pytest.importorskip("thermodefect.reference.albe")
    reference = get_reference(ReferenceSettings(name="albe", options={}))
    a0 = equilibrium_lattice_constant(reference, "Ga", "As", guess_angstrom=5.7, relative_span=0.04, points=7)
    assert abs(a0 - ALBE_A0_ANGSTROM) < ATOL_LATTICE_ANGSTROM


def test_scan_without_interior_minimum_is_refused():
    pytest.importorskip("thermodefect.reference.albe")
    reference = get_reference(ReferenceSettings(name="albe", options={}))
    with pytest.raises(UserInputError, match="edge of the scan"):
        equilibrium_lattice_constant(reference, "Ga", "As", guess_angstrom=6.5, relative_span=0.02, points=5)


@pytest.mark.skipif(importlib.util.find_spec("gpaw") is None, reason="GPAW not installed (optional extra [dft])")
def test_gpaw_lcao_labels_an_8_atom_cell():
    ref = get_reference(ReferenceSettings(name="gpaw", options={"kpts": [1, 1, 1]}))
    atoms = bulk("GaAs", "zincblende", a=5.65, cubic=True)
    label = ref.label(atoms)
    n = label.sample.kspace.hamiltonian.shape[-1]
    assert label.forces_ev_per_angstrom.shape == (8, 3)
    assert n == 8 * 9  # szp(dzp): s, p, d per Ga and As
