"""Shared pieces of the report's figures: blank figures, saving, colours, text.

Figures are built on ``matplotlib.figure.Figure`` directly (no global figure
manager), so no global backend state is touched and nothing needs a display.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 120
PRISTINE_COLOUR = "black"
TRANSFER_LINESTYLE = "--"
TRAINING_LINESTYLE = "-"
LEVEL_MARKERS = ("o", "s", "^", "D", "v", "P")
TEMPERATURE_LINESTYLES = ("-", "--", ":", "-.")
MAX_PANELS_PER_ROW = 3


def new_figure(ncols: int = 1, width_per_panel_in: float = 5.0, height_in: float = 3.8):
    """A figure with one row of ``ncols`` panels; returns ``(figure, [axes])``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_per_panel_in * ncols, height_in), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def panel_grid(n_panels: int, width_per_panel_in: float = 4.6, height_per_panel_in: float = 3.6):
    """A figure with ``n_panels`` panels, at most :data:`MAX_PANELS_PER_ROW` per row; unused panels hidden."""
    from matplotlib.figure import Figure

    ncols = min(n_panels, MAX_PANELS_PER_ROW)
    nrows = math.ceil(n_panels / ncols)
    fig = Figure(figsize=(width_per_panel_in * ncols, height_per_panel_in * nrows), layout="constrained")
    axes = list(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def save_figure(fig: "Figure | None", path: str | Path) -> Path | None:
    """Write ``fig`` as PNG (:data:`DPI`) and return the path; None (nothing written) when ``fig`` is None."""
    if fig is None:
        return None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png")
    return path


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def defect_colours(summary: dict[str, Any], defects: list[str]) -> dict[str, Any]:
    """One colour per defect, stable across figures: config order first, pristine black."""
    from matplotlib import colormaps

    configured = ((summary.get("config") or {}).get("defects") or {}).get("names") or []
    others = sorted(d for d in set(defects) if d not in configured and d != "pristine")
    ordered = [d for d in configured if d in defects] + others
    palette = colormaps["tab10"]
    colours = {d: palette(k % 10) for k, d in enumerate(ordered)}
    colours["pristine"] = PRISTINE_COLOUR
    return colours


def plain_text(text: Any) -> str:
    """Text from the summary shown verbatim: a ``$`` would otherwise start matplotlib mathtext."""
    return str(text).replace("$", r"\$")
