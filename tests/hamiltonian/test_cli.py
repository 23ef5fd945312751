"""``thermodefect ham train|eval|predict`` run as a user would."""

from __future__ import annotations

import json

import h5py
import numpy as np
from ase.io import write
from typer.testing import CliRunner

from thermodefect.cli.main import app
from thermodefect.data.hamiltonians import HamiltonianDataset

from .conftest import SPD, TINY_EDGE, TINY_NODE, gaas_cell, random_model
from .samples import model_samples

BASIS = {31: SPD, 33: SPD}


def _config(tmp_path):
    text = f"""
[run]
directory = "{tmp_path / 'run'}"
seed = 3

[hamiltonian]
preset = "fast"
irreps_node = "{TINY_NODE}"
irreps_edge = "{TINY_EDGE}"
num_layers = 1
radial_basis_size = 4
radial_hidden = 8
cutoff_angstrom = 3.5
max_epochs = 2
ensemble_size = 2
default_dtype = "float64"
"""
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_train_eval_predict(tmp_path):
    config = _config(tmp_path)
    dataset_path = tmp_path / "ham.h5"
    dataset = HamiltonianDataset(dataset_path)
    target = random_model(BASIS, 3.5, seed=5)
    for sample in model_samples(target, [gaas_cell(seed=s) for s in range(3)], "gamma"):
        dataset.append(sample)
    runner = CliRunner()

    result = runner.invoke(app, ["ham", "train", str(config), "--data", str(dataset_path), "--no-progress"])
    assert result.exit_code == 0, result.output
    models = tmp_path / "run" / "models" / "ham" / "trained-hamiltonian"
    assert sorted(p.name for p in models.iterdir() if p.is_dir()) == ["member-0", "member-1"]
    # The pipeline's split rule (recipe.split_train_valid): a validation sample only from 4 samples up.
    assert "trained 2 hamiltonian models on 3 samples (0 validation)" in result.output

    result = runner.invoke(app, ["ham", "eval", str(config), "--model", str(models), "--data", str(dataset_path)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "results" / "ham-eval.json").read_text())
    assert len(metrics["members"]) == 2 and metrics["members"][0]["n_samples"] == 3
    assert metrics["members"][0]["mae"] > 0

    structures = tmp_path / "cells.extxyz"
    write(str(structures), [gaas_cell(seed=8), gaas_cell(seed=9).repeat((1, 1, 2))])
    out = tmp_path / "pred"
    result = runner.invoke(app, ["ham", "predict", str(config), str(structures), "--model", str(models / "member-0"),
                                 "--output", str(out)])
    assert result.exit_code == 0, result.output
    folders = sorted(p.name for p in out.iterdir())
    assert folders == ["structure-0000", "structure-0001"]
    with h5py.File(out / "structure-0001" / "hamiltonians.h5", "r") as f:
        assert "[0, 0, 0, 1, 1]" in f and f["[0, 0, 0, 1, 1]"].shape == (9, 9)

    # The same prediction in the DeepH-dock layout reads back to the same blocks.
    from thermodefect.data.deeph_dock import deeph_layout, read_deeph_any

    dock = tmp_path / "pred-dock"
    result = runner.invoke(app, ["ham", "predict", str(config), str(structures), "--model", str(models / "member-0"),
                                 "--output", str(dock), "--layout", "deeph-dock"])
    assert result.exit_code == 0, result.output
    for name in folders:
        assert deeph_layout(dock / name) == "deeph-dock" and deeph_layout(out / name) == "deeph"
        legacy, docked = (read_deeph_any(folder / name).realspace[0].as_dict() for folder in (out, dock))
        assert legacy.keys() == docked.keys()
        assert all(np.allclose(legacy[k], docked[k], atol=1e-12) for k in legacy)
    result = runner.invoke(app, ["ham", "predict", str(config), str(structures), "--model", str(models / "member-0"),
                                 "--output", str(tmp_path / "x"), "--layout", "siesta"])
    assert result.exit_code == 2 and "--layout must be one of deeph, deeph-dock" in result.output


def test_missing_dataset_is_one_line_error(tmp_path):
    config = _config(tmp_path)
    result = CliRunner().invoke(app, ["ham", "train", str(config), "--data", str(tmp_path / "none.h5")])
    assert result.exit_code == 2
    assert "no Hamiltonian dataset" in result.output


def test_bad_checkpoint_is_one_line_error(tmp_path):
    config = _config(tmp_path)
    (tmp_path / "bad").mkdir()
    result = CliRunner().invoke(app, ["ham", "predict", str(config), str(tmp_path / "x.xyz"), "--model",
                                      str(tmp_path / "bad"), "--output", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "error:" in result.output
