"""The validation stage's comparison of model and reference on the same snapshots (synthetic results)."""

import pytest

from thermodefect.workflow.steps.validation import compare_snapshot, curves, level_errors, per_defect


def _side(gap, vbm, levels):
    return {"gap_ev": gap, "vbm_ev": vbm, "cbm_ev": vbm + gap, "conduction_electrons": 0.0, "valence_holes": 0.0,
            "levels": [{"above_vbm_ev": x, "below_cbm_ev": gap - x, "electrons": 2.0, "degeneracy": 1} for x in levels]}


def test_each_reference_level_is_matched_to_the_nearest_model_level():
    errors, missing = level_errors(_side(0.7, -6.0, [0.2, 0.5]), _side(0.7, -6.0, [0.21]))
    assert errors == [pytest.approx(10.0), pytest.approx(290.0)] and missing == 1
    assert level_errors(_side(0.7, -6.0, [0.2]), _side(0.7, -6.0, [])) == ([], 1)


def test_curves_and_per_defect_mae_over_temperature():
    rows = [compare_snapshot(_side(0.70, -6.00, [0.20]), _side(0.71, -6.02, [0.23]), defect="As_Ga", temperature_k=100.0,
                             cell_atoms=64, frame=0),
            compare_snapshot(_side(0.66, -6.00, [0.18]), _side(0.64, -6.01, [0.17]), defect="As_Ga", temperature_k=300.0,
                             cell_atoms=64, frame=3),
            compare_snapshot(_side(0.62, -6.00, [0.16]), _side(0.65, -6.00, [0.16]), defect="As_Ga", temperature_k=300.0,
                             cell_atoms=64, frame=5)]
    assert rows[0]["gap_error_mev"] == pytest.approx(10.0) and rows[0]["vbm_error_mev"] == pytest.approx(20.0)
    by_t = {c["temperature_k"]: c for c in curves(rows)}
    assert by_t[300.0]["n_snapshots"] == 2
    assert by_t[300.0]["reference_gap_mean_ev"] == pytest.approx(0.64) and by_t[300.0]["model_gap_mean_ev"] == pytest.approx(0.645)
    assert by_t[300.0]["gap_mae_mev"] == pytest.approx(25.0) and by_t[300.0]["level_mae_mev"] == pytest.approx(5.0)
    assert by_t[100.0]["reference_level_std_ev"] is None  # one snapshot: no spread
    (summary,) = per_defect(rows)
    assert summary["n_snapshots"] == 3 and summary["gap_mae_mev"] == pytest.approx(20.0)
    assert summary["level_mae_mev"] == pytest.approx((30.0 + 10.0 + 0.0) / 3) and summary["missing_levels"] == 0
