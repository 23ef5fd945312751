"""`thermodefect run` end to end on a tiny config, and kill-and-resume.

The reference here is the toy Slater-Koster tight-binding model: a fast
fake reference with a known Hamiltonian, declared as such. It exercises
every stage and file of the pipeline in seconds; the physics of the real
reference is tested in the stage tests.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CONFIG = Path(__file__).with_name("tiny_toy.toml")
RESULT_ATOL = 1e-6

EXPECTED_FILES = [
    "config.toml",
    "manifest.json",
    "data/forces.extxyz",
    "data/hamiltonians.h5",
    "structures/8atoms-pristine.extxyz",
    "structures/8atoms-As_Ga.extxyz",
    "structures/64atoms-As_Ga.extxyz",
    "models/ff/round-0/model-0.model",
    "models/ham/round-0/member-0",
    "models/ham/round-0/member-1",
    "models/ham/round-0/two_center_hamiltonian.json",
    "models/ham/round-0/member-0/two_center.json",
    "models/ham/overlap/two_center_overlap.json",
    "md/production-8atoms",
    "md/test-8atoms",
    "md/transfer-64atoms",
    "results/ff_al_summary.json",
    "results/hamiltonian_al.json",
    "results/accuracy.json",
    "results/validation.json",
    "results/thermal.json",
    "results/summary.json",
    "results/summary.csv",
    "report/index.html",
    "report/figures/gap_T.png",
    "report/figures/ham_learning_curve.png",
    "report/figures/bands_As_Ga.png",
    "report/figures/bands_pristine.png",
    "report/figures/vdos.png",
    "report/figures/rdf.png",
]
STAGES = ["structures", "forcefield_al", "production_md", "hamiltonian_al", "overlap_model", "predictions", "accuracy",
          "validation", "statistics", "report"]


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}


def _run(cwd, *extra):
    return subprocess.run([sys.executable, "-m", "thermodefect.cli.main", "run", "tiny.toml", *extra], cwd=cwd,
                          capture_output=True, text=True, timeout=900, env=_env())


def _setup(tmp_path):
    (tmp_path / "tiny.toml").write_text(CONFIG.read_text())
    return tmp_path / "run"


def _headline(run_dir):
    summary = json.loads((run_dir / "results" / "summary.json").read_text())
    thermal = [(r["cell_atoms"], r["defect"], r["temperature_k"], r["gap_mean_ev"], r["vbm_mean_ev"]) for r in summary["thermal"]]
    ham = [(r["round"], r["n_labels"], r["hamiltonian_mae_mev"]) for r in summary["hamiltonian"]["rounds"]]
    return thermal, ham


def _labels(run_dir):
    from ase.io import read

    frames = read(run_dir / "data" / "forces.extxyz", ":")
    keys = [f.info["structure_key"] for f in frames]
    shards = {p.name: p.stat().st_ino for p in (run_dir / "data" / "hamiltonians.h5.d").glob("*.h5")}
    return keys, shards


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    run_dir = _setup(tmp)
    result = _run(tmp)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def test_every_file_of_the_run_directory(finished_run):
    for rel in EXPECTED_FILES:
        assert (finished_run / rel).exists(), rel
    manifest = json.loads((finished_run / "manifest.json").read_text())
    assert [s for s in STAGES if manifest["stages"][s]["status"] == "done"] == STAGES


def test_summary_and_report_contents(finished_run):
    summary = json.loads((finished_run / "results" / "summary.json").read_text())
    assert {"config", "labels", "forcefield", "hamiltonian", "accuracy", "thermal", "validation"} <= set(summary)
    assert summary["labels"]["hamiltonian"] >= 4
    cells = {(r["cell_atoms"], r["defect"]) for r in summary["thermal"]}
    assert cells == {(8, "pristine"), (8, "As_Ga"), (64, "pristine"), (64, "As_Ga")}
    for row in summary["thermal"]:
        assert row["n_snapshots"] >= 1 and (row["gap_std_ev"] is None) == (row["n_snapshots"] == 1)
        assert row["edges"] == ("cell" if row["defect"] == "pristine" else "aligned")
        assert row["gap_model_std_ev"] is not None  # two ensemble members
    validation = summary["validation"]
    assert {(c["defect"], c["temperature_k"]) for c in validation["curves"]} == {("pristine", 300.0), ("As_Ga", 300.0)}
    # 4 predicted snapshots per (defect, T); those the Hamiltonian model trained on are not validated
    assert 0 < validation["overall"]["n_snapshots"] == 8 - validation["training_snapshots_left_out"] < 8
    assert {r["cell_atoms"] for r in summary["accuracy"]} == {8, 64}
    html = (finished_run / "report" / "index.html").read_text()
    assert "data:image/png;base64" in html and "Temperature dependence" in html


def test_validated_snapshots_are_held_out(finished_run):
    """The Hamiltonian model trains on frames of the production trajectories it is validated on: none of
    the validated snapshots may be one of its training structures, and each has its reference label."""
    from thermodefect.data.hamiltonians import HamiltonianDataset

    validation = json.loads((finished_run / "results" / "validation.json").read_text())
    split = json.loads((finished_run / "results" / "hamiltonian_training_keys.json").read_text())
    validated = [row["structure_key"] for row in validation["snapshots"]]
    assert validated and not set(validated) & set(split["training"])
    assert set(validated) <= set(HamiltonianDataset(finished_run / "data" / "hamiltonians.h5").keys())
    assert validation["training_snapshots_left_out"] >= 0


def test_overlap_predictor_is_the_hamiltonian_baselines_own(finished_run):
    """The overlap model file and the Hamiltonian's two-center baseline hold the same fit: loaded as one
    instance, so a structure's overlap blocks are computed once for S, the H baseline and its potential term."""
    from thermodefect.core.rundir import RunDirectory
    from thermodefect.settings import load_settings
    from thermodefect.workflow.context import PipelineContext
    from thermodefect.workflow.rundata import load_predictors

    run = RunDirectory(finished_run)
    ctx = PipelineContext(settings=load_settings(finished_run / "config.toml"), run=run, manifest=run.manifest, log=lambda m: None)
    ham, overlap = load_predictors(ctx)
    assert overlap is not None and overlap is ham.two_center.overlap


