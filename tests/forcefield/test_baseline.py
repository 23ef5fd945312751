"""Δ-learning on the Albe potential, isolated-atom E0s, and ensemble members trained in parallel."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.io import read

from thermodefect.forcefield import ForceFieldEnsemble, ForceFieldError, train_ensemble, train_model
from thermodefect.forcefield.baseline import baseline_energy_forces, e0s_argument, residual_frames
from thermodefect.forcefield.training import ENERGY_KEY, FORCES_KEY, mace_arguments
from thermodefect.potentials.albe import AlbeGaAs
from thermodefect.structures.isolated import isolated_atom

# Made-up isolated-atom energies (eV) that no least-squares fit would produce.
ISOLATED_EV = {"Ga": -31.5, "As": -59.9}


def _rattled(seed: int, n_repeat: int = 1) -> Atoms:
    atoms = bulk("GaAs", "zincblende", a=5.65, cubic=True).repeat(n_repeat)
    atoms.rattle(0.1, seed=seed)
    return atoms


def test_residual_of_albe_labels_on_the_albe_baseline_is_zero(albe_training_file):
    frames = read(str(albe_training_file), index=":")
    residual = residual_frames(frames, "albe")
    assert max(abs(a.info[ENERGY_KEY]) for a in residual) < 1e-6  # extxyz keeps ~8 significant digits
    assert max(np.abs(a.arrays[FORCES_KEY]).max() for a in residual) < 1e-6  # extxyz keeps ~8 significant digits
    # The source frames are untouched; "none" removes nothing.
    assert frames[0].info[ENERGY_KEY] < -10
    assert residual_frames(frames[:1], "none")[0].info[ENERGY_KEY] == frames[0].info[ENERGY_KEY]


def test_unknown_baseline_is_refused_before_any_model_is_read(tmp_path):
    with pytest.raises(ForceFieldError, match="unknown force-field baseline 'lj'"):
        ForceFieldEnsemble([tmp_path / "missing.model"], baseline="lj")


@pytest.fixture(scope="module")
def delta_model(tmp_path_factory, albe_training_file):
    from thermodefect.settings import ForceFieldSettings

    ff = ForceFieldSettings(num_channels=8, max_L=0, num_interactions=1, correlation=2, r_max_angstrom=4.0,
                            max_num_epochs=2, batch_size=4, valid_fraction=0.25, ensemble_size=1, baseline="albe",
                            e0s="isolated")
    folder = tmp_path_factory.mktemp("delta")
    return train_model(ff, albe_training_file, folder, seed=3, isolated_energies_ev=ISOLATED_EV), folder


def test_delta_model_trains_on_the_residual_and_predicts_baseline_plus_mace(delta_model):
    path, folder = delta_model
    residual = read(str(folder / "model.residual-train.extxyz"), index=":")
    assert max(abs(a.info[ENERGY_KEY]) for a in residual) < 1e-6  # Albe labels minus Albe
    atoms = _rattled(7)
    mace_only = ForceFieldEnsemble([path]).predict(atoms)
    delta = ForceFieldEnsemble([path], baseline="albe")
    total = delta.predict(atoms)
    energy, forces = baseline_energy_forces(atoms, "albe")
    assert total.energies_ev[0] == pytest.approx(mace_only.energies_ev[0] + energy, abs=1e-5)
    np.testing.assert_allclose(total.forces_ev_per_angstrom, mace_only.forces_ev_per_angstrom + forces[None], atol=1e-5)
    # The MD calculator is the same sum.
    probe = atoms.copy()
    probe.calc = delta.calculator("first")
    np.testing.assert_allclose(probe.get_forces(), total.forces_ev_per_angstrom[0], atol=1e-4)
    assert probe.get_potential_energy() == pytest.approx(total.energies_ev[0], abs=1e-4)


def test_delta_model_forces_are_minus_the_energy_gradient(delta_model):
    path, _ = delta_model
    atoms = _rattled(8)
    atoms.calc = ForceFieldEnsemble([path], default_dtype="float64", baseline="albe").calculator("first")
    analytic = atoms.get_forces()
    step = 1e-4
    for i, axis in [(0, 0), (3, 2)]:
        energies = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.calc = atoms.calc
            moved.positions[i, axis] += sign * step
            energies.append(moved.get_potential_energy())
        assert analytic[i, axis] == pytest.approx(-(energies[0] - energies[1]) / (2 * step), abs=2e-3)


def test_isolated_e0s_are_the_energy_of_an_atom_in_vacuum(delta_model):
    path, _ = delta_model
    ensemble = ForceFieldEnsemble([path], baseline="albe")
    for symbol, expected in ISOLATED_EV.items():
        # No neighbour within r_max: MACE gives E0 and Albe (a bond sum) gives zero.
        assert ensemble.predict(isolated_atom(symbol)).energies_ev[0] == pytest.approx(expected, abs=1e-4)


def test_e0s_argument_is_mace_torchs_dictionary_by_atomic_number():
    assert e0s_argument(ISOLATED_EV) == "{31: -31.5, 33: -59.9}"
    assert e0s_argument(ISOLATED_EV, "albe") == "{31: -31.5, 33: -59.9}"  # an isolated atom has no Albe bonds
    with pytest.raises(ForceFieldError, match="needs isolated-atom energies"):
        e0s_argument({})


def test_isolated_e0s_without_energies_is_one_line(tmp_path, albe_training_file, tiny_mace):
    ff = tiny_mace.model_copy(update={"e0s": "isolated"})
    with pytest.raises(ForceFieldError, match="isolated-atom energies"):
        mace_arguments(ff, albe_training_file, tmp_path, 1)
    with pytest.raises(ForceFieldError, match="isolated-atom energies"):
        train_model(ff, albe_training_file, tmp_path, seed=1)


@pytest.mark.parametrize("value", ["avg", "{31: 'x'}", "{}", "[1, 2]"])
def test_bad_e0s_setting_is_refused(value):
    from pydantic import ValidationError

    from thermodefect.settings import ForceFieldSettings

    with pytest.raises(ValidationError, match="isolated"):
        ForceFieldSettings(e0s=value)


def test_parallel_members_are_each_reported_once_and_resume(tmp_path, albe_training_file, tiny_mace):
    reported = []
    paths = train_ensemble(tiny_mace, albe_training_file, tmp_path, seed=21, trained=reported.append, workers=2)
    assert sorted(p.name for p in reported) == ["model-0.model", "model-1.model"]
    assert all(p.is_file() for p in paths)
    ensemble = ForceFieldEnsemble(paths)
    assert ensemble.force_uncertainty([_rattled(9)])["max"][0] > 1e-6  # different seeds, different models
    reported.clear()
    train_ensemble(tiny_mace, albe_training_file, tmp_path, seed=21, trained=reported.append, workers=2)
    assert reported == []  # nothing retrained


def test_a_failing_parallel_member_is_one_line(tmp_path, albe_training_file, tiny_mace):
    bad = tiny_mace.model_copy(update={"batch_size": 10_000, "valid_fraction": 0.99})
    (tmp_path / "empty.extxyz").write_text("")
    with pytest.raises(ForceFieldError) as info:
        train_ensemble(bad, tmp_path / "empty.extxyz", tmp_path / "out", seed=1, workers=2)
    assert "\n" not in str(info.value)


def test_albe_baseline_matches_the_reference_implementation():
    atoms = _rattled(4)
    energy, forces = baseline_energy_forces(atoms, "albe")
    atoms.calc = AlbeGaAs()
    assert energy == pytest.approx(atoms.get_potential_energy(), abs=1e-10)
    np.testing.assert_allclose(forces, atoms.get_forces(), atol=1e-10)
