"""Loading summary.json: one-line errors, flattening to CSV."""

import csv
import io
import json

import pytest

from thermodefect.report.summary import (
    ACCURACY_CSV_COLUMNS,
    THERMAL_CSV_COLUMNS,
    VALIDATION_CSV_COLUMNS,
    ReportInputError,
    load_summary,
    thermal_long_rows,
    training_cell_atoms,
    write_result_csvs,
)

ATOL_EV = 1e-12


def test_load_summary_round_trips(run_dir, summary):
    assert load_summary(run_dir) == summary


@pytest.mark.parametrize(
    "content,fragment",
    [
        (None, "not found"),
        ("{ not json", "malformed JSON"),
        ("[1, 2]", "JSON object"),
        ('{"run": {}}', "'config'"),
        ('{"config": {}, "thermal": {"gap": 1}}', "'thermal' must be a list"),
        ('{"config": {}, "labels": [1]}', "'labels' must be an object"),
        ('{"config": {}, "accuracy": [3]}', "every entry of 'accuracy'"),
        ('{"config": {}, "validation": [1]}', "'validation' must be an object"),
        ('{"config": {}, "validation": {"curves": [1]}}', "'validation.curves' must be a list of objects"),
        ('{"config": {}, "validation": {"summary": {}}}', "'validation.summary' must be a list of objects"),
        ('{"config": {}, "validation": {"overall": [1]}}', "'validation.overall' must be an object"),
    ],
)
def test_bad_summary_raises_one_line(make_run, content, fragment):
    root = make_run(None)
    if content is not None:
        (root / "results" / "summary.json").write_text(content)
    with pytest.raises(ReportInputError) as err:
        load_summary(root)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_directory(tmp_path):
    with pytest.raises(ReportInputError, match="not a directory"):
        load_summary(tmp_path / "nowhere")


def test_training_cell_atoms(summary):
    assert training_cell_atoms(summary) == summary["config"]["supercells"]["training_atoms"]
    assert training_cell_atoms({"config": {}}) is None


def test_thermal_rows_cover_every_quantity(summary):
    rows = thermal_long_rows(summary)
    below_cbm = sum(1 for t in summary["thermal"] for lv in t["levels"] if "below_cbm_mean_ev" in lv)
    expected = sum(3 + len(t["levels"]) for t in summary["thermal"]) + below_cbm
    assert below_cbm and len(rows) == expected
    first = summary["thermal"][0]
    gap = next(r for r in rows if r["quantity"] == "gap")
    assert gap["mean_ev"] == pytest.approx(first["gap_mean_ev"], abs=ATOL_EV)
    assert gap["sem_ev"] == pytest.approx(first["gap_sem_ev"], abs=ATOL_EV)
    level = next(r for r in rows if r["quantity"].startswith("level:"))
    assert level["quantity"] == f"level:{first['levels'][0]['label']}"
    assert level["std_ev"] == pytest.approx(first["levels"][0]["std_ev"], abs=ATOL_EV)
    assert level["relative_to"] == "VBM"


def test_csv_files_parse_back(run_dir, summary):
    thermal_csv, accuracy_csv, _ = write_result_csvs(run_dir, summary)
    thermal = list(csv.DictReader(io.StringIO(thermal_csv.read_text())))
    assert tuple(thermal[0]) == THERMAL_CSV_COLUMNS
    assert len(thermal) == len(thermal_long_rows(summary))
    # the hostile level label survives CSV quoting intact
    labels = {row["quantity"] for row in thermal}
    assert f"level:{summary['thermal'][-1]['levels'][0]['label']}" in labels
    accuracy = list(csv.DictReader(io.StringIO(accuracy_csv.read_text())))
    assert tuple(accuracy[0]) == ACCURACY_CSV_COLUMNS
    assert [float(a["gap_mae_mev"]) for a in accuracy] == [a["gap_mae_mev"] for a in summary["accuracy"]]
    assert accuracy[1]["level_mae_mev"] == ""  # null level error -> empty cell


def test_csv_of_empty_summary_has_headers_only(make_run):
    root = make_run({"config": {}})
    thermal_csv, accuracy_csv, validation_csv = write_result_csvs(
        root, json.loads((root / "results" / "summary.json").read_text()))
    assert thermal_csv.read_text().strip() == ",".join(THERMAL_CSV_COLUMNS)
    assert accuracy_csv.read_text().strip() == ",".join(ACCURACY_CSV_COLUMNS)
    assert validation_csv.read_text().strip() == ",".join(VALIDATION_CSV_COLUMNS)
