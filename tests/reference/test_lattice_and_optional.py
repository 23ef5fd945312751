"""Equilibrium lattice constant, and the optional GPAW reference."""

import importlib.util

import pytest
from ase.build import bulk

from thermodefect.core.errors import UserInputError
from thermodefect.reference.lattice import equilibrium_lattice_constant
from thermodefect.reference.registry import get_reference
from thermodefect.settings import ReferenceSettings

ATOL_LATTICE_ANGSTROM = 0.01
ALBE_A0_ANGSTROM = 5.65


def test_equilibrium_lattice_constant_of_the_albe_potential():
    """The Albe GaAs potential was fitted to a0 = 5.65 Å (analytic, fast, no SCF noise)."""
    pytest.importorskip("thermodefect.potentials.albe")
    reference = get_reference(ReferenceSettings(name="albe", options={}))
    a0 = equilibrium_lattice_constant(reference, "Ga", "As", guess_angstrom=5.7, relative_span=0.04, points=7)
    assert abs(a0 - ALBE_A0_ANGSTROM) < ATOL_LATTICE_ANGSTROM


def test_scan_without_interior_minimum_is_refused():
    pytest.importorskip("thermodefect.potentials.albe")
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


GPAW_ROTATION_ATOL_EV = 2e-3  # the real-space grid breaks rotational symmetry slightly
GPAW_BLOCH_ATOL_EV = 1e-6


@pytest.mark.skipif(importlib.util.find_spec("gpaw") is None, reason="GPAW not installed (optional extra [dft])")
def test_gpaw_blocks_rotate_with_the_structure():
    """After the conversion to the package order, Γ blocks transform as D_i H D_j^T."""
    import numpy as np
    from scipy.spatial.transform import Rotation

    from thermodefect.orbitals import wigner_d

    ref = get_reference(ReferenceSettings(name="gpaw", options={"kpts": [1, 1, 1], "h_angstrom": 0.18}))
    atoms = bulk("GaAs", "zincblende", a=5.65, cubic=True)
    atoms.rattle(0.05, seed=2)
    rotation = Rotation.from_euler("z", 90, degrees=True).as_matrix()  # maps the cubic grid onto itself
    turned = atoms.copy()
    turned.positions = atoms.positions @ rotation.T
    turned.set_cell(atoms.cell[:] @ rotation.T, scale_atoms=False)
    h0 = ref.label(atoms).sample.kspace.hamiltonian[0].real
    h1 = ref.label(turned).sample.kspace.hamiltonian[0].real
    d = wigner_d("1x0e+1x1o+1x2e", rotation)
    big = np.kron(np.eye(len(atoms)), d)
    assert np.abs(big @ h0 @ big.T - h1).max() < GPAW_ROTATION_ATOL_EV


@pytest.mark.skipif(importlib.util.find_spec("gpaw") is None, reason="GPAW not installed (optional extra [dft])")
def test_gpaw_real_space_blocks_reproduce_its_k_space_matrices():
    """H(R), S(R) from a 2x2x2 mesh Bloch-summed (package convention) give GPAW's own H(k), S(k)."""
    import numpy as np
    import scipy.linalg

    from thermodefect.electronic.bloch import bloch_pair

    atoms = bulk("GaAs", "zincblende", a=5.65)
    options = {"kpts": [2, 2, 2], "h_angstrom": 0.25}
    realspace = get_reference(ReferenceSettings(name="gpaw", options={**options, "realspace": True})).label(atoms).sample
    kspace = get_reference(ReferenceSettings(name="gpaw", options={**options, "realspace": False})).label(atoms).sample
    for k, (h_k, s_k) in enumerate(zip(kspace.kspace.hamiltonian, kspace.kspace.overlap)):
        h, s = bloch_pair(*realspace.realspace, k_frac=kspace.kspace.kpts_frac[k])
        expected = scipy.linalg.eigh(h_k, s_k, eigvals_only=True)
        got = scipy.linalg.eigh(h.toarray(), s.toarray(), eigvals_only=True)
        assert np.allclose(got, expected, atol=GPAW_BLOCH_ATOL_EV)
