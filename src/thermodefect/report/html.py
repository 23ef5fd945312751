"""``report/index.html``: one self-contained page per run.

The page opens offline: figures are embedded as base64 ``data:`` URIs (and
kept beside it in ``report/figures/``), styles are inline, nothing is
fetched. All numbers in the tables come from ``results/summary.json``; the
figures are those of :data:`thermodefect.report.figures.REGISTRY`, each drawn
from its results file. All text is escaped.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from thermodefect.report import figures
from thermodefect.report.sections import NUMBER_SECTIONS
from thermodefect.report.summary import ReportInputError, load_summary, write_result_csvs
from thermodefect.core.rundir import RunDirectory
from thermodefect.core.files import atomic_write_text

NOT_RUN = "not run"

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { border-bottom: 2px solid #444; } h2 { margin-top: 1.8em; border-bottom: 1px solid #bbb; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; vertical-align: top; }
th { background: #f0f0f0; } td:first-child, table.info th { text-align: left; }
p.not-run { color: #888; font-style: italic; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #444; } pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
div.warnings { background: #fff4e0; border-left: 4px solid #d98c00; padding: 0.3em 1em; margin: 0.6em 0; }
div.warnings p { margin: 0.3em 0; color: #7a4a00; } p.edges { font-style: italic; }
"""


def draw_figures(run_dir: Path, summary: dict[str, Any], figures_dir: Path) -> list[Path]:
    """Draw every figure of :data:`~thermodefect.report.figures.REGISTRY` from the run's results files.

    A registered figure whose data are absent is deleted if an earlier report
    left it there, so the page never shows a plot of numbers the results no
    longer hold.
    """
    return figures.draw_registered(run_dir, figures_dir, summary)


def ordered_figures(figures_dir: Path) -> list[tuple[Path, str]]:
    """All PNGs in ``figures_dir``: registered ones first, in registry order with their captions, others after.

    A PNG no registry entry names (e.g. ``ff_eval_parity.png`` of ``thermodefect
    ff eval``) is captioned by its file name.
    """
    remaining = sorted(figures_dir.glob("*.png")) if figures_dir.is_dir() else []
    ordered = []
    for entry in figures.REGISTRY:
        for path in [p for p in remaining if entry.matches(p.name)]:
            ordered.append((path, entry.caption_for(path.name)))
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

    Also draws every registered figure into ``report/figures/`` and writes
    ``results/summary.csv`` (flattened thermal table), ``results/accuracy.csv``
    and ``results/validation.csv``. Returns the path of ``index.html``. Raises
    :class:`~thermodefect.report.summary.ReportInputError` when the summary is
    missing or malformed.
    """
    run_dir = Path(run_dir)
    summary = load_summary(run_dir)
    run = RunDirectory(run_dir)
    figures_dir = run.figures
    try:
        figures_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportInputError(f"{figures_dir}: cannot create ({exc.strerror or exc})") from None
    draw_figures(run_dir, summary, figures_dir)
    write_result_csvs(run_dir, summary)
    index = run.report / "index.html"
    atomic_write_text(index, render_page(run_dir, summary, ordered_figures(figures_dir)))
    return index
