"""`thermodefect init / validate / structures` run as a user would."""

import subprocess
import sys

import numpy as np
import pytest
from ase.io import read

PAPER_DEFECTS = ["As_i", "Ga_i", "V_As", "V_Ga", "As_Ga"]


def run_cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "thermodefect.cli.main", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_init_then_structures_writes_all_paper_defects(tmp_path):
    r = run_cli("init", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "thermodefect.toml").read_text()
    assert "#" in text  # commented
    r = run_cli("validate", "thermodefect.toml", cwd=tmp_path)
    assert r.returncode == 0 and "valid" in r.stdout
    r = run_cli("structures", "thermodefect.toml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "run" / "structures"
    for name in PAPER_DEFECTS + ["pristine"]:
        for n in (128, 250, 432):
            atoms = read(out / f"{n}atoms-{name}.extxyz")
            expected = n + (1 if name.endswith("_i") else -1 if name.startswith("V_") else 0)
            assert len(atoms) == expected
            assert atoms.info["defect"] == name
            if name != "pristine":
                assert np.asarray(atoms.info["defect_site"]).shape == (3,)
    assert "As_i" in r.stdout and "T_Ga" in r.stdout


def test_init_demo_refuses_overwrite(tmp_path):
    assert run_cli("init", "--demo", cwd=tmp_path).returncode == 0
    r = run_cli("init", "--demo", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "--force" in r.stderr


@pytest.mark.parametrize(
    "config,fragment",
    [
        ("[md]\ntimestep = 2\n", "md.timestep: unknown key"),
        ("[temperatures]\nproduction_k = [-5.0]\n", "production_k"),
        ("[defects]\nnames = ['Xe_i']\n", "Xe_i"),
        ("[supercells\n", "not valid TOML"),
        ("[material]\nstructure_file = 'nowhere.cif'\n", "not found"),
    ],
)
def test_bad_config_one_line_exit_2(tmp_path, config, fragment):
    (tmp_path / "bad.toml").write_text(config)
    r = run_cli("structures", "bad.toml", cwd=tmp_path)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert fragment in r.stderr
    assert not (tmp_path / "run").exists()


def test_structure_file_with_wrong_species(tmp_path):
    from ase.build import bulk

    bulk("Si", "diamond", a=5.43, cubic=True).write(tmp_path / "si.cif")
    (tmp_path / "c.toml").write_text("[material]\nstructure_file = 'si.cif'\n")
    r = run_cli("structures", "c.toml", cwd=tmp_path)
    assert r.returncode == 2 and "do not match" in r.stderr
