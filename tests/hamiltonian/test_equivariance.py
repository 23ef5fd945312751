"""Rotation/inversion equivariance, Hermiticity, translation and permutation invariance."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from thermodefect.hamiltonian import predict
from thermodefect.orbitals import wigner_d

from .conftest import SPD, gaas_cell, molecule_box, random_model

ATOL_EQUIVARIANCE = 1e-5
ATOL_SYMMETRY = 1e-10
MIN_BLOCK_NORM = 1e-3  # predictions must not be trivially zero

CASES = {
    "GaAs spd": ({31: SPD, 33: SPD}, lambda: gaas_cell(seed=1)),
    "two s shells + sp": ({1: "2x0e", 8: "1x0e+1x1o"}, lambda: molecule_box("OHHO", seed=2)),
    "different bases with d": ({14: "2x0e+1x1o+1x2e", 1: "1x0e"}, lambda: molecule_box("SiHSiH", seed=3)),
}


def _model(basis, cutoff=3.5, seed=0):
    return random_model(basis, cutoff, seed)


def _by_key(op):
    return op.as_dict()


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("improper", [False, True])
def test_blocks_rotate_as_wigner_d(case, improper):
    basis, make = CASES[case]
    model = _model(basis)
    atoms = make()
    rotation = Rotation.random(random_state=11).as_matrix() * (-1 if improper else 1)
    rotated = atoms.copy()
    rotated.positions = atoms.positions @ rotation.T
    rotated.cell = atoms.cell[:] @ rotation.T
    before, after = (_by_key(op) for op in predict(model, [atoms, rotated]))
    assert before.keys() == after.keys()
    assert max(np.abs(b).max() for b in before.values()) > MIN_BLOCK_NORM
    d = {z: wigner_d(basis[z], rotation) for z in basis}
    numbers = atoms.numbers
    for key, block in before.items():
        i, j = key[3], key[4]
        expected = d[numbers[i]] @ block @ d[numbers[j]].T
        np.testing.assert_allclose(after[key], expected, atol=ATOL_EQUIVARIANCE)


@pytest.mark.parametrize("case", list(CASES))
def test_hermitian_by_construction(case):
    basis, make = CASES[case]
    blocks = _by_key(predict(_model(basis), [make()])[0])
    for (rx, ry, rz, i, j), block in blocks.items():
        np.testing.assert_allclose(block, blocks[(-rx, -ry, -rz, j, i)].T, atol=ATOL_SYMMETRY)
        if (rx, ry, rz, i) == (0, 0, 0, j):
            np.testing.assert_allclose(block, block.T, atol=ATOL_SYMMETRY)


def test_translation_invariance():
    basis, make = CASES["GaAs spd"]
    model = _model(basis, cutoff=5.0)
    atoms = make()
    moved = atoms.copy()
    moved.positions += [0.37, -1.2, 2.9]
    before, after = (_by_key(op) for op in predict(model, [atoms, moved]))
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_allclose(after[key], before[key], atol=ATOL_SYMMETRY)


def test_permuting_atoms_permutes_blocks():
    basis, make = CASES["different bases with d"]
    model = _model(basis)
    atoms = make()
    perm = np.array([2, 0, 3, 1])  # new atom k is old atom perm[k]
    permuted = atoms[perm]
    new_of_old = np.argsort(perm)
    before, after = (_by_key(op) for op in predict(model, [atoms, permuted]))
    assert len(before) == len(after)
    for (rx, ry, rz, i, j), block in before.items():
        np.testing.assert_allclose(after[(rx, ry, rz, new_of_old[i], new_of_old[j])], block, atol=ATOL_SYMMETRY)


def test_batch_equals_single():
    basis, make = CASES["GaAs spd"]
    model = _model(basis, cutoff=5.0)
    structures = [gaas_cell(seed=s) for s in range(3)]
    batched = predict(model, structures, batch_size=3)
    for atoms, op in zip(structures, batched):
        single = predict(model, [atoms], batch_size=1)[0]
        np.testing.assert_allclose(op.blocks, single.blocks, atol=ATOL_SYMMETRY)
