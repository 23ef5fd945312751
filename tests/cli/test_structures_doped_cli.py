"""`thermodefect structures CONFIG --doped FILE` run as a user would, on a set doped wrote."""

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.io import read

FIXTURES = Path(__file__).parents[1] / "structures" / "fixtures"
GENERATOR = FIXTURES / "GaAs_defects_generator.json.gz"
GAAS_CONFIG = "[material]\ncation = 'Ga'\nanion = 'As'\n"
# doped name -> (name, site column) of every neutral defect in the fixture
EXPECTED = {
    "v_Ga": ("V_Ga", ""),
    "v_As": ("V_As", ""),
    "Ga_As": ("Ga_As", ""),
    "As_Ga": ("As_Ga", ""),
    "Ga_i_C3v": ("Ga_i", "C3v"),
    "Ga_i_Td_As2.45": ("Ga_i", "T_As"),
    "Ga_i_Td_Ga2.45": ("Ga_i", "T_Ga"),
    "As_i_C3v": ("As_i", "C3v"),
    "As_i_Td_As2.45": ("As_i", "T_As"),
    "As_i_Td_Ga2.45": ("As_i", "T_Ga"),
}


def run_cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "thermodefect.cli.main", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_doped_set_is_written_with_the_name_mapping(tmp_path):
    (tmp_path / "c.toml").write_text(GAAS_CONFIG)
    r = run_cli("structures", "c.toml", "--doped", str(GENERATOR), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "run" / "structures" / "doped"
    assert sorted(p.name for p in out.iterdir()) == sorted([f"16atoms-{k}.extxyz" for k in EXPECTED] + ["16atoms-pristine.extxyz"])
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[1:-1]}
    for doped_name, (name, site) in EXPECTED.items():
        atoms = read(out / f"16atoms-{doped_name}.extxyz")
        assert atoms.info["defect"] == name
        assert np.asarray(atoms.info["defect_site"]).shape == (3,)
        assert rows[doped_name][1] == name and (site in rows[doped_name] if site else len(rows[doped_name]) == 6)
    assert read(out / "16atoms-pristine.extxyz").info["defect"] == "pristine"
    assert r.stdout.splitlines()[0].startswith("doped name") and r.stdout.strip().endswith(f"wrote 11 files to {out}")


def test_doped_output_folder_option(tmp_path):
    (tmp_path / "c.toml").write_text(GAAS_CONFIG)
    r = run_cli("structures", "c.toml", "--doped", str(FIXTURES / "GaAs_As_Ga_0_defect_entry.json.gz"), "-o", "cells", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "cells").iterdir()) == ["16atoms-As_Ga.extxyz", "16atoms-pristine.extxyz"]
    assert not (tmp_path / "run").exists()


def write_charged_only(tmp_path: Path) -> str:
    data = json.loads(gzip.decompress(GENERATOR.read_bytes()))
    del data["defect_entries"]["v_Ga_0"]
    (tmp_path / "charged.json").write_text(json.dumps(data))
    return "charged.json"


@pytest.mark.parametrize(
    "config,doped,fragment",
    [
        (GAAS_CONFIG, "missing.json", "missing.json: file not found"),
        (GAAS_CONFIG, "c.toml", "not a JSON file"),
        ("[material]\ncation = 'Zn'\nanion = 'Se'\n[defects]\nnames = ['V_Zn']\n", str(GENERATOR), "not of ZnSe"),
        (GAAS_CONFIG, write_charged_only, "v_Ga has no neutral entry"),
    ],
)
def test_bad_doped_input_one_line_exit_2(tmp_path, config, doped, fragment):
    (tmp_path / "c.toml").write_text(config)
    doped = doped(tmp_path) if callable(doped) else doped
    r = run_cli("structures", "c.toml", "--doped", doped, cwd=tmp_path)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("error: ")
    assert fragment in r.stderr
    assert not (tmp_path / "run").exists()
