"""``thermodefect label`` as a user runs it."""

from ase.build import bulk
from ase.io import write
from typer.testing import CliRunner

from thermodefect.cli.main import app
from thermodefect.data.forces import ForcesDataset

CONFIG = """
[run]
directory = "{run}"
[reference.forces]
name = "ase"
options = {{ calculator = "ase.calculators.emt.EMT" }}
[compute]
workers = 1
"""


def test_label_command_writes_dataset_and_summary(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(CONFIG.format(run=tmp_path / "run"))
    frames = [bulk("Cu", "fcc", a=3.6, cubic=True) for _ in range(2)]
    frames[1].rattle(0.05, seed=1)
    write(tmp_path / "s.extxyz", frames)
    result = CliRunner().invoke(app, ["label", str(config), "--structures", str(tmp_path / "s.extxyz"), "--what", "forces", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "new 2" in result.output and "failed 0" in result.output
    assert len(ForcesDataset(tmp_path / "run" / "data" / "forces.extxyz")) == 2
    again = CliRunner().invoke(app, ["label", str(config), "--structures", str(tmp_path / "s.extxyz"), "--what", "forces", "--quiet"])
    assert "new 0" in again.output and "skipped 2" in again.output


def test_unreadable_structures_file_is_one_line_error(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(CONFIG.format(run=tmp_path / "run"))
    bad = tmp_path / "bad.extxyz"
    bad.write_text("this is not a structure\n")
    result = CliRunner().invoke(app, ["label", str(config), "--structures", str(bad)])
    assert result.exit_code == 2
    assert result.output.strip().startswith("error:") and len(result.output.strip().splitlines()) == 1
