"""The shared symmetry battery, run for every Hamiltonian/overlap model class and dtype.

Cases (see :mod:`.model_battery`): the e3nn network as Hamiltonian and as
overlap model, the network on a mixed basis (two s shells, sp, spd), the network
with a two-center and with an overlap-scaled two-center baseline attached (all
at float32 and float64), and the two-center models themselves (Hamiltonian,
overlap, overlap-scaled; numpy float64 only).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from .model_battery import (
    BATCHED_CASES,
    MIN_BLOCK_NORM,
    ROTATION_RTOL,
    ModelCase,
    batch_error,
    hermiticity_error,
    lattice_translation_error,
    mixed_box,
    model_case,  # noqa: F401  (the parametrized fixture)
    permutation_error,
    random_rotation,
    rigid_translation_error,
    rotation_error,
)


@pytest.mark.parametrize("improper", [False, True], ids=["proper", "improper"])
def test_rotation_equivariance(model_case: ModelCase, improper: bool):
    rotation = random_rotation(seed=11, improper=improper)
    for atoms in model_case.structures():
        error, offsite = rotation_error(model_case, atoms, rotation)
        assert offsite > MIN_BLOCK_NORM, "off-site blocks are trivially zero"
        assert error < model_case.rotation_rtol, f"{model_case.id}: relative equivariance error {error:.3g}"


def test_hermiticity(model_case: ModelCase):
    for atoms in model_case.structures():
        error = hermiticity_error(model_case, atoms)
        assert error < model_case.roundoff_rtol, f"{model_case.id}: relative Hermiticity error {error:.3g}"


def test_lattice_translation_of_one_atom(model_case: ModelCase):
    for atoms in model_case.structures():
        error = lattice_translation_error(model_case, atoms, atom=1, lattice_shift=[1, -2, 1])
        assert error < model_case.roundoff_rtol, f"{model_case.id}: relative error {error:.3g}"


def test_rigid_translation(model_case: ModelCase):
    for atoms in model_case.structures():
        error = rigid_translation_error(model_case, atoms, [0.37, -1.2, 2.9])
        assert error < model_case.roundoff_rtol, f"{model_case.id}: relative error {error:.3g}"


def test_permuting_atoms_permutes_blocks(model_case: ModelCase):
    for k, atoms in enumerate(model_case.structures()):
        perm = np.random.default_rng(k).permutation(len(atoms))
        if np.array_equal(perm, np.arange(len(atoms))):
            perm = perm[::-1].copy()
        error = permutation_error(model_case, atoms, perm)
        assert error < model_case.roundoff_rtol, f"{model_case.id}: relative error {error:.3g}"


@pytest.mark.parametrize("model_case", BATCHED_CASES, ids=lambda c: c.id, indirect=True)
def test_batch_equals_single(model_case: ModelCase):
    error = batch_error(model_case, model_case.batch_structures())
    assert error < model_case.roundoff_rtol, f"{model_case.id}: relative error {error:.3g}"


def test_network_float64_precision():
    """A float64 network is equivariant to float64 precision (its e3nn constants are built in float64)."""
    case = ModelCase("network-mixed-bases", torch.float64)
    error, _ = rotation_error(case, mixed_box(), random_rotation(seed=11, improper=False))
    assert error < ROTATION_RTOL[torch.float64]
