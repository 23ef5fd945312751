"""Figures of force-field active learning (matplotlib, Agg backend, PNG files)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curve(round_metrics: Sequence[dict], path: str | Path) -> Path:
    """Energy MAE (meV/atom) and force MAE (meV/Å) on the test set vs round.

    ``round_metrics`` are the per-round JSON dicts written by the force-field
    active-learning loop (keys ``round``, ``labels_used``, ``test.overall``).
    """
    plt = _pyplot()
    rounds = [m["round"] for m in round_metrics]
    energy = [m["test"]["overall"]["energy_mae_mev_per_atom"] for m in round_metrics]
    force = [m["test"]["overall"]["force_mae_mev_per_angstrom"] for m in round_metrics]
    fig, (ax_e, ax_f) = plt.subplots(1, 2, figsize=(8, 3.2))
    ax_e.plot(rounds, energy, "o-")
    ax_e.set(xlabel="round", ylabel="energy MAE (meV/atom)")
    ax_f.plot(rounds, force, "o-", color="C1")
    ax_f.set(xlabel="round", ylabel="force MAE (meV/Å)")
    for ax in (ax_e, ax_f):
        ax.set_xticks(rounds)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_force_parity(parity: dict, path: str | Path) -> Path:
    """Predicted vs reference force components (eV/Å), coloured by defect type.

    ``parity`` is the ``"parity"`` entry of :func:`force_field_errors`.
    """
    import numpy as np

    plt = _pyplot()
    ref = np.asarray(parity["reference_ev_per_angstrom"])
    pred = np.asarray(parity["predicted_ev_per_angstrom"])
    defects = np.asarray(parity["defect"])
    fig, ax = plt.subplots(figsize=(4.2, 4))
    for name in dict.fromkeys(defects.tolist()):
        mask = defects == name
        ax.scatter(ref[mask], pred[mask], s=4, alpha=0.6, label=name)
    lim = [min(ref.min(), pred.min()), max(ref.max(), pred.max())]
    ax.plot(lim, lim, "k--", lw=0.8)
    ax.set(xlabel="reference force (eV/Å)", ylabel="MACE force (eV/Å)", aspect="equal")
    ax.legend(markerscale=3, fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
