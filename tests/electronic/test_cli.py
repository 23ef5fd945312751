"""``thermodefect gap`` and ``thermodefect bands`` run as a user would, with the toy reference."""

import json

from ase.io import write
from typer.testing import CliRunner

from thermodefect.cli.main import app
from thermodefect.structures import make_defect, parse_defect, pristine_supercell

CONFIG = """
[run]
directory = "{run}"
[reference.hamiltonian]
name = "toy"
options = {{}}
[electronic]
points_per_segment = 3
bands_near_gap = 10
"""


def _setup(tmp_path):
    pristine = pristine_supercell("Ga", "As", 5.65, 16, "primitive")
    antisite = make_defect(pristine, parse_defect("As_Ga", "Ga", "As"))
    structures = tmp_path / "cells.extxyz"
    write(str(structures), [pristine, antisite], format="extxyz")
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(run=tmp_path / "run"))
    return config, structures


def test_gap_command_prints_and_writes_json(tmp_path):
    config, structures = _setup(tmp_path)
    result = CliRunner().invoke(app, ["gap", str(config), "--structures", str(structures)])
    assert result.exit_code == 0, result.output
    assert "gap" in result.output and "defect level" in result.output
    data = json.loads((tmp_path / "run" / "results" / "electronic" / "gap.json").read_text())
    first, second = data["results"]
    assert first["defect"] == "pristine" and first["levels"] == []
    assert second["defect"] == "As_Ga" and second["levels"]
    assert first["gap_ev"] > 0.5


def test_bands_command_writes_plots_and_json(tmp_path):
    config, structures = _setup(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["bands", str(config), "--structures", str(structures), "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "bands.json").read_text())
    assert data["results"][0]["labels"] == ["L", "Γ", "X", "K"]
    assert len(data["results"][1]["energies_ev"]) == 3 * 3 + 1
    assert (out / "bands-0.png").stat().st_size > 1000 and (out / "bands-1.png").exists()


def test_missing_structures_file_is_one_line_error(tmp_path):
    config, _ = _setup(tmp_path)
    result = CliRunner().invoke(app, ["gap", str(config), "--structures", str(tmp_path / "nope.xyz")])
    assert result.exit_code == 2
    assert "structure file not found" in result.output


def test_gap_aligns_a_defect_frame_to_the_pristine_frame_of_its_lattice(tmp_path):
    config, structures = _setup(tmp_path)
    result = CliRunner().invoke(app, ["gap", str(config), "--structures", str(structures)])
    assert result.exit_code == 0, result.output
    first, second = json.loads((tmp_path / "run" / "results" / "electronic" / "gap.json").read_text())["results"]
    assert first["edges"] == "cell" and second["edges"] == "aligned"
    assert abs(second["gap_ev"] - first["gap_ev"]) < 1e-9  # one pristine frame: its gap is the host gap
    assert abs(second["vbm_ev"] - (first["vbm_ev"] + second["alignment_ev"])) < 1e-9


def test_gap_without_a_pristine_frame_aligns_to_the_ideal_cell(tmp_path):
    config, structures = _setup(tmp_path)
    pristine = pristine_supercell("Ga", "As", 5.65, 16, "primitive")
    alone = tmp_path / "antisite.extxyz"
    write(str(alone), [make_defect(pristine, parse_defect("As_Ga", "Ga", "As"))], format="extxyz")
    both = json.loads(_gap_json(tmp_path, config, structures))["results"][1]
    only = json.loads(_gap_json(tmp_path, config, alone))["results"][0]
    assert only["edges"] == "aligned"
    assert abs(only["vbm_ev"] - both["vbm_ev"]) < 1e-6  # the ideal cell is the file's pristine frame
    cell_rule = tmp_path / "cell.toml"
    cell_rule.write_text(config.read_text() + "band_edges = \"cell\"\n")
    assert json.loads(_gap_json(tmp_path, cell_rule, alone))["results"][0]["edges"] == "cell"


def _gap_json(tmp_path, config, structures) -> str:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["gap", str(config), "--structures", str(structures), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return (out / "gap.json").read_text()
