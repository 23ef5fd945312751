"""Figures: written as PNG when the data exist, skipped when not, series styled as documented."""

import pytest
from matplotlib.collections import PolyCollection

from thermodefect.report import figures

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

PLOTTERS = [
    figures.plot_forcefield_learning_curve,
    figures.plot_hamiltonian_learning_curve,
    lambda s, p: figures.plot_thermal(s, p, quantity="gap"),
    lambda s, p: figures.plot_thermal(s, p, quantity="level"),
    figures.plot_accuracy,
    figures.plot_validation,
    figures.plot_level_below_cbm,
    figures.plot_convergence,
]


@pytest.mark.parametrize("plot", PLOTTERS)
def test_plot_writes_png(tmp_path, summary, plot):
    path = plot(summary, tmp_path / "out" / "figure.png")
    assert path is not None and path.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("plot", PLOTTERS)
def test_plot_without_data_writes_nothing(tmp_path, plot):
    path = tmp_path / "figure.png"
    assert plot({"config": {}}, path) is None
    assert not path.exists()


def _series_lines(ax):
    """(label, linestyle, colour) of each errorbar data line with a legend label."""
    return {
        c.get_label(): (c.lines[0].get_linestyle(), c.lines[0].get_color())
        for c in ax.containers
        if c.lines[0] is not None and not c.get_label().startswith("_")
    }


def test_thermal_transfer_series_dashed_and_defect_colour_shared(summary):
    fig = figures.thermal_figure(summary, "gap")
    styles = _series_lines(fig.axes[0])
    assert styles["As_Ga (128 atoms)"][0] == "-"
    assert styles["As_Ga (250 atoms)"][0] == "--"
    assert styles["As_Ga (128 atoms)"][1] == styles["As_Ga (250 atoms)"][1]
    assert styles["As_Ga (128 atoms)"][1] != styles["V_Ga (128 atoms)"][1]


def test_thermal_error_bars_fall_back_to_sem_and_band_is_std(summary):
    fig = figures.thermal_figure(summary, "gap")
    ax = fig.axes[0]
    container = next(c for c in ax.containers if c.get_label() == "V_Ga (128 atoms)")
    entries = [t for t in summary["thermal"] if t["defect"] == "V_Ga"]
    segments = container.lines[2][0].get_segments()  # one vertical segment per point: mean ± SEM
    half_heights = sorted((seg[1][1] - seg[0][1]) / 2 for seg in segments)
    assert half_heights == pytest.approx(sorted(t["gap_sem_ev"] for t in entries))
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    band = bands[0].get_paths()[0].vertices  # first series drawn: As_Ga 128 atoms
    as_ga = [t for t in summary["thermal"] if t["defect"] == "As_Ga" and t["cell_atoms"] == 128]
    assert band[:, 1].max() == pytest.approx(max(t["gap_mean_ev"] + t["gap_std_ev"] for t in as_ga))
    assert band[:, 1].min() == pytest.approx(min(t["gap_mean_ev"] - t["gap_std_ev"] for t in as_ga))


def test_level_figure_labels_levels_relative_to_vbm(summary):
    fig = figures.thermal_figure(summary, "level")
    ax = fig.axes[0]
    assert "VBM" in ax.get_ylabel() and "eV" in ax.get_ylabel()
    assert "As_Ga level 1 (128 atoms)" in _series_lines(ax)
    assert not any(label.startswith("V_Ga") for label in _series_lines(ax))  # V_Ga has no levels


def test_learning_curves_use_label_counts(summary):
    fig = figures.hamiltonian_learning_curve_figure(summary)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["Hamiltonian MAE"].get_xdata()) == [r["n_labels"] for r in summary["hamiltonian"]["rounds"]]
    assert list(lines["eigenvalue MAE"].get_ydata()) == [r["eigenvalue_mae_mev"] for r in summary["hamiltonian"]["rounds"]]
    assert "meV" in ax.get_ylabel()
    ff = figures.forcefield_learning_curve_figure(summary)
    force_labels = {line.get_label() for line in ff.axes[1].get_lines()}
    assert {"all", "As_Ga", "V_Ga"} <= force_labels


def test_unknown_quantity_rejected(summary):
    with pytest.raises(ValueError, match="gap"):
        figures.thermal_figure(summary, "vbm")
