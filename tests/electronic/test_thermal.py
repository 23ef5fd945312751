"""Thermal statistics: means, broadening, block-averaged errors, files and plots."""

import csv
import json

import numpy as np
import pytest

from thermodefect.electronic import block_standard_error, plot_thermal, thermal_statistics, write_statistics
from thermodefect.electronic.levels import DefectLevel, GapResult

N_SAMPLES = 4096


def test_block_error_of_independent_samples_is_the_naive_one():
    x = np.random.default_rng(0).normal(size=N_SAMPLES)
    naive = x.std(ddof=1) / np.sqrt(N_SAMPLES)
    assert block_standard_error(x) == pytest.approx(naive, rel=0.35)


def test_block_error_grows_for_correlated_samples():
    rng = np.random.default_rng(1)
    phi = 0.9  # AR(1): error inflation sqrt((1+phi)/(1-phi)) ≈ 4.4
    x = np.zeros(N_SAMPLES)
    for t in range(1, N_SAMPLES):
        x[t] = phi * x[t - 1] + rng.normal()
    naive = x.std(ddof=1) / np.sqrt(N_SAMPLES)
    assert block_standard_error(x) > 2.5 * naive


def _result(gap, level):
    levels = [DefectLevel(level, level, gap - level, 1, 2.0, 0.5, 0.05)] if level is not None else []
    return GapResult(0.0, gap, gap, 0.0, gap, 10.0, levels, 8, "dense")


def test_statistics_files_and_plot(tmp_path):
    results = {300.0: [_result(1.0, 0.4), _result(1.2, 0.6)], 100.0: [_result(1.5, 0.5), _result(1.5, None), _result(1.5, 0.5)]}
    table = thermal_statistics(results)
    assert list(table) == [100.0, 300.0]
    assert table[300.0]["gap_ev"].mean == pytest.approx(1.1)
    assert table[300.0]["gap_ev"].std == pytest.approx(np.std([1.0, 1.2], ddof=1))
    assert table[100.0]["gap_ev"].std == 0.0
    assert table[100.0]["level_1_above_vbm_ev"].n == 2
    write_statistics(table, tmp_path / "s.json", tmp_path / "s.csv", label="As_Ga")
    rows = json.loads((tmp_path / "s.json").read_text())["rows"]
    assert {r["quantity"] for r in rows} == {"gap_ev", "vbm_ev", "cbm_ev", "level_1_above_vbm_ev"}
    with open(tmp_path / "s.csv") as fh:
        assert len(list(csv.DictReader(fh))) == len(rows)
    plot_thermal(table, tmp_path / "t.png")
    assert (tmp_path / "t.png").stat().st_size > 1000
