"""write_report: tables, numbers, embedded figures, escaping, skipped sections."""

import base64
import html
import re

import pytest

from thermodefect.report import write_report
from thermodefect.report.figures import REGISTRY, SUMMARY

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DATA_URI = "data:image/png;base64,"
NUMBER_SECTIONS = ("labels", "forcefield", "hamiltonian", "validation", "thermal", "speed", "md-validation")
SECTION_TITLES = ("Labels used", "Force field accuracy", "Hamiltonian accuracy", "Validation over temperature",
                  "Temperature dependence", "Speed", "MD validation")


def _sections(page: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="([\w-]+)">(.*?)</section>', page, flags=re.S))


def _numbers_in(value) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _numbers_in(v)]
    if isinstance(value, list):
        return [x for v in value for x in _numbers_in(v)]
    return []


@pytest.fixture
def page(run_dir) -> str:
    return write_report(run_dir).read_text()


def test_every_table_present_with_its_numbers(page, summary):
    sections = _sections(page)
    for anchor, title in zip(NUMBER_SECTIONS, SECTION_TITLES):
        assert "<table" in sections[anchor], anchor
        assert f"<h2>{title}</h2>" in sections[anchor]
    assert "not run" not in page
    ff = sections["forcefield"]
    assert "91.37" in ff and "120.44" in ff and "97.65" in ff and "meV/Å" in ff and "meV/atom" in ff
    assert "<td>0</td><td>As_Ga</td><td>10</td><td>3.93</td><td>88.12</td><td>111.90</td>" in ff  # test structures per defect
    final = ff.split("Final model on its own MD at 300 K")[1]
    assert "<td>As_Ga</td><td>9</td><td>2.47</td><td>47.81</td><td>63.09</td>" in final and "2 frames collapsed" in final
    assert "Final test: no test frame of V_Ga (its MD collapsed)" in final
    ham = sections["hamiltonian"]
    assert "12.34" in ham and "21.09" in ham and "8.76" in ham and "7.18" in ham and "max_rounds reached" in ham
    assert "23.45" in ham and "31.62" in ham and "27.19" in ham and "no level" in ham
    thermal = sections["thermal"]
    assert "<td>0.731 ± 0.0051</td><td>0.021</td><td>0.0030</td><td>0.0041</td><td>49.0</td>" in thermal
    assert "<td>-5.412 ± 0.0027</td><td>0.011</td><td>-4.681 ± 0.0031</td><td>0.013</td>" in thermal
    assert "<td>0.744 ± 0.0025</td><td>0.018</td><td>0.0025</td><td>—</td><td>—</td>" in thermal  # older row: ± SEM
    assert ("<td>level 1</td><td>50</td><td>0.152 ± 0.0079</td><td>0.034</td><td>0.0048</td><td>0.0063</td>"
            "<td>50.0</td><td>0.579 ± 0.0083</td><td>0.036</td><td>2.00</td>") in thermal
    validation = sections["validation"]
    assert "<td>As_Ga</td><td>128</td><td>6</td><td>9.13</td><td>14.02</td><td>11.56</td><td>13.38</td><td>1</td>" \
        in validation
    assert "<td>V_Ga</td><td>128</td><td>6</td><td>7.24</td><td>12.61</td><td>10.92</td><td>no level</td><td>0</td>" \
        in validation
    assert "all defects" in validation and "<td>12</td><td>8.19</td>" in validation
    assert page.index('id="hamiltonian"') < page.index('id="validation"') < page.index('id="thermal"')
    assert "128 atoms (training cell)" in thermal and "250 atoms (transfer)" in thermal
    assert thermal.index("128 atoms") < thermal.index("250 atoms")
    assert "14.25" in sections["speed"] and "0.37" in sections["speed"] and "38.5×" in sections["speed"]
    assert "0.964" in sections["md-validation"] and "0.087" in sections["md-validation"]
    assert "431" in sections["labels"] and "13.57" in sections["labels"]
    run = sections["run"]
    assert "GaAs" in run and "5.650 Å" in run and "As_Ga, V_Ga" in run and "2 h 02 min 02 s" in run
    assert "100, 500 K" in run and "xtb (GFN1-xTB)" in run


