"""Temperature dependence and validation: uncertainties, one-snapshot rows, older rows, warnings, figures, CSVs."""

import csv
import io
import re

import pytest
from matplotlib.collections import PolyCollection

from thermodefect.report import write_report, write_result_csvs
from .conftest import TRAINING_ATOMS, TRANSFER_ATOMS
from thermodefect.report.figures import REGISTRY
from thermodefect.report.sections import temperature_dependence, validation
from thermodefect.report.summary import THERMAL_CSV_COLUMNS, VALIDATION_CSV_COLUMNS
from thermodefect.report.thermal_figures import (
    CONVERGENCE_FEW_ROWS,
    convergence_figure,
    convergence_rows,
    level_below_cbm_figure,
    validation_figure,
)

ATOL_EV = 1e-12
NAN_WORD = re.compile(r"\bnan\b", re.IGNORECASE)
DATA_URI = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")
ALIGNED_TEXT = ("host band edges = pristine edges of the same cell size and temperature, shifted by the on-site "
                "potential alignment")
ONE_SNAPSHOT_WARNING = "one snapshot: no thermal broadening and no statistical error can be given"
CONFIG = {"supercells": {"training_atoms": 64, "production_atoms": 64, "transfer_atoms": [216]},
          "defects": {"names": ["Si_Ga", "As_Ga"]}}


