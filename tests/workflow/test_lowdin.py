"""Löwdin-orthogonalized samples: same eigenvalues, blocks still rotate as D_i H D_j^T."""

import numpy as np
import scipy.linalg
from ase.build import bulk
from scipy.spatial.transform import Rotation

from thermodefect.orbitals import wigner_d
from thermodefect.reference.toy import ToyTightBinding
from thermodefect.hamiltonian.recipe import lowdin_sample

ATOL_EV = 1e-8


def _gamma(sample):
    from thermodefect.electronic.bloch import bloch_pair

    h, s = bloch_pair(*sample.realspace, k_frac=np.zeros(3))
    return h.toarray().real, s.toarray().real


def _cell():
    atoms = bulk("GaAs", "zincblende", a=5.65, cubic=True)
    atoms.rattle(0.05, seed=4)
    return atoms


def test_eigenvalues_are_unchanged_and_basis_orthogonal():
    sample = ToyTightBinding().hamiltonian_sample(_cell())
    h, s = _gamma(sample)
    orth = lowdin_sample(sample)
    assert orth.kspace.overlap is None and orth.realspace is None
    h_orth = orth.kspace.hamiltonian[0]
    assert np.allclose(h_orth, h_orth.T, atol=ATOL_EV)
    assert np.allclose(scipy.linalg.eigh(h, s, eigvals_only=True), np.linalg.eigvalsh(h_orth), atol=ATOL_EV)
    assert orth.n_electrons == sample.n_electrons and orth.metadata == sample.metadata


def test_orthogonalized_blocks_rotate_with_the_structure():
    atoms = _cell()
    rotation = Rotation.random(random_state=7).as_matrix()
    turned = atoms.copy()
    turned.positions = atoms.positions @ rotation.T
    turned.set_cell(atoms.cell[:] @ rotation.T, scale_atoms=False)
    toy = ToyTightBinding()
    h0 = lowdin_sample(toy.hamiltonian_sample(atoms)).kspace.hamiltonian[0]
    h1 = lowdin_sample(toy.hamiltonian_sample(turned)).kspace.hamiltonian[0]
    basis = toy.hamiltonian_sample(atoms).basis
    d = scipy.linalg.block_diag(*[wigner_d(basis[int(z)], rotation) for z in atoms.numbers])
    assert np.allclose(d @ h0 @ d.T, h1, atol=1e-6)
