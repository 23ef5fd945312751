"""Ensemble force uncertainty: zero for identical models, positive otherwise."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from thermodefect.forcefield import ForceFieldEnsemble, train_ensemble

ZERO_ATOL_EV_PER_ANGSTROM = 1e-6


@pytest.fixture(scope="module")
def two_models(tmp_path_factory, albe_training_file):
    from thermodefect.settings import ForceFieldSettings

    ff = ForceFieldSettings(num_channels=8, max_L=0, num_interactions=1, correlation=2, r_max_angstrom=4.0,
                            max_num_epochs=1, batch_size=4, valid_fraction=0.25, ensemble_size=2)
    return train_ensemble(ff, albe_training_file, tmp_path_factory.mktemp("ens"), seed=11)


def _structures():
    out = []
    for k in range(3):
        atoms = bulk("GaAs", "zincblende", a=5.65, cubic=True)
        atoms.rattle(0.1, seed=50 + k)
        out.append(atoms)
    return out


def test_identical_models_have_zero_uncertainty(two_models):
    same = ForceFieldEnsemble([two_models[0], two_models[0]])
    u = same.force_uncertainty(_structures())
    np.testing.assert_allclose(u["max"], 0.0, atol=ZERO_ATOL_EV_PER_ANGSTROM)


def test_different_models_have_positive_uncertainty_matching_its_definition(two_models):
    ensemble = ForceFieldEnsemble(two_models)
    structures = _structures()
    u = ensemble.force_uncertainty(structures)
    assert u["max"].shape == (3,) and np.all(u["max"] > ZERO_ATOL_EV_PER_ANGSTROM)
    assert np.all(u["max"] >= u["mean"])
    # Definition: norm over x, y, z of the per-component population std, max over atoms.
    singles = [ForceFieldEnsemble([p]) for p in two_models]
    forces = np.stack([m.predict(structures[0]).forces_ev_per_angstrom[0] for m in singles])
    expected = np.linalg.norm(forces.std(axis=0), axis=1).max()
    assert u["max"][0] == pytest.approx(expected, rel=1e-4)
    mean_calc = ensemble.calculator("mean")
    atoms = structures[0].copy()
    atoms.calc = mean_calc
    np.testing.assert_allclose(atoms.get_forces(), forces.mean(axis=0), atol=1e-5)
