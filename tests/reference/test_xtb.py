"""tblite GFN1-xTB reference: conventions, forces, eigenvalues (8-atom plumbing cells)."""

import numpy as np
import pytest
import scipy.linalg
from ase.build import bulk
from ase.units import Hartree, kB
from scipy.spatial.transform import Rotation

from thermodefect.data.operators import orbital_offsets
from thermodefect.core.errors import UserInputError
from thermodefect.orbitals import n_orbitals, wigner_d
from thermodefect.reference.xtb import XtbReference, tblite_basis

pytest.importorskip("tblite")

ATOL_EV = 1e-5  # SCF-converged matrix elements after a rigid rotation
ATOL_OVERLAP = 1e-8  # overlap is analytic, no SCF
ATOL_EIGEN_EV = 1e-8
RTOL_EIGEN = 1e-10  # states up to ~1e4 eV from the near-singular overlap
FD_STEP_ANGSTROM = 1e-3
ATOL_FORCE_EV_PER_ANGSTROM = 2e-3


def rattled_gaas(seed: int = 3):
    atoms = bulk("GaAs", "zincblende", a=5.65, cubic=True)
    atoms.rattle(0.05, seed=seed)
    return atoms


@pytest.fixture(scope="module")
def reference():
    return XtbReference({"method": "GFN1-xTB", "accuracy": 0.01})


def test_orbitals_per_element():
    assert tblite_basis("GFN1-xTB", 31) == "1x0e+1x1o+1x2e"
    assert tblite_basis("GFN1-xTB", 33) == "1x0e+1x1o+1x2e"
    assert tblite_basis("GFN1-xTB", 1) == "2x0e"  # GFN1 H: 1s + diffuse 2s
    assert n_orbitals(tblite_basis("GFN1-xTB", 31)) == 9


def test_rotation_covariance_of_gamma_blocks(reference):
    atoms = rattled_gaas()
    rotation = Rotation.random(random_state=11).as_matrix()
    rotated = atoms.copy()
    rotated.set_cell(atoms.cell[:] @ rotation.T, scale_atoms=False)
    rotated.positions = atoms.positions @ rotation.T
    a = reference.label(atoms).sample
    b = reference.label(rotated).sample
    off = orbital_offsets(atoms.numbers, a.basis)
    d = [wigner_d(a.basis[int(z)], rotation) for z in atoms.numbers]
    worst_h = worst_s = 0.0
    for i in range(len(atoms)):
        for j in range(len(atoms)):
            si, sj = slice(off[i], off[i + 1]), slice(off[j], off[j + 1])
            for matrix_a, matrix_b, name in (
                (a.kspace.hamiltonian[0], b.kspace.hamiltonian[0], "h"),
                (a.kspace.overlap[0], b.kspace.overlap[0], "s"),
            ):
                expected = d[i] @ matrix_a[si, sj] @ d[j].T
                err = np.abs(matrix_b[si, sj] - expected).max()
                if name == "h":
                    worst_h = max(worst_h, err)
                else:
                    worst_s = max(worst_s, err)
    assert worst_s < ATOL_OVERLAP
    assert worst_h < ATOL_EV
    # Non-trivial check: the rotation changes the blocks.
    assert np.abs(a.kspace.hamiltonian[0] - b.kspace.hamiltonian[0]).max() > 1e-2


def test_forces_match_finite_differences(reference):
    atoms = rattled_gaas(seed=5)
    forces = reference.label(atoms, hamiltonian=False).forces_ev_per_angstrom
    for atom, axis in ((0, 0), (3, 2), (6, 1)):
        energies = []
        for sign in (1, -1):
            displaced = atoms.copy()
            displaced.positions[atom, axis] += sign * FD_STEP_ANGSTROM
            energies.append(reference.label(displaced, hamiltonian=False).energy_ev)
        numeric = -(energies[0] - energies[1]) / (2 * FD_STEP_ANGSTROM)
        assert abs(numeric - forces[atom, axis]) < ATOL_FORCE_EV_PER_ANGSTROM


def test_eigenvalues_reproduce_tblite_orbital_energies(reference):
    from ase.units import Bohr
    from tblite.interface import Calculator

    atoms = rattled_gaas(seed=7)
    sample = reference.label(atoms).sample
    eigenvalues = scipy.linalg.eigh(sample.kspace.hamiltonian[0], sample.kspace.overlap[0], eigvals_only=True)
    tb = Calculator("GFN1-xTB", atoms.numbers, atoms.positions / Bohr, lattice=atoms.cell[:] / Bohr, periodic=np.array([True] * 3))
    tb.set("verbosity", 0)
    tb.set("accuracy", 0.01)
    tb.set("temperature", 300.0 * kB / Hartree)  # the reference's default smearing
    own = np.sort(tb.singlepoint().get("orbital-energies")) * Hartree
    np.testing.assert_allclose(eigenvalues, own, rtol=RTOL_EIGEN, atol=ATOL_EIGEN_EV)
    assert sample.n_electrons == 32.0  # 4 x (Ga 3 + As 5)
    assert sample.provenance["code"] == "tblite" and sample.provenance["reference"] == "xtb"


def test_unknown_option_is_a_user_error():
    with pytest.raises(UserInputError, match="unknown option"):
        XtbReference({"methd": "GFN1-xTB"})
    with pytest.raises(UserInputError, match="method"):
        XtbReference({"method": "GFN3"})


@pytest.mark.parametrize("charge", ["+1", True, float("inf"), 11])
def test_charge_must_be_a_number_of_elementary_charges(charge):
    with pytest.raises(UserInputError, match="charge must be a number"):
        XtbReference({"charge": charge})
    assert XtbReference({"charge": -1}).options["charge"] == -1
