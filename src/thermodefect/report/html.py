"""``report/index.html``: one self-contained page per run.

The page opens offline: figures are embedded as base64 ``data:`` URIs (and
kept beside it in ``report/figures/``), styles are inline, nothing is
fetched. All numbers come from ``results/summary.json``; all text is escaped.
"""

from __future__ import annotations

import base64
import fnmatch
import html
import json
from pathlib import Path
from typing import Any, Callable

from thermodefect.report import figures
from thermodefect.report.sections import NUMBER_SECTIONS
from thermodefect.report.summary import ReportInputError, load_summary, write_result_csvs
from thermodefect.core.rundir import RunDirectory
from thermodefect.core.files import atomic_write_text

NOT_RUN = "not run"

# Figures this package draws from the summary: file name -> drawing function.
OWN_FIGURES: dict[str, Callable[[dict[str, Any], Path], Path | None]] = {
    "ff_learning_curve.png": figures.plot_forcefield_learning_curve,
    "ham_learning_curve.png": figures.plot_hamiltonian_learning_curve,
    "gap_T.png": lambda s, p: figures.plot_thermal(s, p, quantity="gap"),
    "level_T.png": lambda s, p: figures.plot_thermal(s, p, quantity="level"),
    "accuracy.png": figures.plot_accuracy,
}

# Known figures in display order: (file-name pattern, caption). ``{name}`` is
# the part of a ``bands_*.png`` name the star matched.
KNOWN_FIGURES: tuple[tuple[str, str], ...] = (
    ("ff_learning_curve.png", "Force field learning curve: test-set energy and force MAE per active-learning round "
                              "(thin lines: force MAE per defect)."),
    ("ff_parity.png", "Force parity: MACE vs reference force components."),
    ("vdos.png", "Vibrational density of states, model MD vs reference."),
    ("rdf.png", "Radial distribution function, model MD vs reference."),
    ("ham_learning_curve.png", "Hamiltonian model learning curve: Hamiltonian-element and eigenvalue MAE vs number "
                               "of training labels."),
    ("accuracy.png", "Held-out band gap and defect level errors vs the reference, per defect."),
    ("bands_*.png", "Band structure: {name}."),
    ("gap_T.png", "Band gap vs temperature: mean over MD snapshots (line), ±std thermal broadening (shaded), SEM "
                  "(error bars); dashed = transfer cell sizes."),
    ("level_T.png", "Defect levels relative to the VBM vs temperature: mean (line), ±std broadening (shaded), SEM "
                    "(error bars); dashed = transfer cell sizes."),
)

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { border-bottom: 2px solid #444; } h2 { margin-top: 1.8em; border-bottom: 1px solid #bbb; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; vertical-align: top; }
th { background: #f0f0f0; } td:first-child, table.info th { text-align: left; }
p.not-run { color: #888; font-style: italic; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #444; } pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
"""


def draw_figures(summary: dict[str, Any], figures_dir: Path) -> list[Path]:
    """Draw this package's figures into ``figures_dir``.

    A figure whose data is absent from the summary is deleted if an earlier
    report left it there, so the page never shows a plot of numbers the
    summary no longer holds.
    """
    written = []
    for name, draw in OWN_FIGURES.items():
        path = figures_dir / name
        if draw(summary, path) is not None:
            written.append(path)
        else:
            path.unlink(missing_ok=True)
    return written


def ordered_figures(figures_dir: Path) -> list[tuple[Path, str]]:
    """All PNGs in ``figures_dir``: known ones first (with captions), unknown ones after, captioned by file name."""
    remaining = sorted(figures_dir.glob("*.png")) if figures_dir.is_dir() else []
    ordered = []
    for pattern, caption in KNOWN_FIGURES:
        for path in [p for p in remaining if fnmatch.fnmatchcase(p.name, pattern)]:
            name = path.stem[len("bands_"):] if pattern == "bands_*.png" else path.stem
            ordered.append((path, caption.format(name=name)))
            remaining.remove(path)
    ordered += [(path, path.name) for path in remaining]
    return ordered


def figure_html(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    text = html.escape(caption)
    return (
        f'<figure id="fig-{html.escape(path.stem)}"><img src="data:image/png;base64,{data}" alt="{text}">'
        f"<figcaption>{text} <code>{html.escape(path.name)}</code></figcaption></figure>"
    )


def config_text(run_dir: Path, summary: dict[str, Any]) -> tuple[str, str]:
    """(label, text) of the configuration: ``config.toml`` if present, else the summary's config as JSON."""
    path = RunDirectory(run_dir).config_path
    if path.is_file():
        return "config.toml", path.read_text(errors="replace")
    return "config from summary.json (config.toml not found)", json.dumps(summary.get("config"), indent=2)


def _section_html(anchor: str, title: str, body: str | None) -> str:
    content = body if body is not None else f'<p class="not-run">{NOT_RUN}</p>'
    return f'<section id="{anchor}">\n<h2>{html.escape(title)}</h2>\n{content}\n</section>'


def render_page(run_dir: Path, summary: dict[str, Any], figure_list: list[tuple[Path, str]]) -> str:
    """The full HTML text of the report."""
    material = (summary.get("config") or {}).get("material") or {}
    compound = f"{material.get('cation', '')}{material.get('anion', '')}"
    title = "thermodefect report" + (f": {compound}" if compound else "")
    parts = [_section_html(*build(summary)) for build in NUMBER_SECTIONS]
    figures_body = "\n".join(figure_html(p, c) for p, c in figure_list) if figure_list else None
    parts.append(_section_html("figures", "Figures", figures_body))
    label, text = config_text(run_dir, summary)
    parts.append(
        f'<section id="configuration">\n<h2>Configuration</h2>\n<details><summary>{html.escape(label)}</summary>'
        f"\n<pre>{html.escape(text)}</pre>\n</details>\n</section>"
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n" + "\n".join(parts) + "\n</body>\n</html>\n"
    )


def write_report(run_dir: str | Path) -> Path:
    """Build ``RUN_DIR/report/index.html`` from ``RUN_DIR/results/summary.json``.

    Also draws this package's figures into ``report/figures/`` and writes
    ``results/summary.csv`` (flattened thermal table) and
    ``results/accuracy.csv``. Returns the path of ``index.html``. Raises
    :class:`~thermodefect.report.summary.ReportInputError` when the summary is
    missing or malformed.
    """
    run_dir = Path(run_dir)
    summary = load_summary(run_dir)
    run = RunDirectory(run_dir)
    figures_dir = run.report / "figures"
    try:
        figures_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportInputError(f"{figures_dir}: cannot create ({exc.strerror or exc})") from None
    draw_figures(summary, figures_dir)
    write_result_csvs(run_dir, summary)
    index = run.report / "index.html"
    atomic_write_text(index, render_page(run_dir, summary, ordered_figures(figures_dir)))
    return index
