"""Parsl (HighThroughputExecutor + LocalProvider): a worker killed mid-task is retried, labels land exactly once."""

from __future__ import annotations

import json

import pytest

from thermodefect.core.keys import structure_key
from thermodefect.reference.faults import injected_fault
from thermodefect.reference.labelling import label_structures
from thermodefect.settings import ParslSettings, ReferenceSettings
from thermodefect.core.executors import ParslExecutor
from thermodefect.core.rundir import RunDirectory

from .helpers import assert_datasets_match_clean, faulty_reference, rattled_gaas

N_STRUCTURES = 8
KILL_RATE = 0.3
RETRIES = 4
SEED = 5


@pytest.mark.slow
def test_killed_parsl_worker_is_retried_and_labels_land_once(tmp_path):
    frames = rattled_gaas(N_STRUCTURES, seed=8)
    keys = [structure_key(a) for a in frames]
    kills = {k: [injected_fault(SEED, k, a, KILL_RATE, ("kill_worker",)) for a in range(1, RETRIES + 2)] for k in keys}
    n_killed = sum(1 for k in keys if kills[k][0])
    assert n_killed >= 1, "choose a seed that kills at least one worker"
    assert all(None in v for v in kills.values()), "every structure must succeed within the retries"

    clean = RunDirectory.create(tmp_path / "clean", "clean\n")
    label_structures(frames, ReferenceSettings(name="toy", options={}), clean, progress=False)
    run = RunDirectory.create(tmp_path / "run", "parsl\n")
    reference = faulty_reference(KILL_RATE, seed=SEED, kinds=("kill_worker",), retries=RETRIES, timeout_s=60.0)
    executor = ParslExecutor(ParslSettings(provider="local"), workers=2, run_dir=tmp_path / "runinfo")
    try:
        report = label_structures(frames, reference, run, executor=executor, progress=False)
    finally:
        executor.close()

    assert report.n_new == N_STRUCTURES and report.n_failed == 0
    failures = [json.loads(line) for line in run.failures.read_text().splitlines()]
    expected_lines = sum(v.index(None) for v in kills.values())
    assert len(failures) == expected_lines
    assert {f["key"] for f in failures} == {k for k in keys if kills[k][0]}
    assert_datasets_match_clean(run, clean, set(keys))
