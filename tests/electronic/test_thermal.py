"""Thermal statistics: means, broadening, block-averaged errors, thermal.json rows and their figure."""

import numpy as np
import pytest

from thermodefect.electronic import block_standard_error, snapshot_statistics, thermal_row, thermal_statistics
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


def test_statistics_rows_and_plot(tmp_path):
    from thermodefect.report.figures import plot_thermal

    results = {300.0: [_result(1.0, 0.4), _result(1.2, 0.6)], 100.0: [_result(1.5, 0.5), _result(1.5, None), _result(1.5, 0.5)]}
    table = thermal_statistics(results)
    assert list(table) == [100.0, 300.0]
    assert table[300.0]["gap_ev"].mean == pytest.approx(1.1)
    assert table[300.0]["gap_ev"].std == pytest.approx(np.std([1.0, 1.2], ddof=1))
    assert table[100.0]["gap_ev"].std == 0.0
    assert table[100.0]["level_1_above_vbm_ev"].n == 2
    rows = [thermal_row(stats, cell_atoms=8, defect="As_Ga", temperature_k=t) for t, stats in table.items()]
    assert {k for k in rows[0] if k.endswith("_mean_ev")} == {"gap_mean_ev", "vbm_mean_ev", "cbm_mean_ev"}
    assert [r["n_snapshots"] for r in rows] == [3, 2]
    assert rows[0]["levels"] == [{"label": "level 1", "mean_ev": 0.5, "std_ev": 0.0, "sem_ev": pytest.approx(0.0),
                                  "relative_to": "VBM", "n_snapshots": 2}]
    assert plot_thermal({"thermal": rows}, tmp_path / "t.png", "gap") is not None
    assert (tmp_path / "t.png").stat().st_size > 1000
    assert plot_thermal({"thermal": rows}, tmp_path / "l.png", "level") is not None


def test_row_of_snapshot_records_matches_the_row_of_results():
    """The JSON records of results/snapshots/*.json give the same row as the GapResults they came from."""
    results = [_result(1.0, 0.4), _result(1.2, None), _result(1.1, 0.5)]
    records = [{"gap_ev": r.gap_ev, "vbm_ev": r.vbm_ev, "cbm_ev": r.cbm_ev,
                "levels": [{"above_vbm_ev": lv.above_vbm_ev} for lv in r.levels]} for r in results]
    assert thermal_row(snapshot_statistics(records), defect="x") == thermal_row(snapshot_statistics(results), defect="x")
    empty = thermal_row(snapshot_statistics([]), defect="x")
    assert empty["n_snapshots"] == 0 and empty["levels"] == []
