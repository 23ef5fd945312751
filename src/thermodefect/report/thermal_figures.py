"""Figures of the temperature dependence, drawn from ``results/summary.json``.

``thermal`` rows (one per cell size, defect and T) give the gap and levels vs
T, level 1 relative to the CBM vs T and the running means of the snapshot
averages; ``validation.curves`` gives model against reference over T. Each
``*_figure(summary)`` returns an unsaved ``matplotlib.figure.Figure``, or None
when the summary lacks the data. Error bars are the combined uncertainty of
the mean, sqrt(SEM² + ensemble spread²) (``*_uncertainty_ev``), falling back
to the SEM for rows of runs that record no combined uncertainty; shaded bands
are ±σ, the thermal broadening (standard deviation over snapshots).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from thermodefect.report.plotting import (
    LEVEL_MARKERS,
    TEMPERATURE_LINESTYLES,
    TRAINING_LINESTYLE,
    TRANSFER_LINESTYLE,
    defect_colours,
    is_number,
    new_figure,
    panel_grid,
    plain_text,
)
from thermodefect.report.summary import first_level, section, thermal_set

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Production rows are added to the convergence figure when there are at most this many of them.
CONVERGENCE_FEW_ROWS = 8
CONVERGENCE_QUANTITIES = (
    ("gap", "running mean of the band gap (eV)", "Band gap"),
    ("level_1_below_cbm", "running mean of CBM − level 1 (eV)", "Level 1 below the CBM"),
)


def _thermal_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in summary.get("thermal") or [] if isinstance(t, dict) and is_number(t.get("temperature_k"))]


def _or_zero(value: Any) -> float:
    return float(value) if is_number(value) else 0.0


def error_bar(source: dict[str, Any], prefix: str) -> float:
    """Half-height of the error bar of a thermal mean: combined uncertainty, else SEM, else 0 (eV)."""
    for key in (f"{prefix}uncertainty_ev", f"{prefix}sem_ev"):
        if is_number(source.get(key)):
            return float(source[key])
    return 0.0


def _point(temperature: float, source: dict[str, Any], prefix: str) -> tuple[float, float, float, float]:
    """(T_K, mean_eV, σ_eV, error-bar half-height_eV) of one thermal mean."""
    return (float(temperature), float(source[f"{prefix}mean_ev"]), _or_zero(source.get(f"{prefix}std_ev")),
            error_bar(source, prefix))


def _draw_series(ax, points: list[tuple], colour: Any, label: str, *, marker: str = "o",
                 transfer: bool = False) -> None:
    """Mean with error bars (line), ±σ band (shaded; a broad translucent bar at a single temperature)."""
    temps, means, stds, errors = (list(column) for column in zip(*points))
    ax.errorbar(temps, means, yerr=errors, fmt=marker, ls=TRANSFER_LINESTYLE if transfer else TRAINING_LINESTYLE,
                color=colour, capsize=3, lw=1.2 if transfer else 1.8, label=plain_text(label))
    if len(points) > 1:
        ax.fill_between(temps, [m - s for m, s in zip(means, stds)], [m + s for m, s in zip(means, stds)],
                        color=colour, alpha=0.08 if transfer else 0.18, lw=0)
    else:  # one temperature: a band has no width, so draw ±σ as a broad translucent bar
        ax.errorbar(temps, means, yerr=stds, fmt="none", ecolor=colour, elinewidth=8, alpha=0.2)


def _transfer_cells(summary: dict[str, Any], rows: list[dict[str, Any]]) -> set:
    return {t.get("cell_atoms") for t in rows if thermal_set(t, summary) == "transfer"}


def _thermal_series(summary: dict[str, Any], quantity: str) -> dict[tuple, list[tuple]]:
    """(defect, cell_atoms, level label) -> sorted [(T_K, mean_eV, σ_eV, error_eV)]."""
    series: dict[tuple, list[tuple]] = {}
    for entry in _thermal_rows(summary):
        key_base = (str(entry.get("defect", "")), entry.get("cell_atoms"))
        if quantity == "gap":
            sources = [("", entry, "gap_")]
        else:
            sources = [(lv.get("label", ""), lv, "") for lv in entry.get("levels") or [] if isinstance(lv, dict)]
        for label, source, prefix in sources:
            if is_number(source.get(f"{prefix}mean_ev")):
                series.setdefault((*key_base, str(label)), []).append(_point(entry["temperature_k"], source, prefix))
    return {k: sorted(v) for k, v in series.items()}


def thermal_figure(summary: dict[str, Any], quantity: Literal["gap", "level"] = "gap") -> "Figure | None":
    """Band gap or defect levels (relative to the VBM) vs temperature.

    One colour per defect. Line = mean over MD snapshots, shaded band = ±σ
    (thermal broadening), error bars = combined uncertainty of the mean
    (SEM for older rows). Solid lines are the production cell size, dashed
    lines transfer cell sizes (``set`` "transfer", or for older rows a
    ``cell_atoms`` other than the production size). For levels, each level
    label of a defect gets its own marker.
    """
    if quantity not in ("gap", "level"):
        raise ValueError(f"quantity must be 'gap' or 'level', got {quantity!r}")
    series = _thermal_series(summary, quantity)
    if not series:
        return None
    transfer_cells = _transfer_cells(summary, _thermal_rows(summary))
    colours = defect_colours(summary, sorted({k[0] for k in series}))
    fig, (ax,) = new_figure(1, width_per_panel_in=6.5, height_in=4.5)
    markers: dict[tuple[str, str], str] = {}
    ordered_series = sorted(series.items(), key=lambda kv: (kv[0][0], str(kv[0][1]), kv[0][2]))
    for (defect, cell_atoms, label), points in ordered_series:
        if (defect, label) not in markers:  # each level of a defect gets the next marker
            markers[(defect, label)] = LEVEL_MARKERS[sum(1 for d, _ in markers if d == defect) % len(LEVEL_MARKERS)]
        name = defect + (f" {label}" if label else "") + (f" ({cell_atoms} atoms)" if cell_atoms is not None else "")
        _draw_series(ax, points, colours.get(defect, "grey"), name, marker=markers[(defect, label)],
                     transfer=cell_atoms in transfer_cells)
    ylabel = "band gap (eV)" if quantity == "gap" else "defect level − VBM (eV)"
    title = "Band gap vs temperature" if quantity == "gap" else "Defect levels vs temperature"
    ax.set(xlabel="temperature (K)", ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncols=2 if len(series) > 6 else 1)
    return fig


def _ordered_defects(summary: dict[str, Any], defects: set[str]) -> list[str]:
    """Config order first, then the rest alphabetically (pristine last)."""
    configured = ((summary.get("config") or {}).get("defects") or {}).get("names") or []
    others = sorted(defects - set(configured), key=lambda d: (d == "pristine", d))
    return [d for d in configured if d in defects] + others


def _cell_colours(cells: list[Any]) -> dict[Any, Any]:
    """One colour per cell size, darker for larger cells."""
    from matplotlib import colormaps

    ordered = sorted(cells, key=lambda n: (not is_number(n), n if is_number(n) else 0))
    palette = colormaps["viridis"]
    return {n: palette(0.75 - 0.6 * k / max(1, len(ordered) - 1)) for k, n in enumerate(ordered)}


def level_below_cbm_figure(summary: dict[str, Any]) -> "Figure | None":
    """CBM − level 1 vs temperature, one panel per defect with a level 1, one line per cell size.

    Level 1 is the lowest in-gap level of each snapshot. Markers and line:
    mean over MD snapshots of CBM − ε; shaded: ±σ (``below_cbm_std_ev``);
    error bars: ``below_cbm_uncertainty_ev`` (else ``below_cbm_sem_ev``).
    Solid: production cell; dashed: transfer (larger) cells.
    """
    rows = _thermal_rows(summary)
    series: dict[str, dict[Any, list[tuple]]] = {}
    for entry in rows:
        level = first_level(entry)
        if level is None or not is_number(level.get("below_cbm_mean_ev")):
            continue
        cells = series.setdefault(str(entry.get("defect", "")), {})
        cells.setdefault(entry.get("cell_atoms"), []).append(_point(entry["temperature_k"], level, "below_cbm_"))
    if not series:
        return None
    transfer_cells = _transfer_cells(summary, rows)
    colours = _cell_colours(list({n for cells in series.values() for n in cells}))
    defects = _ordered_defects(summary, set(series))
    fig, axes = panel_grid(len(defects))
    for ax, defect in zip(axes, defects):
        for cell_atoms in sorted(series[defect], key=lambda n: (not is_number(n), n if is_number(n) else 0)):
            transfer = cell_atoms in transfer_cells
            label = f"{cell_atoms} atoms, " + ("transfer" if transfer else "production")
            _draw_series(ax, sorted(series[defect][cell_atoms]), colours[cell_atoms], label, transfer=transfer)
        ax.set(xlabel="temperature (K)", ylabel="CBM − level 1 (eV)", title=plain_text(defect))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig


def _running(entry: dict[str, Any], key: str) -> list[float]:
    values = (entry.get("convergence") or {}).get(key) if isinstance(entry.get("convergence"), dict) else None
    return [float(v) for v in values] if isinstance(values, list) and values and all(map(is_number, values)) else []


def convergence_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The thermal rows the convergence figure draws.

    Every row of the largest cell that has a level 1 (its running means are
    recorded), plus the production rows when there are at most
    :data:`CONVERGENCE_FEW_ROWS` of them; without any level, the production
    rows (all rows when none is marked production).
    """
    rows = [t for t in _thermal_rows(summary) if _running(t, "gap")]
    with_level = [t for t in rows if _running(t, "level_1_below_cbm")]
    production = [t for t in rows if thermal_set(t, summary) == "production"]
    if not with_level:
        return production or rows
    largest = max((t.get("cell_atoms") for t in with_level), key=lambda n: (is_number(n), n if is_number(n) else 0))
    chosen = [t for t in rows if t.get("cell_atoms") == largest]
    if len(production) <= CONVERGENCE_FEW_ROWS:
        chosen += [t for t in production if all(t is not c for c in chosen)]
    return chosen


