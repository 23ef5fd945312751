"""Executors: results, failures and timeouts come back per item, none is fatal."""

import time

import pytest

from thermodefect.settings import ComputeSettings, ParslSettings
from thermodefect.core.executors import LocalExecutor, ParslExecutor, TaskTimeout, get_executor


# Workers import the task function by name, so tests use importable builtins:
# int("x") raises ValueError, time.sleep(t) sleeps.
ITEMS = ["0", "1", "2", "x", "4"]


@pytest.mark.parametrize("workers", [1, 2])
def test_local_map_returns_results_and_exceptions(workers):
    with LocalExecutor(workers) as ex:
        out = dict(ex.map(int, ITEMS))
    assert {k: v for k, v in out.items() if k != "x"} == {"0": 0, "1": 1, "2": 2, "4": 4}
    assert isinstance(out["x"], ValueError)


@pytest.mark.parametrize("workers", [1, 2])
def test_local_timeout_is_reported_per_task(workers):
    with LocalExecutor(workers) as ex:
        out = dict(ex.map(time.sleep, [0.01, 3.0], timeout_s=0.5))
    assert out[0.01] is None
    assert isinstance(out[3.0], TaskTimeout)


def test_get_executor_picks_local():
    assert isinstance(get_executor(ComputeSettings(engine="local", workers=1)), LocalExecutor)


def test_parsl_local_executor_runs_a_small_map(tmp_path):
    ex = ParslExecutor(ParslSettings(provider="local"), workers=2, run_dir=tmp_path / "runinfo")
    try:
        out = dict(ex.map(int, ITEMS))
    finally:
        ex.close()
    assert out["4"] == 4 and isinstance(out["x"], ValueError)
