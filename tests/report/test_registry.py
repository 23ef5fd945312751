"""The figure registry: every PNG of the report is registered, and each entry draws from a small results file."""

import json

import pytest

from thermodefect.report import write_report
from thermodefect.report.figures import REGISTRY, SUMMARY, registered

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def full_run(run_dir, figure_data):
    return figure_data(run_dir)


def test_registry_covers_every_png_the_report_writes(full_run):
    write_report(full_run)
    written = sorted((full_run / "report" / "figures").glob("*.png"))
    assert written
    for path in written:
        assert registered(path.name) is not None, path.name
        assert path.read_bytes()[:8] == PNG_MAGIC
    names = {p.name for p in written}
    for entry in REGISTRY:  # every entry drew something from the hand-written files
        assert any(entry.matches(name) for name in names), entry.name
    assert "bands_As_Ga.png" in names and "vdos.png" in names and "rdf.png" in names and "ff_parity.png" in names


@pytest.mark.parametrize("entry", REGISTRY, ids=[e.name for e in REGISTRY])
def test_each_draw_function_works_from_its_results_file(full_run, entry):
    sources = entry.sources(full_run)
    assert sources, f"no source for {entry.name}"
    for star, path in sources:
        figure = entry.draw(json.loads(path.read_text()))
        assert figure is not None and figure.axes
        assert entry.file_name(star).endswith(".png") and "*" not in entry.file_name(star)
    assert entry.draw({}) is None  # no data, no figure


def test_sources_of_each_entry(full_run):
    by_name = {e.name: e for e in REGISTRY}
    assert by_name["ff_parity.png"].sources(full_run) == [("", full_run / "results" / "ff_parity_round-1.json")]
    (full_run / "results" / "ff_al_summary.json").write_text(json.dumps({"metrics": [{"round": 0}]}))
    assert by_name["ff_parity.png"].sources(full_run) == [("", full_run / "results" / "ff_parity_round-0.json")]
    (full_run / "results" / "ff_al_summary.json").unlink()
    assert by_name["ff_parity.png"].sources(full_run)[0][1].name == "ff_parity_round-1.json"  # highest round
    assert by_name["bands_*.png"].sources(full_run) == [("As_Ga", full_run / "results" / "figures" / "bands_As_Ga.json")]
    assert by_name["bands_*.png"].caption_for("bands_As_Ga.png").startswith("Band structure: As_Ga.")
    assert {e.source for e in REGISTRY if e.name.endswith("_T.png")} == {SUMMARY}


def test_figure_of_removed_data_is_deleted_and_unregistered_png_kept(full_run):
    figures_dir = full_run / "report" / "figures"
    write_report(full_run)
    (figures_dir / "ff_eval_parity.png").write_bytes((figures_dir / "ff_parity.png").read_bytes())
    (full_run / "results" / "figures" / "md.json").unlink()
    (full_run / "results" / "figures" / "bands_As_Ga.json").unlink()
    page = write_report(full_run).read_text()
    names = {p.name for p in figures_dir.glob("*.png")}
    assert not {"vdos.png", "rdf.png", "bands_As_Ga.png"} & names
    assert "ff_eval_parity.png" in names and "<figcaption>ff_eval_parity.png" in page


def test_malformed_figure_data_is_a_one_line_error(full_run):
    from thermodefect.report import ReportInputError

    (full_run / "results" / "figures" / "md.json").write_text("{not json")
    with pytest.raises(ReportInputError, match="md.json: not valid JSON"):
        write_report(full_run)


def test_captions_say_what_is_plotted():
    captions = {e.name: e.caption for e in REGISTRY}
    for name in ("vdos.png", "rdf.png"):
        assert "MACE NVT production MD" in captions[name] and "no reference MD" in captions[name]
    assert "reference eigenvalues at Γ" in captions["bands_*.png"] and "Model bands" in captions["bands_*.png"]
    assert "held-out test set" in captions["ff_parity.png"]
    assert all(e.caption.endswith(".") for e in REGISTRY)
