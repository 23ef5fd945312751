"""HTML building blocks: escaped number formatting and tables.

Every function returns HTML-safe text: values are passed through
:func:`html.escape`, so names from the summary (defects, labels, paths)
cannot inject markup.
"""

from __future__ import annotations

import html
import math
from typing import Any, Sequence

MISSING = "—"

# Decimal places per kind of number shown in the report.
DECIMALS_MEV = 2  # MAE / RMSE in meV, meV/atom, meV/Å
DECIMALS_EV = 3  # mean and std of gaps, band edges, levels (eV)
DECIMALS_SEM_EV = 4  # standard error of the mean (eV)
DECIMALS_SECONDS = 2
DECIMALS_RATIO = 3  # overlaps, differences of normalised curves
DECIMALS_UNCERTAINTY_EV = 4  # combined uncertainty and ensemble spread of a mean (eV), as the SEM
DECIMALS_ELECTRONS = 2  # electrons in a level, host conduction electrons / valence holes
DECIMALS_COUNT = 1  # effective number of independent snapshots


def fmt(value: Any, decimals: int = DECIMALS_EV) -> str:
    """A number with fixed decimals, ints as ints, None as a dash; anything else escaped text."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return MISSING if math.isnan(value) else f"{value:.{decimals}f}"
    return html.escape(str(value))


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool): something a table can show as a number."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def fmt_pm(mean: Any, std: Any, decimals: int = DECIMALS_EV) -> str:
    """``mean ± std``; just the mean when std is missing."""
    if mean is None:
        return MISSING
    return fmt(mean, decimals) if std is None else f"{fmt(mean, decimals)} ± {fmt(std, decimals)}"


def fmt_uncertain(mean: Any, uncertainty: Any, decimals: int = DECIMALS_EV,
                  uncertainty_decimals: int = DECIMALS_UNCERTAINTY_EV) -> str:
    """``mean ± uncertainty`` (the uncertainty of the mean, not the spread); just the mean without one."""
    if not is_number(mean):
        return fmt(mean, decimals)
    if not is_number(uncertainty):
        return fmt(mean, decimals)
    return f"{fmt(mean, decimals)} ± {fmt(uncertainty, uncertainty_decimals)}"


def item_list(items: Sequence[str], css_class: str = "") -> str:
    """An HTML bullet list of already HTML-safe items."""
    cls = f' class="{html.escape(css_class)}"' if css_class else ""
    return f"<ul{cls}>\n" + "\n".join(f"<li>{item}</li>" for item in items) + "\n</ul>"


def fmt_temperature(value: Any) -> str:
    """A temperature in K without spurious decimals (300.0 -> 300)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return f"{value:g}"
    return fmt(value)


def fmt_duration(seconds: Any) -> str:
    """Seconds as ``1 h 02 min 03 s (3723.0 s)``."""
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not math.isfinite(seconds):
        return fmt(seconds)
    whole = int(round(seconds))
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    parts = f"{h} h {m:02d} min {s:02d} s" if h else (f"{m} min {s:02d} s" if m else f"{s} s")
    return f"{parts} ({seconds:.1f} s)"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], css_class: str = "") -> str:
    """An HTML table; ``headers`` are plain text (escaped here), cells are already HTML-safe."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    cls = f' class="{html.escape(css_class)}"' if css_class else ""
    return f"<table{cls}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def key_value_table(pairs: Sequence[tuple[str, str]]) -> str:
    """Two-column table of (plain-text label, HTML-safe value)."""
    body = "\n".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in pairs)
    return f'<table class="info">\n<tbody>\n{body}\n</tbody>\n</table>'
