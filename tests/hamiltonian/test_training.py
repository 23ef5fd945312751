"""Training drives the loss down, writes checkpoints and history; ensembles spread."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from thermodefect.core.errors import UserInputError
from thermodefect.hamiltonian import ensemble_uncertainty, load_ensemble, train_ensemble, train_model

from .conftest import SPD, gaas_cell, random_model, tiny_settings
from .samples import model_samples

BASIS = {31: SPD, 33: SPD}
OVERFIT_REDUCTION = 1e-3  # final loss / first-epoch loss


def test_overfitting_one_structure_drives_loss_to_zero(tmp_path):
    target = random_model(BASIS, 3.5, seed=5)
    samples = model_samples(target, [gaas_cell(seed=1)], "realspace")
    settings = tiny_settings(num_layers=1, max_epochs=150, learning_rate=1e-2)
    result = train_model(samples, [], settings, tmp_path / "m", seed=0, progress=False)
    first = result.history[0]["train_loss"]
    assert result.best_valid_loss < OVERFIT_REDUCTION * first


def test_training_on_gamma_data_writes_checkpoint_and_history(tmp_path):
    target = random_model(BASIS, 5.0, seed=5)
    train = model_samples(target, [gaas_cell(seed=s) for s in range(3)], "gamma")
    valid = model_samples(target, [gaas_cell(seed=9)], "gamma")
    settings = tiny_settings(cutoff_angstrom=5.0, num_layers=1, max_epochs=6, patience=2)
    result = train_model(train, valid, settings, tmp_path / "m", seed=3, progress=False)
    history = json.loads((tmp_path / "m" / "training.json").read_text())
    assert (tmp_path / "m" / "model.pt").is_file()
    assert history["n_train"] == 3 and history["n_valid"] == 1
    assert history["best_valid_loss"] == pytest.approx(min(h["valid_loss"] for h in history["history"]))
    assert history["history"][-1]["valid_loss"] < history["history"][0]["valid_loss"]
    assert result.epochs_run == len(history["history"]) <= 6


def test_overlap_target_needs_an_overlap(tmp_path):
    target = random_model(BASIS, 3.5, seed=5)
    samples = model_samples(target, [gaas_cell(seed=1)], "realspace")
    with pytest.raises(UserInputError, match="overlap"):
        train_model(samples, [], tiny_settings(), tmp_path / "m", target="overlap", progress=False)


def test_ensemble_members_differ_and_uncertainty_is_reported(tmp_path):
    target = random_model(BASIS, 3.5, seed=5)
    samples = model_samples(target, [gaas_cell(seed=s) for s in range(2)], "realspace")
    settings = tiny_settings(num_layers=1, max_epochs=2)
    results = train_ensemble(samples, [], settings, tmp_path / "ens", seed=0, size=2, progress=False)
    models = load_ensemble(tmp_path / "ens")
    assert len(results) == len(models) == 2
    spread = ensemble_uncertainty(models, [gaas_cell(seed=7), gaas_cell(seed=8).repeat((2, 1, 1))])
    assert len(spread) == 2
    for item in spread:
        assert 0 < item["rmsd"] <= item["max_std"]
    # identical members have no spread
    same = ensemble_uncertainty([models[0], models[0]], [gaas_cell(seed=7)])[0]
    assert same["max_std"] == pytest.approx(0.0, abs=1e-12)
    assert np.isfinite(spread[0]["max_std"])


def test_a_loss_that_is_never_finite_is_one_clear_error(tmp_path):
    """A NaN loss from the first epoch used to end in an obscure load_state_dict(None)."""
    from thermodefect.hamiltonian.train import TrainingDiverged

    target = random_model(BASIS, 3.5, seed=5)
    samples = model_samples(target, [gaas_cell(seed=s) for s in range(2)], "realspace")
    settings = tiny_settings(num_layers=1, max_epochs=3, learning_rate=1e30, batch_size=1)
    with pytest.raises(TrainingDiverged, match="not finite from the first epoch"):
        train_model(samples, [], settings, tmp_path / "m", seed=0, progress=False)
    assert not (tmp_path / "m" / "model.json").exists()


def test_warm_start_continues_from_the_initial_model(tmp_path):
    target = random_model(BASIS, 3.5, seed=5)
    samples = model_samples(target, [gaas_cell(seed=s) for s in range(2)], "realspace")
    settings = tiny_settings(num_layers=1, max_epochs=30, learning_rate=1e-2)
    first = train_model(samples, [], settings, tmp_path / "a", seed=0, progress=False)
    weights_before = [t.detach().clone() for t in first.model.parameters()]
    fresh = train_model(samples, [], settings.model_copy(update={"max_epochs": 1}), tmp_path / "b", seed=1,
                        progress=False)
    more = train_model(samples, [], settings.model_copy(update={"max_epochs": 3, "learning_rate": 1e-3}),
                       tmp_path / "c", seed=1, progress=False, initial=first.model)
    # The first epoch of the continued training already sits at the trained model's loss, far below a
    # fresh start's, and continuing lowers it further; the initial model itself is left as it was.
    assert more.history[0]["train_loss"] < 0.5 * fresh.history[0]["train_loss"]
    assert more.best_valid_loss < first.best_valid_loss
    assert float(more.model.target_scale) == float(first.model.target_scale)
    assert all(torch.equal(a, b) for a, b in zip(weights_before, first.model.parameters()))


def test_warm_start_refuses_another_basis_or_target(tmp_path):
    target = random_model(BASIS, 3.5, seed=5)
    samples = model_samples(target, [gaas_cell(seed=1)], "realspace")
    initial = train_model(samples, [], tiny_settings(num_layers=1, max_epochs=1), tmp_path / "a", progress=False).model
    other = random_model({31: SPD, 33: "1x0e+1x1o"}, 3.5, seed=5)
    other_samples = model_samples(other, [gaas_cell(seed=1)], "realspace")
    with pytest.raises(UserInputError, match="warm start: the initial model's basis"):
        train_model(other_samples, [], tiny_settings(max_epochs=1), tmp_path / "b", progress=False, initial=initial)
    with pytest.raises(UserInputError, match="warm start: the initial model predicts"):
        train_model(samples, [], tiny_settings(max_epochs=1), tmp_path / "c", target="overlap", progress=False,
                    initial=initial)
