"""Every figure of a run, drawn from its results files, listed in one registry.

:data:`REGISTRY` is the table (PNG name in ``report/figures/`` -> source
results file -> caption -> draw function) that the HTML report iterates;
nothing else in the package draws a figure. The draw functions live here and,
for the temperature dependence and the validation over temperature, in
:mod:`thermodefect.report.thermal_figures`; shared pieces (saving, colours)
in :mod:`thermodefect.report.plotting`. The ``*_figure`` functions take the
loaded data (the summary dict, or the JSON of one figure-data file) and
return an unsaved ``matplotlib.figure.Figure``, or None when the data are
absent; each ``plot_*`` writes that figure to a PNG path
(``plotting.DPI`` dots per inch) and returns the path, or returns None and
writes nothing. Figures are built on ``matplotlib.figure.Figure`` directly
(no global figure manager), so no global backend state is touched and
nothing needs a display.

Sources: ``results/summary.json`` (learning curves, accuracy, validation,
thermal figures), ``results/ff_parity_round-K.json`` (force parity, last
active-learning round), ``results/figures/bands_<defect>.json`` and
``results/figures/md.json`` (written by the report stage from the models and
trajectories, see ``thermodefect.workflow.figure_data``). Each caption ends
with where its data come from and the commands that redraw or recompute it.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from thermodefect.core.results import read_results_json
from thermodefect.report.plotting import defect_colours, is_number, new_figure, plain_text, save_figure
from thermodefect.report.summary import ReportInputError, section
from thermodefect.report.thermal_figures import (
    convergence_figure,
    level_below_cbm_figure,
    thermal_figure,
    validation_figure,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _round_axis(rounds: list[dict[str, Any]]) -> tuple[list[float], str]:
    """x values of a learning curve: number of labels if every round has it, else the round index."""
    if all(is_number(r.get("n_labels")) for r in rounds):
        return [r["n_labels"] for r in rounds], "training labels"
    return [r.get("round", k) for k, r in enumerate(rounds)], "active-learning round"


def _points(xs: list[float], rounds: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    pairs = [(x, r[key]) for x, r in zip(xs, rounds) if is_number(r.get(key))]
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
    fig, (ax_energy, ax_force) = new_figure(2)
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
            if is_number(value):
                dx.append(x)
                dy.append(value)
        ax_force.plot(dx, dy, ".-", lw=0.8, color=colours[defect], label=plain_text(defect))
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
    fig, (ax,) = new_figure(1, width_per_panel_in=5.5)
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


def accuracy_figure(summary: dict[str, Any]) -> "Figure | None":
    """Bar charts of held-out gap MAE and level MAE (meV) per defect.

    One bar group per defect, one bar per (temperature, cell size) entry of
    ``accuracy``; entries without a level (null) leave their level bar out.
    """
    entries = section(summary, "accuracy") or []
    entries = [e for e in entries if is_number(e.get("gap_mae_mev")) or is_number(e.get("level_mae_mev"))]
    if not entries:
        return None
    defects = list(dict.fromkeys(str(e.get("defect", "")) for e in entries))
    groups = list(dict.fromkeys((e.get("temperature_k"), e.get("cell_atoms")) for e in entries))
    width = 0.8 / len(groups)
    fig, axes = new_figure(2, width_per_panel_in=max(4.5, 1.0 * len(defects) + 2))
    for ax, key, title in zip(axes, ("gap_mae_mev", "level_mae_mev"), ("Band gap error", "Defect level error")):
        for g, (temperature, cell_atoms) in enumerate(groups):
            xs, heights = [], []
            for e in entries:
                if (e.get("temperature_k"), e.get("cell_atoms")) == (temperature, cell_atoms) and is_number(e.get(key)):
                    xs.append(defects.index(str(e.get("defect", ""))) - 0.4 + width * (g + 0.5))
                    heights.append(e[key])
            label = f"{temperature:g} K" if is_number(temperature) else str(temperature)
            label += f", {cell_atoms} atoms" if cell_atoms is not None else ""
            ax.bar(xs, heights, width=width, color=f"C{g % 10}", label=label)
        ax.set_xticks(range(len(defects)), [plain_text(d) for d in defects])
        ax.set(ylabel="MAE vs reference (meV)", title=title)
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=8)
    return fig


def plot_forcefield_learning_curve(summary: dict[str, Any], path: str | Path) -> Path | None:
    """Write :func:`forcefield_learning_curve_figure` to ``path`` (PNG); None if no rounds."""
    return save_figure(forcefield_learning_curve_figure(summary), path)


def plot_hamiltonian_learning_curve(summary: dict[str, Any], path: str | Path) -> Path | None:
    """Write :func:`hamiltonian_learning_curve_figure` to ``path`` (PNG); None if no rounds."""
    return save_figure(hamiltonian_learning_curve_figure(summary), path)


def plot_thermal(summary: dict[str, Any], path: str | Path, quantity: Literal["gap", "level"] = "gap") -> Path | None:
    """Write :func:`thermal_figure` to ``path`` (PNG); None if no thermal data for ``quantity``."""
    return save_figure(thermal_figure(summary, quantity), path)


def plot_accuracy(summary: dict[str, Any], path: str | Path) -> Path | None:
    """Write :func:`accuracy_figure` to ``path`` (PNG); None if no gap/level errors."""
    return save_figure(accuracy_figure(summary), path)


def plot_validation(summary: dict[str, Any], path: str | Path) -> Path | None:
    """Write :func:`~thermodefect.report.thermal_figures.validation_figure` to ``path``; None without validation."""
    return save_figure(validation_figure(summary), path)


def plot_level_below_cbm(summary: dict[str, Any], path: str | Path) -> Path | None:
    """Write :func:`~thermodefect.report.thermal_figures.level_below_cbm_figure` to ``path``; None without level 1."""
    return save_figure(level_below_cbm_figure(summary), path)


def plot_convergence(summary: dict[str, Any], path: str | Path) -> Path | None:
    """Write :func:`~thermodefect.report.thermal_figures.convergence_figure` to ``path``; None without running means."""
    return save_figure(convergence_figure(summary), path)


# ---------------------------------------------------------------------------
# Figures from the other results files (force parity, band structures, MD).


def force_parity_figure(parity: dict[str, Any]) -> "Figure | None":
    """MACE (ensemble mean) vs reference force components (eV/Å), one colour per defect, y = x dashed.

    ``parity``: ``{reference_ev_per_angstrom, predicted_ev_per_angstrom, defect}``,
    one entry per force component (``results/ff_parity_round-K.json``, the
    ``"parity"`` entry of ``force_field_errors``).
    """
    import numpy as np

    ref = np.asarray(parity.get("reference_ev_per_angstrom") or [], float)
    pred = np.asarray(parity.get("predicted_ev_per_angstrom") or [], float)
    if ref.size == 0 or ref.shape != pred.shape:
        return None
    defects = np.asarray(parity.get("defect") or ["all"] * ref.size, dtype=object)
    fig, (ax,) = new_figure(1, width_per_panel_in=4.6, height_in=4.4)
    colours = defect_colours({}, sorted(set(defects.tolist())))
    for name in dict.fromkeys(defects.tolist()):
        mask = defects == name
        ax.scatter(ref[mask], pred[mask], s=4, alpha=0.6, color=colours.get(name, "grey"), label=plain_text(name))
    lim = [float(min(ref.min(), pred.min())), float(max(ref.max(), pred.max()))]
    ax.plot(lim, lim, "k--", lw=0.8)
    ax.set(xlabel="reference force component (eV/Å)", ylabel="MACE force component (eV/Å)", aspect="equal",
           title="Force parity, held-out test set")
    ax.legend(markerscale=3, fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def band_structure_figure(data: dict[str, Any]) -> "Figure | None":
    """Bands along the path (grey lines; points coloured by weight on the defect site and neighbours).

    ``data`` is :func:`thermodefect.electronic.bands.band_figure_data` (JSON):
    energies relative to the VBM (``energy_zero`` "VBM") or absolute. Dashed
    black lines: VBM and CBM; red lines: defect levels; open circles at each
    Γ (when ``reference_gamma_ev`` is given): reference eigenvalues at Γ,
    relative to the reference VBM.
    """
    import numpy as np

    energies = np.asarray(data.get("energies_ev") or [], float)
    x = np.asarray(data.get("distance_per_angstrom") or [], float)
    if energies.ndim != 2 or energies.shape[0] != len(x) or energies.size == 0:
        return None
    positions = [int(p) for p in data.get("label_positions") or []]
    labels = [str(label) for label in data.get("labels") or []]
    relative = data.get("energy_zero") == "VBM"
    fig, (ax,) = new_figure(1, width_per_panel_in=5.6, height_in=4.6)
    for b in range(energies.shape[1]):
        ax.plot(x, energies[:, b], color="0.55", lw=0.8, zorder=1)
    weight = np.asarray(data.get("defect_weight") or [], float)
    if weight.shape == energies.shape and np.any(weight > 0):
        points = ax.scatter(np.repeat(x, energies.shape[1]), energies.ravel(), c=weight.ravel(), s=6, cmap="viridis",
                            vmin=0, vmax=1, zorder=2)
        fig.colorbar(points, ax=ax, label="weight on defect site + neighbours")
    if relative:
        ax.axhline(0.0, color="k", ls="--", lw=0.8, label="VBM, CBM")
        if is_number(data.get("cbm_above_vbm_ev")):
            ax.axhline(data["cbm_above_vbm_ev"], color="k", ls="--", lw=0.8)
        for n, level in enumerate(data.get("levels") or []):
            if is_number(level.get("above_vbm_ev")):
                ax.axhline(level["above_vbm_ev"], color="crimson", lw=1.4,
                           label=f"defect level {level['above_vbm_ev']:.2f} eV (×{level.get('degeneracy', 1)})")
    reference = [e for e in data.get("reference_gamma_ev") or [] if is_number(e)]
    gammas = [x[p] for p, label in zip(positions, labels) if label in ("Γ", "G") and 0 <= p < len(x)]
    for g in gammas:
        ax.scatter(np.full(len(reference), g), reference, s=16, facecolors="none", edgecolors="black", zorder=3,
                   label="reference at Γ" if g == gammas[0] else None)
    for p in positions:
        if 0 <= p < len(x):
            ax.axvline(x[p], color="0.3", lw=0.5)
    ax.set_xticks([x[p] for p in positions if 0 <= p < len(x)], labels[: len(positions)])
    ax.set_xlim(x[0], x[-1])
    ax.set_ylabel("E − E_VBM (eV)" if relative else "E (eV)")
    ax.set_title(plain_text(data.get("title") or "supercell bands (folded)"))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=7)
    return fig


def _md_temperatures(md: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return [t for t in md.get("temperatures") or [] if isinstance(t.get(key), dict)]


def vdos_figure(md: dict[str, Any]) -> "Figure | None":
    """Vibrational density of states per temperature (``results/figures/md.json``), one line per T."""
    entries = _md_temperatures(md, "vdos")
    if not entries:
        return None
    fig, (ax,) = new_figure(1, width_per_panel_in=5.2, height_in=4.0)
    for entry in entries:
        ax.plot(entry["vdos"].get("frequency_thz") or [], entry["vdos"].get("density") or [],
                label=f"{entry.get('temperature_k', 0):g} K")
    ax.set(xlabel="frequency (THz)", ylabel="VDOS (normalized)",
           title=plain_text(f"{md.get('source', 'MD')}, {md.get('defect', '')}"))
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return fig


def rdf_figure(md: dict[str, Any]) -> "Figure | None":
    """Partial radial distribution functions g_ab(r), one panel per species pair, one line per T."""
    from matplotlib.figure import Figure

    entries = _md_temperatures(md, "rdf")
    pairs = sorted({pair for e in entries for pair in (e["rdf"].get("g") or {})})
    if not pairs:
        return None
    fig = Figure(figsize=(5.2, 1.6 * len(pairs) + 1.2), layout="constrained")
    axes = fig.subplots(len(pairs), 1, sharex=True, squeeze=False)[:, 0]
    for entry in entries:
        r = entry["rdf"].get("r_angstrom") or []
        for ax, pair in zip(axes, pairs):
            if pair in entry["rdf"]["g"]:
                ax.plot(r, entry["rdf"]["g"][pair], label=f"{entry.get('temperature_k', 0):g} K")
    for ax, pair in zip(axes, pairs):
        ax.set_ylabel(f"g(r) {plain_text(pair)}")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("r (Å)")
    axes[0].legend(fontsize=7)
    axes[0].set_title(plain_text(f"{md.get('source', 'MD')}, {md.get('defect', '')}"))
    return fig


def plot_force_parity(parity: dict[str, Any], path: str | Path) -> Path | None:
    """Write :func:`force_parity_figure` to ``path`` (PNG); None if no force components."""
    return save_figure(force_parity_figure(parity), path)


def plot_band_structure(data: dict[str, Any], path: str | Path) -> Path | None:
    """Write :func:`band_structure_figure` to ``path`` (PNG); None if no bands."""
    return save_figure(band_structure_figure(data), path)


def plot_vdos(md: dict[str, Any], path: str | Path) -> Path | None:
    """Write :func:`vdos_figure` to ``path`` (PNG); None if no spectrum."""
    return save_figure(vdos_figure(md), path)


def plot_rdf(md: dict[str, Any], path: str | Path) -> Path | None:
    """Write :func:`rdf_figure` to ``path`` (PNG); None if no g(r)."""
    return save_figure(rdf_figure(md), path)


# ---------------------------------------------------------------------------
# The registry.

SUMMARY = "results/summary.json"


def _last_parity_round(run_dir: Path) -> list[tuple[str, Path]]:
    """``results/ff_parity_round-K.json`` of the last round in ``ff_al_summary.json`` (else the highest K)."""
    results = run_dir / "results"
    rounds = {int(m.group(1)): p for p in results.glob("ff_parity_round-*.json")
              if (m := re.fullmatch(r"ff_parity_round-(\d+)\.json", p.name))}
    # A missing summary (e.g. `ff al` not run) falls back to the highest round; a corrupt one is reported.
    summary = read_results_json(results / "ff_al_summary.json", "forcefield_al", default={}, error=ReportInputError)
    try:
        last = int(summary["metrics"][-1]["round"])
    except (ValueError, LookupError, TypeError):
        last = max(rounds, default=None)
    return [("", rounds[last])] if last in rounds else []


@dataclass(frozen=True)
class RegisteredFigure:
    """One figure of the report.

    ``name``: PNG file name in ``report/figures/``; a ``*`` stands for the part
    of the source file name its ``*`` matched (e.g. the defect). ``source``:
    the results file it is drawn from, relative to the run directory.
    ``caption``: shown under the figure, ``{name}`` replaced by that part.
    ``draw``: loaded JSON of the source -> Figure (None: no data, no PNG).
    ``find``: custom lookup of the source files, ``run_dir -> [(star part, path)]``.
    ``key``: the part of the source the figure reads (e.g. ``thermal``).
    ``stages``: the pipeline stages that recompute its data, in order; the
    ``report`` stage then rewrites the summary and redraws the figure.
    """

    name: str
    source: str
    caption: str
    draw: Callable[[Any], "Figure | None"]
    find: Callable[[Path], list[tuple[str, Path]]] | None = None
    key: str = ""
    stages: tuple[str, ...] = ()

    def sources(self, run_dir: str | Path) -> list[tuple[str, Path]]:
        run_dir = Path(run_dir)
        if self.find is not None:
            return self.find(run_dir)
        if "*" not in self.source:
            path = run_dir / self.source
            return [("", path)] if path.is_file() else []
        prefix, suffix = Path(self.source).name.split("*", 1)
        return [(p.name[len(prefix): len(p.name) - len(suffix)], p) for p in sorted(run_dir.glob(self.source))
                if p.is_file()]

    def file_name(self, star: str = "") -> str:
        return self.name.replace("*", star)

    def matches(self, file_name: str) -> bool:
        return fnmatch.fnmatchcase(file_name, self.name)

    def star_of(self, file_name: str) -> str:
        if "*" not in self.name:
            return ""
        prefix, suffix = self.name.split("*", 1)
        return file_name[len(prefix): len(file_name) - len(suffix)]

    def reproduce(self) -> str:
        """The sentence that says where the data come from and how to redraw or recompute the figure."""
        only = " ".join(f"--only {stage}" for stage in (*self.stages, "report"))
        data = self.source + (f" ({self.key})" if self.key else "")
        return (f"Data: {data}; redrawn by `thermodefect report RUN_DIR`, recomputed by "
                f"`thermodefect run CONFIG {only}`.")

    def caption_for(self, file_name: str) -> str:
        """The caption shown under the PNG ``file_name``, with :meth:`reproduce` appended."""
        return f"{self.caption.format(name=self.star_of(file_name))} {self.reproduce()}"


UNCERTAINTY_CAPTION = (
    "combined uncertainty of the mean sqrt(SEM² + ensemble spread²) (error bars; SEM from block averaging over the "
    "correlated snapshots, ensemble spread = standard deviation over the Hamiltonian ensemble members of their thermal "
    "means; SEM alone where no ensemble spread is recorded)"
)
THERMAL_CAPTION = (
    "vs temperature, per defect and cell size, from the Hamiltonian model on MACE NVT MD snapshots: mean over "
    f"snapshots (markers and line), ±σ thermal broadening (shaded), {UNCERTAINTY_CAPTION}; solid = production cell "
    "size, dashed = transfer cell sizes."
)

# Display order of the report.
REGISTRY: tuple[RegisteredFigure, ...] = (
    RegisteredFigure(
        "ff_learning_curve.png", SUMMARY,
        "Force field learning curve: held-out test-set energy MAE (left) and force MAE (right) of the MACE ensemble "
        "vs number of training labels (or active-learning round); thin lines: force MAE per defect.",
        forcefield_learning_curve_figure, key="forcefield", stages=("forcefield_al",)),
    RegisteredFigure(
        "ff_parity.png", "results/ff_parity_round-K.json (K: last round in results/ff_al_summary.json)",
        "Force parity: MACE ensemble-mean vs reference force components (eV/Å) on the held-out test set after the "
        "last active-learning round, one colour per defect; dashed: y = x.",
        force_parity_figure, find=_last_parity_round, stages=("forcefield_al",)),
    RegisteredFigure(
        "vdos.png", "results/figures/md.json",
        "Vibrational density of states from MACE NVT production MD of the cell named in the title, one line per "
        "temperature (MACE only; no reference MD).",
        vdos_figure, stages=("production_md",)),
    RegisteredFigure(
        "rdf.png", "results/figures/md.json",
        "Partial radial distribution functions g(r) per species pair from MACE NVT production MD of the cell named "
        "in the title, one line per temperature (MACE only; no reference MD).",
        rdf_figure, stages=("production_md",)),
    RegisteredFigure(
        "ham_learning_curve.png", SUMMARY,
        "Hamiltonian model learning curve: Hamiltonian-element MAE and Γ eigenvalue MAE (also with the mean offset "
        "removed, when recorded) on the active-learning test set vs number of training labels.",
        hamiltonian_learning_curve_figure, key="hamiltonian", stages=("hamiltonian_al",)),
    RegisteredFigure(
        "accuracy.png", SUMMARY,
        "Held-out accuracy of the Hamiltonian model vs the reference: band gap MAE (left) and defect level MAE "
        "(right) in meV per defect, one bar per (temperature, cell size); no bar where a defect has no level.",
        accuracy_figure, key="accuracy", stages=("accuracy",)),
    RegisteredFigure(
        "validation_T.png", SUMMARY,
        "Model vs reference over temperature on the same MACE NVT MD snapshots: mean band gap (left) and mean "
        "defect level 1 above the VBM (right, defects with a level), one colour per defect; solid lines, filled "
        "markers: Hamiltonian model; dashed lines, open markers: reference.",
        validation_figure, key="validation.curves", stages=("validation",)),
    RegisteredFigure(
        "bands_*.png", "results/figures/bands_*.json",
        "Band structure: {name}. Model bands along the high-symmetry path of the first held-out snapshot (folded "
        "supercell bands; colour: weight on the defect site and neighbours), relative to the model VBM; dashed: "
        "model VBM and CBM; red: model defect levels; open circles: reference eigenvalues at Γ relative to the "
        "reference VBM.",
        band_structure_figure),
    RegisteredFigure("gap_T.png", SUMMARY, "Band gap " + THERMAL_CAPTION, lambda s: thermal_figure(s, "gap"),
                     key="thermal", stages=("statistics",)),
    RegisteredFigure("level_T.png", SUMMARY, "Defect levels relative to the VBM " + THERMAL_CAPTION,
                     lambda s: thermal_figure(s, "level"), key="thermal", stages=("statistics",)),
    RegisteredFigure(
        "level_below_cbm_T.png", SUMMARY,
        "Defect level 1 (the lowest in-gap level) relative to the CBM, CBM − ε, vs temperature: one panel per "
        "defect with a level, one line per cell size (solid: production cell; dashed: larger transfer cells), from "
        "the Hamiltonian model on MACE NVT MD snapshots: mean over snapshots (markers and line), ±σ thermal "
        f"broadening (shaded), {UNCERTAINTY_CAPTION}.",
        level_below_cbm_figure, key="thermal", stages=("statistics",)),
    RegisteredFigure(
        "convergence.png", SUMMARY,
        "Convergence of the thermal means: running mean over the first 1, 2, …, n MD snapshots of the band gap "
        "(left) and of CBM − level 1 (right), one line per defect, temperature and cell size: every series of the "
        "largest cell with a defect level, plus the production cell when it has few series; colour: defect; line "
        "style: temperature; thick lines: the largest cell.",
        convergence_figure, key="thermal.convergence", stages=("statistics",)),
)


def registered(file_name: str) -> RegisteredFigure | None:
    """The registry entry a PNG file name belongs to (None: not a report figure)."""
    return next((entry for entry in REGISTRY if entry.matches(file_name)), None)


def _load(path: Path, cache: dict[Path, Any]) -> Any:
    if path not in cache:
        # ff_parity_round-K.json comes from the force-field loop; summary.json and figures/*.json from the report stage.
        stage = "forcefield_al" if path.name.startswith("ff_parity_round-") else "report"
        cache[path] = read_results_json(path, stage, expect=object, error=ReportInputError)
    return cache[path]


def draw_registered(run_dir: str | Path, figures_dir: str | Path, summary: dict[str, Any] | None = None) -> list[Path]:
    """Draw every figure of :data:`REGISTRY` whose source exists into ``figures_dir``; returns the PNGs written.

    ``summary``: the already loaded (and checked) ``results/summary.json``. A
    registered PNG not drawn this time (its data are gone) is deleted, so the
    page never shows a plot of numbers the results no longer hold; PNGs that
    match no entry are left alone.
    """
    run_dir, figures_dir = Path(run_dir), Path(figures_dir)
    cache: dict[Path, Any] = {}
    if summary is not None:
        cache[run_dir / SUMMARY] = summary
    written: list[Path] = []
    for entry in REGISTRY:
        for star, source in entry.sources(run_dir):
            data = _load(source, cache)
            target = figures_dir / entry.file_name(star)
            path = save_figure(entry.draw(data), target) if isinstance(data, dict) else None
            if path is not None:
                written.append(path)
    if figures_dir.is_dir():
        for stale in figures_dir.glob("*.png"):
            if registered(stale.name) is not None and stale not in written:
                stale.unlink(missing_ok=True)
    return written
