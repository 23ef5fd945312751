"""Thermal statistics of band edges, gap and defect levels over MD snapshots.

Per temperature and quantity: mean, standard deviation (the thermal
broadening), number of snapshots and the standard error of the mean. The
standard error accounts for correlated snapshots by block averaging
(Flyvbjerg and Petersen, J. Chem. Phys. 91, 461 (1989)): consecutive
snapshots are averaged in pairs repeatedly, and the largest error estimate
over blocking levels with at least 4 blocks is kept. With fewer than 4
snapshots it is the plain ``std / sqrt(n)``.

Defect levels are tracked by rank: ``level_1`` is the lowest in-gap level of
a snapshot, ``level_2`` the next, and so on, each measured from the VBM
(``..._above_vbm_ev``). Snapshots without that level are left out of its
statistics (its ``n`` says how many had it). Energies in eV.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from thermodefect.electronic.levels import GapResult
from thermodefect.core.files import atomic_write_json, atomic_write_text

MIN_BLOCKS = 4


def block_standard_error(values: np.ndarray) -> float:
    """Standard error of the mean of a time series, by block averaging (eV)."""
    x = np.asarray(values, float)
    n = len(x)
    if n < 2:
        return float("nan")
    best = np.std(x, ddof=1) / np.sqrt(n)
    while len(x) >= 2 * MIN_BLOCKS:
        x = 0.5 * (x[: len(x) // 2 * 2 : 2] + x[1 : len(x) // 2 * 2 : 2])
        best = max(best, np.std(x, ddof=1) / np.sqrt(len(x)))
    return float(best)


@dataclass
class Statistic:
    mean: float
    std: float  # thermal broadening (sample standard deviation)
    stderr: float  # standard error of the mean (block averaging)
    n: int

    @classmethod
    def of(cls, values) -> "Statistic":
        x = np.asarray(values, float)
        if len(x) == 0:
            return cls(float("nan"), float("nan"), float("nan"), 0)
        std = float(np.std(x, ddof=1)) if len(x) > 1 else 0.0
        return cls(float(np.mean(x)), std, block_standard_error(x), len(x))


def snapshot_quantities(result: GapResult) -> dict[str, float]:
    """Scalars of one snapshot: vbm/cbm/gap and each level's position above the VBM (eV)."""
    values = {"gap_ev": result.gap_ev, "vbm_ev": result.vbm_ev, "cbm_ev": result.cbm_ev}
    for rank, level in enumerate(sorted(result.levels, key=lambda lv: lv.energy_ev), start=1):
        values[f"level_{rank}_above_vbm_ev"] = level.above_vbm_ev
    return values


def thermal_statistics(results_by_temperature: dict[float, list[GapResult]]) -> dict[float, dict[str, Statistic]]:
    """``{T: {quantity: Statistic}}`` from time-ordered snapshot results per temperature (K)."""
    table: dict[float, dict[str, Statistic]] = {}
    for temperature, results in sorted(results_by_temperature.items()):
        series: dict[str, list[float]] = {}
        for result in results:
            for name, value in snapshot_quantities(result).items():
                series.setdefault(name, []).append(value)
        table[float(temperature)] = {name: Statistic.of(values) for name, values in series.items()}
    return table


def statistics_rows(table: dict[float, dict[str, Statistic]], label: str = "") -> list[dict]:
    """Flat rows ``{label, temperature_k, quantity, mean, std, stderr, n}`` for CSV/JSON."""
    rows = []
    for temperature, stats in table.items():
        for name, st in stats.items():
            rows.append({"label": label, "temperature_k": temperature, "quantity": name, **st.__dict__})
    return rows


def write_statistics(table: dict[float, dict[str, Statistic]], json_path, csv_path, label: str = "") -> None:
    """Write the statistics as JSON and CSV (atomically)."""
    rows = statistics_rows(table, label)
    atomic_write_json(json_path, {"label": label, "stderr_method": "block averaging (Flyvbjerg-Petersen)", "rows": rows})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["label", "temperature_k", "quantity", "mean", "std", "stderr", "n"])
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(csv_path, buffer.getvalue())


def plot_thermal(table: dict[float, dict[str, Statistic]], path: str | Path, title: str = "") -> None:
    """gap(T) and level(T) (above VBM) with mean ± std shaded and stderr error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    temperatures = np.array(sorted(table))
    names = ["gap_ev"] + sorted({n for st in table.values() for n in st if n.startswith("level_")})
    fig, ax = plt.subplots(figsize=(5, 4))
    for name in names:
        rows = [(t, table[t][name]) for t in temperatures if name in table[t] and table[t][name].n > 0]
        if not rows:
            continue
        t = np.array([r[0] for r in rows])
        mean = np.array([r[1].mean for r in rows])
        std = np.array([r[1].std for r in rows])
        err = np.array([r[1].stderr for r in rows])
        label = "gap" if name == "gap_ev" else name.replace("_above_vbm_ev", " - VBM")
        line = ax.errorbar(t, mean, yerr=np.nan_to_num(err), marker="o", ms=4, capsize=3, label=label)
        ax.fill_between(t, mean - std, mean + std, color=line[0].get_color(), alpha=0.2)
    ax.set_xlabel("temperature (K)")
    ax.set_ylabel("energy (eV)")
    ax.set_title(title or "gap and defect levels (mean ± std)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
