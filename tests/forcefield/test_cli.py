"""``thermodefect ff al``, ``ff eval`` and ``md`` run as a user would."""

from __future__ import annotations

import json

from ase.io import read
from typer.testing import CliRunner

from thermodefect.cli.main import app

CONFIG = """
[run]
directory = "{run}"
seed = 4
[supercells]
kind = "cubic"
training_atoms = 8
production_atoms = 8
transfer_atoms = []
[defects]
names = ["V_As"]
[temperatures]
production_k = [300.0]
[reference.forces]
name = "albe"
options = {{}}
[reference.hamiltonian]
name = "albe"
options = {{}}
[labelling]
rattled_per_defect = 3
rattle_stdev_angstrom = 0.08
[forcefield]
ensemble_size = 2
num_channels = 8
max_L = 0
num_interactions = 1
correlation = 2
r_max_angstrom = 4.0
max_num_epochs = 1
batch_size = 2
valid_fraction = 0.3
[md]
equilibration_steps = 4
production_steps = 8
sample_interval = 4
[forcefield_al]
md_steps = 10
md_sample_interval = 5
max_rounds = 2
max_selected_per_round = 2
test_snapshots_per_defect = 2
[compute]
workers = 1
"""


def test_ff_al_eval_and_md_commands(tmp_path):
    config = tmp_path / "config.toml"
    run = tmp_path / "run"
    config.write_text(CONFIG.format(run=run))
    runner = CliRunner()

    result = runner.invoke(app, ["ff", "al", str(config), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "round" in result.output and (run / "results" / "ff_al_summary.json").exists()
    summary = json.loads((run / "results" / "ff_al_summary.json").read_text())
    assert summary["rounds"] >= 1 and len(summary["final_models"]) == 2
    assert len(read(str(run / "data" / "forces.extxyz"), index=":")) >= 6 + 4  # rattled + test set, in the dataset

    result = runner.invoke(app, ["ff", "eval", str(config)])
    assert result.exit_code == 0, result.output
    evaluation = json.loads((run / "results" / "ff_eval.json").read_text())
    assert evaluation["overall"]["n_structures"] == 4
    assert set(evaluation["per_defect"]) == {"pristine", "V_As"}

    result = runner.invoke(app, ["md", str(config), "--defect", "V_As", "--temperature", "300", "--no-progress"])
    assert result.exit_code == 0, result.output
    frames = read(str(run / "md" / "V_As-300K.extxyz"), index=":")
    assert [f.info["md_step"] for f in frames] == [8, 12] and len(frames[0]) == 7


def test_md_unknown_defect_is_one_line_error(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(run=tmp_path / "run"))
    result = CliRunner().invoke(app, ["md", str(config), "--defect", "As_Ga", "--model", str(tmp_path / "none.model")])
    assert result.exit_code == 2
    assert "error:" in result.output and "As_Ga" in result.output
