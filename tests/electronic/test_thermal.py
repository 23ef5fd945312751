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
    rows = [thermal_row(results[t], cell_atoms=8, defect="As_Ga", temperature_k=t) for t in (100.0, 300.0)]
    assert {k for k in rows[0] if k.endswith("_mean_ev")} == {"gap_mean_ev", "vbm_mean_ev", "cbm_mean_ev"}
    assert [r["n_snapshots"] for r in rows] == [3, 2]
    level = rows[0]["levels"][0]
    assert (level["label"], level["mean_ev"], level["std_ev"], level["n_snapshots"]) == ("level 1", 0.5, 0.0, 2)
    assert level["below_cbm_mean_ev"] == pytest.approx(1.0) and level["electrons_mean"] == 2.0
    assert level["model_std_ev"] is None  # no ensemble members in these results
    assert rows[0]["convergence"]["gap"] == [1.5, 1.5, 1.5]
    assert "level 1: found in 2 of 3 snapshots" in rows[0]["warnings"]
    assert any("too few to check their correlation" in w for w in rows[0]["warnings"])
    assert plot_thermal({"thermal": rows}, tmp_path / "t.png", "gap") is not None
    assert (tmp_path / "t.png").stat().st_size > 1000
    assert plot_thermal({"thermal": rows}, tmp_path / "l.png", "level") is not None


def _record(result: GapResult, members=None) -> dict:
    record = {"gap_ev": result.gap_ev, "vbm_ev": result.vbm_ev, "cbm_ev": result.cbm_ev, "edges": result.edges,
              "conduction_electrons": result.conduction_electrons, "valence_holes": result.valence_holes,
              "levels": [{"above_vbm_ev": lv.above_vbm_ev, "below_cbm_ev": lv.below_cbm_ev, "electrons": lv.electrons}
                         for lv in result.levels]}
    if members is not None:
        record["members"] = [_record(m) for m in members]
    return record


def test_row_of_snapshot_records_matches_the_row_of_results():
    """The JSON records of results/snapshots/*.json give the same row as the GapResults they came from."""
    results = [_result(1.0, 0.4), _result(1.2, None), _result(1.1, 0.5)]
    assert thermal_row([_record(r) for r in results], defect="x") == thermal_row(results, defect="x")
    empty = thermal_row([], defect="x")
    assert empty["n_snapshots"] == 0 and empty["levels"] == []


def test_one_snapshot_has_no_spread_and_says_so():
    row = thermal_row([_result(1.0, 0.4)], defect="x")
    assert row["gap_mean_ev"] == 1.0
    assert row["gap_std_ev"] is None and row["gap_sem_ev"] is None and row["gap_uncertainty_ev"] is None
    assert row["warnings"] == ["one snapshot: no thermal broadening and no statistical error can be given"]


def test_ensemble_spread_enters_the_combined_uncertainty():
    """Member means 1.0, 1.1, 1.2 (std 0.1) and a snapshot SEM combine in quadrature."""
    snapshots = []
    for gap in (1.0, 1.2, 1.1, 1.3):
        members = [_result(gap + shift, None) for shift in (-0.1, 0.0, 0.1)]
        snapshots.append(_record(_result(gap, None), members))
    stats = snapshot_statistics(snapshots)
    assert stats["gap_ev"].model_std == pytest.approx(0.1)
    row = thermal_row(snapshots, defect="x")
    assert row["gap_model_std_ev"] == pytest.approx(0.1)
    assert row["gap_uncertainty_ev"] == pytest.approx(np.hypot(row["gap_sem_ev"], 0.1))


def test_correlated_snapshots_count_as_fewer_independent_ones():
    rng = np.random.default_rng(3)
    x = np.zeros(256)
    for t in range(1, len(x)):
        x[t] = 0.95 * x[t - 1] + rng.normal()
    row = thermal_row([_result(1.0 + 0.01 * v, None) for v in x], defect="x")
    assert row["gap_n_independent"] < 0.3 * len(x)
    independent = thermal_row([_result(1.0 + 0.01 * v, None) for v in rng.normal(size=256)], defect="x")
    assert independent["gap_n_independent"] > 0.5 * 256
    few = thermal_row([_result(1.0 + 0.01 * v, None) for v in x[:12]], defect="x")
    assert any("independent snapshots" in w for w in few["warnings"]) == (few["gap_n_independent"] < 4)
