"""Figures for the report, drawn from ``results/summary.json``.

Each ``plot_*`` function takes the loaded summary dict and a PNG path, writes
the figure (``DPI`` dots per inch) and returns the path, or returns None and
writes nothing when the summary lacks the data. The matching ``*_figure``
function returns the unsaved figure (or None) for callers that want to adjust it. Figures are built on
``matplotlib.figure.Figure`` directly (no pyplot), so no global backend state
is touched and nothing needs a display.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from thermodefect.report.summary import section, training_cell_atoms

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 120
PRISTINE_COLOUR = "black"
TRANSFER_LINESTYLE = "--"
TRAINING_LINESTYLE = "-"
LEVEL_MARKERS = ("o", "s", "^", "D", "v", "P")


def _new_figure(ncols: int = 1, width_per_panel_in: float = 5.0, height_in: float = 3.8):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_per_panel_in * ncols, height_in), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def _save(fig: "Figure | None", path: str | Path) -> Path | None:
    if fig is None:
        return None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png")
    return path


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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


def _plain_text(text: str) -> str:
    """Text from the summary shown verbatim: a ``$`` would otherwise start matplotlib mathtext."""
    return str(text).replace("$", r"\$")


def _round_axis(rounds: list[dict[str, Any]]) -> tuple[list[float], str]:
    """x values of a learning curve: number of labels if every round has it, else the round index."""
    if all(_is_number(r.get("n_labels")) for r in rounds):
        return [r["n_labels"] for r in rounds], "training labels"
    return [r.get("round", k) for k, r in enumerate(rounds)], "active-learning round"


def _points(xs: list[float], rounds: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    pairs = [(x, r[key]) for x, r in zip(xs, rounds) if _is_number(r.get(key))]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _log_if_positive(ax, values: list[float]) -> None:
    if values and min(values) > 0 and max(values) / min(values) > 10:
        ax.set_yscale("log")


def forcefield_learning_curve_figure(summary: dict[str, Any]) -> "Figure | None":
    """Energy MAE (meV/atom) and force MAE (meV/Å) per active-learning round.

    Left panel: energy MAE; right panel: force MAE on the held-out test set,
    with per-defect force MAE as thin lines (one colour per defect).
    """
    rounds = (section(summary, "forcefield") or {}).get("rounds") or []
    if not rounds:
        return None
    xs, xlabel = _round_axis(rounds)
    fig, (ax_energy, ax_force) = _new_figure(2)
    ex, ey = _points(xs, rounds, "energy_mae_mev_per_atom")
    ax_energy.plot(ex, ey, "o-", color="C0", lw=2, label="all")
    fx, fy = _points(xs, rounds, "force_mae_mev_per_angstrom")
    ax_force.plot(fx, fy, "o-", color="C0", lw=2.5, label="all")
    defects = sorted({d for r in rounds for d in (r.get("per_defect") or {})})
    colours = defect_colours(summary, defects)
    all_force = list(fy)
    for defect in defects:
        dx, dy = [], []
        for x, r in zip(xs, rounds):
            value = ((r.get("per_defect") or {}).get(defect) or {}).get("force_mae_mev_per_angstrom")
            if _is_number(value):
                dx.append(x)
                dy.append(value)
        ax_force.plot(dx, dy, ".-", lw=0.8, color=colours[defect], label=_plain_text(defect))
        all_force += dy
    ax_energy.set(xlabel=xlabel, ylabel="energy MAE (meV/atom)", title="Force field: energy")
    ax_force.set(xlabel=xlabel, ylabel="force MAE (meV/Å)", title="Force field: forces")
    _log_if_positive(ax_force, all_force)
    ax_force.legend(fontsize=8)
    for ax in (ax_energy, ax_force):
        ax.grid(alpha=0.3)
    return fig


def hamiltonian_learning_curve_figure(summary: dict[str, Any]) -> "Figure | None":
    """Hamiltonian-element MAE and eigenvalue MAE (meV) vs number of training labels."""
    rounds = (section(summary, "hamiltonian") or {}).get("rounds") or []
    if not rounds:
        return None
    xs, xlabel = _round_axis(rounds)
    fig, (ax,) = _new_figure(1, width_per_panel_in=5.5)
    plotted = []
    for key, label, style in (
        ("hamiltonian_mae_mev", "Hamiltonian MAE", "o-"),
        ("eigenvalue_mae_mev", "eigenvalue MAE", "s-"),
        ("eigenvalue_mae_aligned_mev", "eigenvalue MAE, offset removed", "^-"),
    ):
        px, py = _points(xs, rounds, key)
        if py:
            ax.plot(px, py, style, lw=2, label=label)
            plotted += py
    ax.set(xlabel=xlabel, ylabel="MAE (meV)", title="Hamiltonian model learning curve")
    _log_if_positive(ax, plotted)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def _thermal_series(summary: dict[str, Any], quantity: str) -> dict[tuple, list[tuple]]:
    """(defect, cell_atoms, level label) -> sorted [(T_K, mean_eV, std_eV, sem_eV)]."""
    series: dict[tuple, list[tuple]] = {}
    for entry in summary.get("thermal") or []:
        temperature = entry.get("temperature_k")
        if not _is_number(temperature):
            continue
        key_base = (str(entry.get("defect", "")), entry.get("cell_atoms"))
        if quantity == "gap":
            values = [("", entry.get("gap_mean_ev"), entry.get("gap_std_ev"), entry.get("gap_sem_ev"))]
        else:
            values = [
                (lv.get("label", ""), lv.get("mean_ev"), lv.get("std_ev"), lv.get("sem_ev"))
                for lv in entry.get("levels") or []
            ]
        for label, mean, std, sem in values:
            if _is_number(mean):
                series.setdefault((*key_base, str(label)), []).append(
                    (temperature, mean, std if _is_number(std) else 0.0, sem if _is_number(sem) else 0.0)
                )
    return {k: sorted(v) for k, v in series.items()}


def thermal_figure(summary: dict[str, Any], quantity: Literal["gap", "level"] = "gap") -> "Figure | None":
    """Band gap or defect levels (relative to the VBM) vs temperature.

    One colour per defect. Line = mean over MD snapshots, shaded band = ±std
    (thermal broadening), error bars = SEM of the mean. Solid lines are the
    training cell size, dashed lines transfer cell sizes (``cell_atoms``
    differs from ``config.supercells.training_atoms``). For levels, each level
    label of a defect gets its own marker.
    """
    if quantity not in ("gap", "level"):
        raise ValueError(f"quantity must be 'gap' or 'level', got {quantity!r}")
    series = _thermal_series(summary, quantity)
    if not series:
        return None
    training = training_cell_atoms(summary)
    colours = defect_colours(summary, sorted({k[0] for k in series}))
    fig, (ax,) = _new_figure(1, width_per_panel_in=6.5, height_in=4.5)
    markers: dict[tuple[str, str], str] = {}
    ordered_series = sorted(series.items(), key=lambda kv: (kv[0][0], str(kv[0][1]), kv[0][2]))
    for (defect, cell_atoms, label), points in ordered_series:
        temps = [p[0] for p in points]
        means = [p[1] for p in points]
        stds = [p[2] for p in points]
        sems = [p[3] for p in points]
        transfer = training is not None and cell_atoms != training
        if (defect, label) not in markers:  # each level of a defect gets the next marker
            markers[(defect, label)] = LEVEL_MARKERS[sum(1 for d, _ in markers if d == defect) % len(LEVEL_MARKERS)]
        marker = markers[(defect, label)]
        name = defect + (f" {label}" if label else "") + (f" ({cell_atoms} atoms)" if cell_atoms is not None else "")
        colour = colours.get(defect, "grey")
        ax.errorbar(
            temps, means, yerr=sems, fmt=marker, ls=TRANSFER_LINESTYLE if transfer else TRAINING_LINESTYLE,
            color=colour, capsize=3, lw=1.2 if transfer else 1.8, label=_plain_text(name),
        )
        if len(points) > 1:
            ax.fill_between(
                temps, [m - s for m, s in zip(means, stds)], [m + s for m, s in zip(means, stds)],
                color=colour, alpha=0.08 if transfer else 0.18, lw=0,
            )
        else:  # one temperature: a band has no width, so draw ±std as a broad translucent bar
            ax.errorbar(temps, means, yerr=stds, fmt="none", ecolor=colour, elinewidth=8, alpha=0.2)
    ylabel = "band gap (eV)" if quantity == "gap" else "defect level − VBM (eV)"
    title = "Band gap vs temperature" if quantity == "gap" else "Defect levels vs temperature"
    ax.set(xlabel="temperature (K)", ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncols=2 if len(series) > 6 else 1)
    return fig


def accuracy_figure(summary: dict[str, Any]) -> "Figure | None":
    """Bar charts of held-out gap MAE and level MAE (meV) per defect.

    One bar group per defect, one bar per (temperature, cell size) entry of
    ``accuracy``; entries without a level (null) leave their level bar out.
    """
    entries = section(summary, "accuracy") or []
    entries = [e for e in entries if _is_number(e.get("gap_mae_mev")) or _is_number(e.get("level_mae_mev"))]
    if not entries:
        return None
    defects = list(dict.fromkeys(str(e.get("defect", "")) for e in entries))
    groups = list(dict.fromkeys((e.get("temperature_k"), e.get("cell_atoms")) for e in entries))
    width = 0.8 / len(groups)
    fig, axes = _new_figure(2, width_per_panel_in=max(4.5, 1.0 * len(defects) + 2))
    for ax, key, title in zip(axes, ("gap_mae_mev", "level_mae_mev"), ("Band gap error", "Defect level error")):
        for g, (temperature, cell_atoms) in enumerate(groups):
            xs, heights = [], []
            for e in entries:
                if (e.get("temperature_k"), e.get("cell_atoms")) == (temperature, cell_atoms) and _is_number(e.get(key)):
                    xs.append(defects.index(str(e.get("defect", ""))) - 0.4 + width * (g + 0.5))
                    heights.append(e[key])
            label = f"{temperature:g} K" if _is_number(temperature) else str(temperature)
            label += f", {cell_atoms} atoms" if cell_atoms is not None else ""
            ax.bar(xs, heights, width=width, color=f"C{g % 10}", label=label)
        ax.set_xticks(range(len(defects)), [_plain_text(d) for d in defects])
        ax.set(ylabel="MAE vs reference (meV)", title=title)
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=8)
    return fig


def plot_forcefield_learning_curve(summary: dict[str, Any], path: str | Path) -> Path | None:
    """Write :func:`forcefield_learning_curve_figure` to ``path`` (PNG); None if no rounds."""
    return _save(forcefield_learning_curve_figure(summary), path)


def plot_hamiltonian_learning_curve(summary: dict[str, Any], path: str | Path) -> Path | None:
    """Write :func:`hamiltonian_learning_curve_figure` to ``path`` (PNG); None if no rounds."""
    return _save(hamiltonian_learning_curve_figure(summary), path)


def plot_thermal(summary: dict[str, Any], path: str | Path, quantity: Literal["gap", "level"] = "gap") -> Path | None:
    """Write :func:`thermal_figure` to ``path`` (PNG); None if no thermal data for ``quantity``."""
    return _save(thermal_figure(summary, quantity), path)


def plot_accuracy(summary: dict[str, Any], path: str | Path) -> Path | None:
    """Write :func:`accuracy_figure` to ``path`` (PNG); None if no gap/level errors."""
    return _save(accuracy_figure(summary), path)