def test_rerun_does_nothing(finished_run):
    before = _labels(finished_run)
    result = _run(finished_run.parent)
    assert result.returncode == 0
    assert "done (skipped)" in result.stderr
    assert _labels(finished_run) == before


def test_status_command(finished_run):
    r = subprocess.run([sys.executable, "-m", "thermodefect.cli.main", "status", str(finished_run)], capture_output=True, text=True,
                       env=_env())
    assert r.returncode == 0
    assert "hamiltonian_al" in r.stdout and "eigenvalue_mae_mev" in r.stdout


def _kill_when(tmp, stage, delay_s):
    proc = subprocess.Popen([sys.executable, "-m", "thermodefect.cli.main", "run", "tiny.toml"], cwd=tmp,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    manifest = tmp / "run" / "manifest.json"
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        try:
            stages = json.loads(manifest.read_text())["stages"]
        except (OSError, ValueError, KeyError):
            stages = {}
        if stages.get(stage, {}).get("status") == "running":
            time.sleep(delay_s)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.05)
    proc.wait()
    return False


@pytest.mark.slow
def test_kill_and_resume_equals_uninterrupted(tmp_path, finished_run):
    run_dir = _setup(tmp_path)
    kills = 0
    for stage, delay in [("forcefield_al", 2.0), ("production_md", 0.5), ("hamiltonian_al", 1.5), ("predictions", 0.5)]:
        before_keys, before_shards = _labels(run_dir) if (run_dir / "data" / "forces.extxyz").exists() else ([], {})
        kills += _kill_when(tmp_path, stage, delay)
        keys, shards = _labels(run_dir) if (run_dir / "data" / "forces.extxyz").exists() else ([], {})
        assert len(keys) == len(set(keys)), "a structure was labelled twice"
        assert all(shards.get(name) == ino for name, ino in before_shards.items()), "a Hamiltonian label was recomputed"
    assert kills >= 3
    result = _run(tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    keys, _ = _labels(run_dir)
    assert len(keys) == len(set(keys))
    resumed, uninterrupted = _headline(run_dir), _headline(finished_run)
    assert [r[:3] for r in resumed[0]] == [r[:3] for r in uninterrupted[0]]
    for a, b in zip(resumed[0], uninterrupted[0]):
        assert a[3] == pytest.approx(b[3], abs=RESULT_ATOL) and a[4] == pytest.approx(b[4], abs=RESULT_ATOL)
    for a, b in zip(resumed[1], uninterrupted[1]):
        assert a[:2] == b[:2] and a[2] == pytest.approx(b[2], abs=RESULT_ATOL)


def test_two_workers_give_the_same_results_as_one(tmp_path, finished_run):
    """compute.workers = 2: MD trajectories, Hamiltonian ensemble members and snapshot predictions run in
    worker processes of one thread each. Same seeds, same one-thread arithmetic: the same numbers."""
    (tmp_path / "tiny.toml").write_text(CONFIG.read_text().replace("[compute]\nworkers = 1", "[compute]\nworkers = 2"))
    assert "workers = 2" in (tmp_path / "tiny.toml").read_text()
    result = _run(tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "worker processes" in result.stderr and "at once" in result.stderr
    parallel, serial = _headline(tmp_path / "run"), _headline(finished_run)
    assert [r[:3] for r in parallel[0]] == [r[:3] for r in serial[0]]
    for a, b in zip(parallel[0], serial[0]):
        assert a[3] == pytest.approx(b[3], abs=RESULT_ATOL) and a[4] == pytest.approx(b[4], abs=RESULT_ATOL)
    for a, b in zip(parallel[1], serial[1]):
        assert a[:2] == b[:2] and a[2] == pytest.approx(b[2], abs=RESULT_ATOL)
    stages = json.loads((tmp_path / "run" / "results" / "summary.json").read_text())["run"]["stages"]
    assert [row["stage"] for row in stages] == STAGES[:-1]  # the report stage writes the summary before it is done
    assert all(row["cpu_cores"] >= 1 and (row["cpu_busy_fraction"] is None or 0 <= row["cpu_busy_fraction"] <= 1)
               for row in stages)