def _sections(page: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="([\w-]+)">(.*?)</section>', page, flags=re.S))


def _stats(prefix: str, mean, std=None, sem=None, model_std=None, uncertainty=None, n_independent=None) -> dict:
    values = {"mean_ev": mean, "std_ev": std, "sem_ev": sem, "model_std_ev": model_std, "uncertainty_ev": uncertainty,
              "n_independent": n_independent}
    return {prefix + key: value for key, value in values.items()}


def one_snapshot_row(**changes) -> dict:
    """A row as the statistics stage writes it for a single snapshot: no spread, no SEM, no n_eff (null)."""
    level = {"label": "level 1", "relative_to": "VBM", "n_snapshots": 1, **_stats("", 0.412),
             **_stats("below_cbm_", 0.501), "electrons_mean": 1.0}
    row = {"cell_atoms": 64, "defect": "Si_Ga", "temperature_k": 300.0, "set": "production", "edges": "aligned",
           "n_snapshots": 1, **_stats("gap_", 0.913), **_stats("vbm_", -5.331), **_stats("cbm_", -4.418),
           "conduction_electrons_mean": 1.0, "valence_holes_mean": 0.0, "levels": [level],
           "convergence": {"gap": [0.913], "level_1_below_cbm": [0.501]}, "warnings": [ONE_SNAPSHOT_WARNING]}
    row.update(changes)
    return row


def thermal_row(defect: str, temperature_k: float, cell_atoms: int, gap: float, below_cbm: float | None = None,
                running=(0.9, 0.8), set_name: str = "production") -> dict:
    """A many-snapshot row with a combined uncertainty; level 1 when ``below_cbm`` is given."""
    levels = []
    if below_cbm is not None:
        levels = [{"label": "level 1", "relative_to": "VBM", "n_snapshots": 12,
                   **_stats("", gap - below_cbm, 0.031, 0.0062, 0.0043, 0.0075, 11.7),
                   **_stats("below_cbm_", below_cbm, 0.035, 0.0066, 0.0047, 0.0081, 11.2), "electrons_mean": 2.0}]
    return {"cell_atoms": cell_atoms, "defect": defect, "temperature_k": temperature_k, "set": set_name,
            "edges": "aligned", "n_snapshots": 12, **_stats("gap_", gap, 0.024, 0.0049, 0.0031, 0.0058, 12.0),
            **_stats("vbm_", -5.4, 0.011, 0.0021, 0.0012, 0.0024, 12.0),
            **_stats("cbm_", -5.4 + gap, 0.013, 0.0024, 0.0015, 0.0028, 12.0),
            "conduction_electrons_mean": 0.0, "valence_holes_mean": 0.0, "levels": levels,
            "convergence": {"gap": list(running), **({"level_1_below_cbm": list(running)} if levels else {})},
            "warnings": []}


def _page_text(page: str) -> str:
    """The page without its embedded images (base64 text may spell anything)."""
    return DATA_URI.sub("", page)


# --- temperature-dependence tables ---------------------------------------------------------------------------------


def test_one_snapshot_row_shows_the_mean_and_no_spread(make_run):
    root = make_run({"config": CONFIG, "thermal": [one_snapshot_row()]})
    page = write_report(root).read_text()
    thermal = _sections(page)["thermal"]
    assert "<td>Si_Ga</td><td>300</td><td>1</td><td>0.913</td><td>n/a (1 snapshot)</td><td>n/a (1 snapshot)</td>" \
        in thermal
    assert "<td>level 1</td><td>1</td><td>0.412</td><td>n/a (1 snapshot)</td>" in thermal
    assert "<td>0.501</td><td>n/a (1 snapshot)</td><td>1.00</td>" in thermal  # below the CBM, electrons
    assert "± 0.000" not in thermal and "±0.000" not in thermal
    assert not NAN_WORD.search(_page_text(page))
    assert ONE_SNAPSHOT_WARNING in thermal
    assert (root / "report" / "figures" / "gap_T.png").is_file()  # null spreads draw as zero-width bars


def test_one_snapshot_row_of_an_older_run_hides_its_zero_spread_and_nan_sem():
    row = {"cell_atoms": 64, "defect": "As_Ga", "temperature_k": 300.0, "n_snapshots": 1, "gap_mean_ev": 0.877,
           "gap_std_ev": 0.0, "gap_sem_ev": float("nan"), "vbm_mean_ev": -5.3, "vbm_std_ev": 0.0, "cbm_mean_ev": -4.423,
           "cbm_std_ev": 0.0, "levels": [{"label": "a1", "mean_ev": 0.21, "std_ev": 0.0, "sem_ev": float("nan"),
                                          "relative_to": "VBM"}]}
    _, _, body = temperature_dependence({"config": CONFIG, "thermal": [row]})
    assert "<td>0.877</td><td>n/a (1 snapshot)</td><td>n/a (1 snapshot)</td>" in body
    assert "<td>a1</td><td>1</td><td>0.210</td><td>n/a (1 snapshot)</td>" in body
    assert not NAN_WORD.search(body) and "± 0.000" not in body


def test_one_snapshot_row_with_an_ensemble_shows_the_ensemble_spread():
    row = one_snapshot_row(**_stats("gap_", 0.913, model_std=0.0044, uncertainty=0.0044))
    _, _, body = temperature_dependence({"config": CONFIG, "thermal": [row]})
    assert "<td>0.913 ± 0.0044</td><td>n/a (1 snapshot)</td><td>n/a (1 snapshot)</td><td>0.0044</td>" in body


def test_means_carry_the_combined_uncertainty_and_broadening(summary):
    _, _, body = temperature_dependence(summary)
    # gap: mean ± u, σ, SEM, ensemble spread, n_eff
    assert "<td>0.689 ± 0.0367</td><td>0.043</td><td>0.0363</td><td>0.0052</td><td>1.4</td>" in body
    assert "<td>0.654 ± 0.0113</td><td>0.043</td><td>2.00</td>" in body  # transfer level below the CBM
    assert "ε − VBM (eV): mean ± u" in body and "CBM − ε (eV): mean ± u" in body and "gap σ (eV)" in body


def test_definitions_and_band_edge_method_are_in_the_text(summary):
    _, _, body = temperature_dependence(summary)
    assert "u = sqrt(SEM² + s_ens²)" in body and "block averaging" in body
    assert "standard deviation over the Hamiltonian ensemble members of each member's thermal mean" in body
    assert "n_eff</b> = σ²/SEM²" in body
    assert body.count(ALIGNED_TEXT) == 2  # one per cell size
    cell = [dict(summary["thermal"][0], edges="cell")]
    _, _, body = temperature_dependence({"config": summary["config"], "thermal": cell})
    assert "delocalized states of the defect cell itself" in body and ALIGNED_TEXT not in body
    odd = [dict(summary["thermal"][0], edges="<b>odd</b>")]
    assert "host band edges: &lt;b&gt;odd&lt;/b&gt;" in temperature_dependence({"config": {}, "thermal": odd})[2]


@pytest.mark.parametrize(
    "electrons, holes, text",
    [
        (1.0, 0.0, "shallow donor: 1.00 electron in host conduction states"),
        (0.0, 0.5, "shallow acceptor: 0.50 holes in host valence states"),
        (2.0, 1.0, "shallow donor: 2.00 electrons in host conduction states<br>shallow acceptor: 1.00 hole in host "
                   "valence states"),
        (1e-9, 0.0, "<td>none</td>"),
    ],
)
def test_host_carriers_shown_when_nonzero(electrons, holes, text):
    row = thermal_row("Si_Ga", 300.0, 64, 0.95)
    row.update(conduction_electrons_mean=electrons, valence_holes_mean=holes)
    _, _, body = temperature_dependence({"config": CONFIG, "thermal": [row]})
    assert text in body


def test_warnings_listed_under_the_table_of_their_cell(page_of_fixture):
    thermal = _sections(page_of_fixture)["thermal"]
    warnings = re.findall(r'<div class="warnings">(.*?)</div>', thermal, flags=re.S)
    # The 128-atom table's thermal warning, and the 250-atom transfer cell, which the fixture never compares
    # with the reference.
    assert len(warnings) == 2
    assert "<li>As_Ga, 300 K: gap: mean rests on 1.4 independent snapshots (of 50)" in warnings[0]
    assert "250 atoms): no snapshot of this cell size was compared with the reference" in warnings[1]
    assert thermal.index("128 atoms") < thermal.index('class="warnings"') < thermal.index("250 atoms")


def test_rows_of_an_older_run_render_without_the_new_fields(make_run, summary):
    old = [{k: v for k, v in t.items() if k in ("cell_atoms", "defect", "temperature_k", "n_snapshots", "gap_mean_ev",
                                                "gap_std_ev", "gap_sem_ev", "vbm_mean_ev", "vbm_std_ev", "cbm_mean_ev",
                                                "cbm_std_ev")}
           | {"levels": [{k: lv[k] for k in ("label", "mean_ev", "std_ev", "sem_ev", "relative_to")}
                         for lv in t["levels"]]}
           for t in summary["thermal"]]
    root = make_run({"config": summary["config"], "thermal": old})
    page = write_report(root).read_text()
    thermal = _sections(page)["thermal"]
    assert "<td>0.731 ± 0.0030</td><td>0.021</td><td>0.0030</td><td>—</td><td>—</td>" in thermal  # u falls back to SEM
    assert "<td>level 1</td><td>50</td><td>0.152 ± 0.0048</td>" in thermal
    assert "host band edges" not in thermal and 'class="warnings"' not in thermal
    assert "not run" in _sections(page)["validation"]
    figures = {p.name for p in (root / "report" / "figures").glob("*.png")}
    assert {"gap_T.png", "level_T.png"} <= figures
    assert not {"level_below_cbm_T.png", "convergence.png", "validation_T.png"} & figures
    rows = list(csv.DictReader(io.StringIO((root / "results" / "summary.csv").read_text())))
    assert rows[0]["uncertainty_ev"] == "" and rows[0]["set"] == "production" and rows[0]["edges"] == ""
    assert not any(r["quantity"].startswith("level_below_cbm:") for r in rows)


def test_no_nan_anywhere_in_the_full_report(page_of_fixture):
    assert not NAN_WORD.search(_page_text(page_of_fixture))


@pytest.fixture
def page_of_fixture(run_dir) -> str:
    return write_report(run_dir).read_text()


# --- validation section ---------------------------------------------------------------------------------------------


def test_validation_section_absent_says_not_run(make_run, summary):
    assert validation({"config": {}})[2] is None
    assert validation({"config": {}, "validation": {"edges": "aligned", "curves": [], "summary": []}})[2] is None
    root = make_run({k: v for k, v in summary.items() if k != "validation"})
    sections = _sections(write_report(root).read_text())
    assert "not run" in sections["validation"] and "<table" not in sections["validation"]
    assert "<table" in sections["thermal"]


def test_validation_section_lists_each_defect_and_the_overall_row(summary):
    anchor, title, body = validation(summary)
    assert (anchor, title) == ("validation", "Validation over temperature")
    rows = re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>")[1])
    assert len(rows) == len(summary["validation"]["summary"]) + 1
    assert rows[-1].startswith("<td><b>all defects</b></td>") and "<td>8.19</td>" in rows[-1]
    assert "<td>13.38</td>" in rows[-1] and "<td>12</td>" in rows[-1]
    assert "no level" in rows[1]
    assert ALIGNED_TEXT in body and "same MD snapshots" in body


def test_validation_says_when_training_snapshots_were_left_out(summary):
    import copy

    assert "training structures" not in validation(summary)[2]
    data = copy.deepcopy(summary)
    data["validation"]["training_snapshots_left_out"] = 5
    assert "5 of the predicted snapshots are Hamiltonian training structures; they are not validated" in validation(data)[2]


def test_validation_overall_without_a_level_says_no_level():
    data = {"overall": {"n_snapshots": 4, "gap_mae_mev": 5.55, "level_mae_mev": None}}
    body = validation({"config": {}, "validation": data})[2]
    assert "<td><b>all defects</b></td><td>—</td><td>4</td><td>5.55</td>" in body and "no level" in body


def test_a_defect_whose_model_misses_the_reference_is_flagged_not_validated(summary):
    import copy

    bound = summary["validation"]["validated_mae_mev"]
    assert validation(summary)[2].count("), not validated") == 0  # every fixture MAE is below the bound
    thermal_before = temperature_dependence(summary)[2]
    assert "not validated" not in thermal_before
    bad = copy.deepcopy(summary)
    bad["validation"]["summary"][0]["level_mae_mev"] = bound + 123.45
    body = validation(bad)[2]
    assert f"As_Ga ({TRAINING_ATOMS} atoms): defect levels: model vs reference MAE {bound + 123.45:.2f} meV" in body
    assert body.count("), not validated") == 1  # V_Ga and the As_Ga gap stay validated
    thermal = temperature_dependence(bad)[2]
    assert "As_Ga (128 atoms): defect levels: model vs reference MAE" in thermal and "not validated" in thermal
    # Another cell size's table carries no warning for the 128-atom validation.
    other = thermal.split(f"<h3>{TRANSFER_ATOMS} atoms")
    assert len(other) == 2 and "not validated" not in other[1]
    # A run from before the rule has no bound: nothing is flagged.
    del bad["validation"]["validated_mae_mev"]
    assert "), not validated" not in validation(bad)[2] + temperature_dependence(bad)[2]


# --- figures --------------------------------------------------------------------------------------------------------


def _lines(ax) -> dict:
    return {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}


def test_validation_figure_model_solid_reference_dashed_open(summary):
    fig = validation_figure(summary)
    gap_ax, level_ax = fig.axes
    gap = _lines(gap_ax)
    assert set(gap) == {"As_Ga model", "As_Ga reference", "V_Ga model", "V_Ga reference"}
    assert gap["As_Ga model"].get_linestyle() == "-" and gap["As_Ga reference"].get_linestyle() == "--"
    assert gap["As_Ga reference"].get_markerfacecolor() == "none"
    assert gap["As_Ga model"].get_color() == gap["As_Ga reference"].get_color() != gap["V_Ga model"].get_color()
    curves = [c for c in summary["validation"]["curves"] if c["defect"] == "As_Ga"]
    assert list(gap["As_Ga reference"].get_ydata()) == [c["reference_gap_mean_ev"] for c in curves]
    assert list(gap["As_Ga model"].get_xdata()) == [c["temperature_k"] for c in curves]
    level = _lines(level_ax)
    assert set(level) == {"As_Ga model", "As_Ga reference"}  # V_Ga has no level
    assert list(level["As_Ga model"].get_ydata()) == [c["model_level_mean_ev"] for c in curves]
    assert "VBM" in level_ax.get_ylabel()


def test_validation_figure_without_levels_or_data(summary):
    curves = [dict(c, reference_level_mean_ev=None, model_level_mean_ev=None) for c in summary["validation"]["curves"]]
    assert len(validation_figure({"config": {}, "validation": {"curves": curves}}).axes) == 1
    assert validation_figure({"config": {}}) is None
    assert validation_figure({"config": {}, "validation": {"curves": []}}) is None


def test_level_below_cbm_figure_one_line_per_cell_with_uncertainty_and_broadening(summary):
    fig = level_below_cbm_figure(summary)
    (ax,) = fig.axes  # only As_Ga has a level
    assert ax.get_title() == "As_Ga" and "CBM" in ax.get_ylabel()
    containers = {c.get_label(): c for c in ax.containers if not c.get_label().startswith("_")}
    assert set(containers) == {"128 atoms, production", "250 atoms, transfer"}
    assert containers["128 atoms, production"].lines[0].get_linestyle() == "-"
    assert containers["250 atoms, transfer"].lines[0].get_linestyle() == "--"
    rows = [t for t in summary["thermal"] if t["defect"] == "As_Ga" and t["cell_atoms"] == 128]
    segments = containers["128 atoms, production"].lines[2][0].get_segments()
    half = [(seg[1][1] - seg[0][1]) / 2 for seg in segments]
    assert half == pytest.approx([t["levels"][0]["below_cbm_uncertainty_ev"] for t in rows], abs=ATOL_EV)
    band = next(c for c in ax.collections if isinstance(c, PolyCollection)).get_paths()[0].vertices
    levels = [t["levels"][0] for t in rows]
    assert band[:, 1].max() == pytest.approx(max(lv["below_cbm_mean_ev"] + lv["below_cbm_std_ev"] for lv in levels))


def test_level_below_cbm_figure_panels_per_defect_and_sem_fallback():
    rows = [thermal_row("Si_Ga", t, 64, 1.2, 0.05) for t in (100.0, 300.0)]
    rows += [thermal_row("As_Ga", t, n, 1.1, 0.6, set_name=s) for t in (100.0, 300.0) for n, s in ((64, "production"),
                                                                                                  (216, "transfer"))]
    rows += [thermal_row("pristine", 300.0, 64, 1.3)]  # no level: no panel
    for lv in rows[0]["levels"]:
        lv["below_cbm_uncertainty_ev"] = None  # falls back to the SEM
    fig = level_below_cbm_figure({"config": CONFIG, "thermal": rows})
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["Si_Ga", "As_Ga"]  # config order
    si = next(c for c in fig.axes[0].containers if c.get_label() == "64 atoms, production")
    half = [(seg[1][1] - seg[0][1]) / 2 for seg in si.lines[2][0].get_segments()]
    assert half == pytest.approx([0.0066, 0.0081], abs=ATOL_EV)
    labels = {c.get_label() for c in fig.axes[1].containers if not c.get_label().startswith("_")}
    assert labels == {"64 atoms, production", "216 atoms, transfer"}
    assert level_below_cbm_figure({"config": CONFIG, "thermal": [thermal_row("pristine", 300.0, 64, 1.3)]}) is None


def test_convergence_rows_take_the_largest_cell_with_a_level(summary):
    chosen = convergence_rows(summary)
    assert {(t["cell_atoms"], t["temperature_k"]) for t in chosen} == {(250, 300.0), (128, 100.0), (128, 300.0)}
    many = [thermal_row(f"D{k}", 300.0, 64, 1.0) for k in range(CONVERGENCE_FEW_ROWS + 1)]
    large = [thermal_row("As_Ga", t, 216, 1.1, 0.6, set_name="transfer") for t in (100.0, 300.0)]
    chosen = convergence_rows({"config": CONFIG, "thermal": many + large})
    assert chosen == large  # many production rows: only the largest cell with a level
    assert convergence_rows({"config": CONFIG, "thermal": many}) == many  # no level anywhere: production rows


def test_convergence_figure_panels_lines_and_styles(summary):
    fig = convergence_figure(summary)
    gap_ax, level_ax = fig.axes
    lines = _lines(gap_ax)
    assert set(lines) == {"As_Ga, 100 K, 128 atoms", "As_Ga, 300 K, 128 atoms", "As_Ga, 300 K, 250 atoms"}
    row = summary["thermal"][1]
    assert list(lines["As_Ga, 300 K, 128 atoms"].get_ydata()) == row["convergence"]["gap"]
    assert list(lines["As_Ga, 300 K, 128 atoms"].get_xdata()) == list(range(1, len(row["convergence"]["gap"]) + 1))
    assert lines["As_Ga, 100 K, 128 atoms"].get_linestyle() != lines["As_Ga, 300 K, 128 atoms"].get_linestyle()
    assert lines["As_Ga, 300 K, 250 atoms"].get_linewidth() > lines["As_Ga, 300 K, 128 atoms"].get_linewidth()
    level = _lines(level_ax)
    transfer = summary["thermal"][4]
    assert list(level["As_Ga, 300 K, 250 atoms"].get_ydata()) == transfer["convergence"]["level_1_below_cbm"]
    no_level = [thermal_row("V_Ga", t, 64, 1.0) for t in (100.0, 300.0)]
    assert len(convergence_figure({"config": CONFIG, "thermal": no_level}).axes) == 1
    assert convergence_figure({"config": {}, "thermal": [one_snapshot_row(convergence=None)]}) is None


def test_new_figures_registered_with_what_and_how_to_reproduce():
    by_name = {e.name: e for e in REGISTRY}
    names = [e.name for e in REGISTRY]
    assert names.index("accuracy.png") < names.index("validation_T.png") < names.index("gap_T.png")
    assert names.index("level_T.png") < names.index("level_below_cbm_T.png") < names.index("convergence.png")
    for name in ("gap_T.png", "level_T.png", "level_below_cbm_T.png", "convergence.png"):
        caption = by_name[name].caption_for(name)
        assert "--only statistics --only report" in caption and "thermodefect report RUN_DIR" in caption
    for name in ("gap_T.png", "level_T.png", "level_below_cbm_T.png"):
        assert "sqrt(SEM² + ensemble spread²)" in by_name[name].caption and "±σ" in by_name[name].caption
    validation_caption = by_name["validation_T.png"].caption_for("validation_T.png")
    assert "--only validation --only report" in validation_caption and "validation.curves" in validation_caption
    assert "reference" in validation_caption and "open markers" in validation_caption
    assert "running mean" in by_name["convergence.png"].caption


# --- CSV ------------------------------------------------------------------------------------------------------------


def _read_csv(path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_summary_csv_has_uncertainty_below_cbm_and_electrons(run_dir, summary):
    thermal_csv, _, _ = write_result_csvs(run_dir, summary)
    rows = _read_csv(thermal_csv)
    assert tuple(rows[0]) == THERMAL_CSV_COLUMNS
    first = summary["thermal"][0]
    gap = next(r for r in rows if r["quantity"] == "gap" and r["temperature_k"] == "100.0" and r["defect"] == "As_Ga")
    assert float(gap["uncertainty_ev"]) == pytest.approx(first["gap_uncertainty_ev"], abs=ATOL_EV)
    assert float(gap["model_std_ev"]) == pytest.approx(first["gap_model_std_ev"], abs=ATOL_EV)
    assert float(gap["n_independent"]) == pytest.approx(first["gap_n_independent"], abs=ATOL_EV)
    assert (gap["set"], gap["edges"], gap["conduction_electrons_mean"]) == ("production", "aligned", "0.0")
    below = next(r for r in rows if r["quantity"] == "level_below_cbm:level 1" and r["temperature_k"] == "100.0")
    level = first["levels"][0]
    assert below["relative_to"] == "CBM" and float(below["mean_ev"]) == pytest.approx(level["below_cbm_mean_ev"])
    assert float(below["uncertainty_ev"]) == pytest.approx(level["below_cbm_uncertainty_ev"], abs=ATOL_EV)
    assert float(below["electrons_mean"]) == level["electrons_mean"]
    older = next(r for r in rows if r["defect"] == "V_Ga" and r["quantity"] == "gap")
    assert older["uncertainty_ev"] == "" and older["model_std_ev"] == "" and older["set"] == "production"
    transfer = next(r for r in rows if r["cell_atoms"] == "250" and r["quantity"] == "gap")
    assert transfer["set"] == "transfer"


def test_validation_csv_one_row_per_curve(run_dir, summary):
    _, _, validation_csv = write_result_csvs(run_dir, summary)
    rows = _read_csv(validation_csv)
    assert tuple(rows[0]) == VALIDATION_CSV_COLUMNS
    curves = summary["validation"]["curves"]
    assert [(r["defect"], float(r["temperature_k"])) for r in rows] == [(c["defect"], c["temperature_k"])
                                                                         for c in curves]
    assert [float(r["gap_mae_mev"]) for r in rows] == [c["gap_mae_mev"] for c in curves]
    assert float(rows[0]["model_level_below_cbm_mean_ev"]) == curves[0]["model_level_below_cbm_mean_ev"]
    assert rows[2]["level_mae_mev"] == "" and rows[2]["reference_level_mean_ev"] == ""  # V_Ga: no level


def test_one_snapshot_csv_has_empty_cells_not_nan(make_run):
    summary = {"config": CONFIG, "thermal": [one_snapshot_row(gap_sem_ev=float("nan"))]}
    thermal_csv, _, _ = write_result_csvs(make_run(None), summary)
    text = thermal_csv.read_text()
    assert not NAN_WORD.search(text)
    gap = next(r for r in _read_csv(thermal_csv) if r["quantity"] == "gap")
    assert gap["sem_ev"] == "" and gap["std_ev"] == "" and gap["mean_ev"] == "0.913"


def test_formatting_of_missing_and_uncertain_numbers():
    from thermodefect.report.tables import MISSING, fmt, fmt_uncertain

    assert fmt(float("nan")) == MISSING and fmt(None) == MISSING
    assert fmt_uncertain(0.7314, 0.01234) == "0.731 ± 0.0123"
    assert fmt_uncertain(0.7314, None) == fmt_uncertain(0.7314, float("nan")) == "0.731"
    assert fmt_uncertain(None, 0.01) == MISSING
    row = thermal_row("Si_Ga", 300.0, 64, 0.95)
    row["gap_sem_ev"] = float("nan")  # a hand-edited summary: shown as missing, never as "nan"
    body = temperature_dependence({"config": {}, "thermal": [row]})[2]
    assert "<td>0.950 ± 0.0058</td><td>0.024</td><td>—</td>" in body


def test_a_cell_size_never_compared_with_the_reference_is_reported_unchecked(summary):
    import copy

    from tests.report.conftest import TRANSFER_ATOMS as transfer_atoms
    from thermodefect.report.sections import UNCOMPARED

    data = copy.deepcopy(summary)
    data["accuracy"] = [r for r in data["accuracy"] if r.get("cell_atoms") != transfer_atoms]
    thermal = temperature_dependence(data)[2]
    table = thermal.split(f"<h3>{transfer_atoms} atoms")[1]
    assert f"As_Ga ({transfer_atoms} atoms): {UNCOMPARED}" in table
    assert UNCOMPARED not in thermal.split(f"<h3>{transfer_atoms} atoms")[0]  # the validated cell size
    assert UNCOMPARED in validation(data)[2]
    # One reference comparison of that size (the accuracy stage's transfer check) is enough.
    data["accuracy"].append({"defect": "As_Ga", "temperature_k": 300.0, "cell_atoms": transfer_atoms, "n": 1})
    assert UNCOMPARED not in temperature_dependence(data)[2] + validation(data)[2]