def convergence_figure(summary: dict[str, Any]) -> "Figure | None":
    """Running mean over the first 1, 2, ..., n snapshots of the gap and of CBM − level 1 (eV).

    One panel per quantity (the level panel only when a row has level 1),
    one line per (defect, T, cell size) of :func:`convergence_rows`: colour =
    defect, line style = temperature, thicker lines = the largest cell.
    """
    rows = sorted(convergence_rows(summary),
                  key=lambda t: (str(t.get("defect")), str(t.get("cell_atoms")), t["temperature_k"]))
    if not rows:
        return None
    from matplotlib.ticker import MaxNLocator

    quantities = [q for q in CONVERGENCE_QUANTITIES if any(_running(t, q[0]) for t in rows)]
    colours = defect_colours(summary, sorted({str(t.get("defect", "")) for t in rows}))
    temperatures = sorted({t["temperature_k"] for t in rows})
    styles = {temp: TEMPERATURE_LINESTYLES[k % len(TEMPERATURE_LINESTYLES)] for k, temp in enumerate(temperatures)}
    cells = {t.get("cell_atoms") for t in rows}
    largest = max(cells, key=lambda n: (is_number(n), n if is_number(n) else 0))
    fig, axes = new_figure(len(quantities), width_per_panel_in=5.4, height_in=4.4)
    for ax, (key, ylabel, title) in zip(axes, quantities):
        for entry in rows:
            values = _running(entry, key)
            if not values:
                continue
            label = f"{entry.get('defect', '')}, {entry['temperature_k']:g} K"
            label += f", {entry.get('cell_atoms')} atoms" if len(cells) > 1 else ""
            ax.plot(range(1, len(values) + 1), values, ls=styles[entry["temperature_k"]],
                    color=colours.get(str(entry.get("defect", "")), "grey"),
                    lw=1.8 if entry.get("cell_atoms") == largest else 1.0, label=plain_text(label))
        ax.set(xlabel="snapshots averaged", ylabel=ylabel, title=title)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, ncols=2 if len(rows) > 8 else 1)
    return fig