def test_every_number_shown_comes_from_the_summary(page, summary):
    """Each number in the tables equals a summary value rounded to the shown decimals."""
    known = _numbers_in(summary)
    sections = _sections(page)
    checked = 0
    for anchor in NUMBER_SECTIONS:
        text = html.unescape(re.sub(r"<[^>]+>", " ", sections[anchor]))
        for token in re.findall(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])", text):
            decimals = len(token.split(".")[1]) if "." in token else 0
            tolerance = 0.5 * 10.0**-decimals + 1e-9
            assert any(abs(float(token) - v) <= tolerance for v in known), f"{anchor}: {token} not in summary"
            checked += 1
    assert checked > 100


def test_figures_written_and_embedded(run_dir, page):
    figures_dir = run_dir / "report" / "figures"
    for name in [entry.name for entry in REGISTRY if entry.source == SUMMARY]:
        assert (figures_dir / name).read_bytes()[:8] == PNG_MAGIC
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(uris) == len(list(figures_dir.glob("*.png")))
    assert all(base64.b64decode(u)[:8] == PNG_MAGIC for u in uris)
    assert 'src="figures/' not in page and "http" not in page  # opens offline


def test_stage_figures_ordered_and_captioned(run_dir, summary, figure_data):
    figures_dir = run_dir / "report" / "figures"
    png = figures_dir.joinpath
    write_report(run_dir)
    png("zz_custom.png").write_bytes(png("gap_T.png").read_bytes())
    figure_data(run_dir)
    page = write_report(run_dir).read_text()
    order = list(re.findall(r'<figure id="fig-([\w-]+)"', page))
    assert order == ["ff_learning_curve", "ff_parity", "vdos", "rdf", "ham_learning_curve", "accuracy", "validation_T",
                     "bands_As_Ga", "gap_T", "level_T", "level_below_cbm_T", "convergence", "zz_custom"]
    assert "Band structure: As_Ga." in page
    assert "<figcaption>zz_custom.png" in page
    assert len(re.findall(DATA_URI, page)) == len(list(figures_dir.glob("*.png")))


def test_text_from_summary_is_escaped(page, hostile_text):
    assert "<script>" not in page
    assert html.escape(hostile_text) in page


def test_configuration_in_collapsible_block(run_dir, page):
    block = _sections(page)["configuration"]
    assert "<details>" in block and "config.toml" in block
    assert html.escape((run_dir / "config.toml").read_text()) in block


def test_missing_sections_say_not_run(make_run, summary, hostile_text):
    root = make_run({"config": summary["config"]}, config_text=None)
    stale = root / "report" / "figures" / "gap_T.png"
    stale.write_bytes(PNG_MAGIC)
    page = write_report(root).read_text()
    sections = _sections(page)
    for anchor in NUMBER_SECTIONS:
        assert "<table" not in sections[anchor] and "not run" in sections[anchor], anchor
    assert "not run" in sections["figures"] and DATA_URI not in page
    assert not stale.exists()  # a figure of data the summary no longer has is removed
    assert "GaAs" in sections["run"]
    assert "config.toml not found" in sections["configuration"] and "training_atoms" in sections["configuration"]


def test_partial_summary_shows_only_what_ran(make_run, summary):
    root = make_run({"config": summary["config"], "thermal": summary["thermal"]})
    page = write_report(root).read_text()
    sections = _sections(page)
    assert "<table" in sections["thermal"]
    assert "not run" in sections["forcefield"] and "not run" in sections["speed"]
    figures_dir = root / "report" / "figures"
    assert sorted(p.name for p in figures_dir.glob("*.png")) == ["convergence.png", "gap_T.png", "level_T.png",
                                                                 "level_below_cbm_T.png"]
    assert "not run" in sections["validation"]
    for name in ("summary.csv", "accuracy.csv", "validation.csv"):
        assert (root / "results" / name).is_file()
