"""SIGKILL ``thermodefect label`` mid-labelling, resume: no label computed twice, none lost."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

from ase.io import read, write

from thermodefect.data.forces import ForcesDataset
from thermodefect.data.hamiltonians import HamiltonianDataset
from thermodefect.core.keys import structure_key
from thermodefect.reference.labelling import label_structures
from thermodefect.settings import ReferenceSettings
from thermodefect.core.rundir import RunDirectory

from .helpers import CLI, assert_datasets_match_clean, faulty_reference, rattled_gaas, run_cli, toml_reference_block

N_STRUCTURES = 14
N_KILLS = 3
DELAY_S = 0.3  # per calculation: slow enough to kill between labels
WAIT_LIMIT_S = 90.0


def _config(tmp_path):
    reference = faulty_reference(0.0, delay_s=DELAY_S, retries=0, timeout_s=30.0)
    text = f'[run]\ndirectory = "{tmp_path / "run"}"\n[compute]\nworkers = 1\n'
    text += toml_reference_block("forces", reference) + toml_reference_block("hamiltonian", reference)
    path = tmp_path / "label.toml"
    path.write_text(text)
    return path


def _complete_keys(run) -> set[str]:
    forces = set(ForcesDataset(run.forces_dataset).keys())
    return forces & set(HamiltonianDataset(run.hamiltonian_dataset).keys())


def _frames_on_disk(run) -> int:
    return run.forces_dataset.read_text().count("REF_energy") if run.forces_dataset.exists() else 0


def test_sigkill_label_and_resume_loses_and_repeats_nothing(tmp_path):
    frames = rattled_gaas(N_STRUCTURES, seed=5)
    write(tmp_path / "s.extxyz", frames)
    frames = read(tmp_path / "s.extxyz", index=":")  # keys of what the command reads (8-decimal positions)
    config = _config(tmp_path)
    run = RunDirectory(tmp_path / "run")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    kills = 0
    for _ in range(N_KILLS):
        start = _frames_on_disk(run)
        proc = subprocess.Popen(CLI + ["label", str(config), "-s", str(tmp_path / "s.extxyz"), "--quiet"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + WAIT_LIMIT_S
        while _frames_on_disk(run) < start + 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(DELAY_S / 2)  # land inside a calculation or a write
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        ForcesDataset(run.forces_dataset).read()  # readable after every kill
        HamiltonianDataset(run.hamiltonian_dataset).keys()
    assert kills == N_KILLS, "labelling finished before it could be killed; raise N_STRUCTURES or DELAY_S"
    complete_before = _complete_keys(run)
    assert 0 < len(complete_before) < N_STRUCTURES

    result = run_cli(["label", config, "-s", tmp_path / "s.extxyz", "--quiet"])
    assert result.returncode == 0, result.stderr
    new, skipped = map(int, re.search(r"new (\d+)\s+skipped (\d+)", result.stdout).groups())
    assert skipped == len(complete_before)
    assert new == N_STRUCTURES - len(complete_before)

    clean = RunDirectory.create(tmp_path / "clean", "clean\n")
    label_structures(frames, ReferenceSettings(name="toy", options={}), clean, progress=False)
    assert_datasets_match_clean(run, clean, {structure_key(a) for a in frames})