def _validation_groups(summary: dict[str, Any]) -> dict[tuple, list[dict[str, Any]]]:
    curves = (section(summary, "validation") or {}).get("curves") or []
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for c in curves:
        if isinstance(c, dict) and is_number(c.get("temperature_k")):
            groups.setdefault((str(c.get("defect", "")), c.get("cell_atoms")), []).append(c)
    return {k: sorted(v, key=lambda c: c["temperature_k"]) for k, v in groups.items()}


def _side_points(curve: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    pairs = [(c["temperature_k"], c[key]) for c in curve if is_number(c.get(key))]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def validation_figure(summary: dict[str, Any]) -> "Figure | None":
    """Model against reference over temperature (``validation.curves``), on the same MD snapshots.

    Left: mean band gap; right (defects with a level): mean level 1 above the
    VBM. One colour per defect; solid line, filled markers = model; dashed
    line, open markers = reference.
    """
    groups = _validation_groups(summary)
    panels = [(name, ylabel, title) for name, ylabel, title in (
        ("gap", "band gap (eV)", "Band gap: model vs reference"),
        ("level", "level 1 − VBM (eV)", "Defect level 1: model vs reference"),
    ) if any(_side_points(g, f"{side}_{name}_mean_ev")[0] for g in groups.values() for side in ("model", "reference"))]
    if not panels or panels[0][0] != "gap":
        return None
    colours = defect_colours(summary, sorted({d for d, _ in groups}))
    several_cells = len({n for _, n in groups}) > 1
    fig, axes = new_figure(len(panels), width_per_panel_in=5.4, height_in=4.3)
    order = sorted(groups, key=lambda k: (_ordered_defects(summary, {d for d, _ in groups}).index(k[0]), str(k[1])))
    for ax, (name, ylabel, title) in zip(axes, panels):
        for defect, cell_atoms in order:
            curve = groups[(defect, cell_atoms)]
            colour = colours.get(defect, "grey")
            base = defect + (f" ({cell_atoms} atoms)" if several_cells else "")
            mx, my = _side_points(curve, f"model_{name}_mean_ev")
            rx, ry = _side_points(curve, f"reference_{name}_mean_ev")
            if my:
                ax.plot(mx, my, "o-", color=colour, lw=1.8, label=plain_text(f"{base} model"))
            if ry:
                ax.plot(rx, ry, "o--", color=colour, lw=1.2, markerfacecolor="none",
                        label=plain_text(f"{base} reference"))
        ax.set(xlabel="temperature (K)", ylabel=ylabel, title=title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig
