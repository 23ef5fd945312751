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

:func:`thermal_row` is the one builder of the rows of ``results/thermal.json``
(the ``statistics`` stage calls it; the report draws gap(T) and level(T) from
those rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from thermodefect.electronic.levels import DefectLevel, GapResult

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


def _levels_of(result) -> list:
    levels = result.levels if isinstance(result, GapResult) else result.get("levels") or []
    return sorted(levels, key=lambda lv: lv.above_vbm_ev if isinstance(lv, DefectLevel) else lv["above_vbm_ev"])


def snapshot_quantities(result: GapResult | Mapping) -> dict[str, float]:
    """Scalars of one snapshot: vbm/cbm/gap and each level's position above the VBM (eV).

    ``result`` is a :class:`GapResult` or its JSON record (keys ``gap_ev``,
    ``vbm_ev``, ``cbm_ev``, ``levels[{above_vbm_ev}]``, as the snapshot
    prediction files hold it).
    """
    get = (lambda name: getattr(result, name)) if isinstance(result, GapResult) else result.__getitem__
    values = {"gap_ev": get("gap_ev"), "vbm_ev": get("vbm_ev"), "cbm_ev": get("cbm_ev")}
    for rank, level in enumerate(_levels_of(result), start=1):
        values[f"level_{rank}_above_vbm_ev"] = level.above_vbm_ev if isinstance(level, DefectLevel) else level["above_vbm_ev"]
    return values


def snapshot_statistics(results: Sequence[GapResult | Mapping]) -> dict[str, Statistic]:
    """``{quantity: Statistic}`` over time-ordered snapshots; gap/vbm/cbm always present (n = 0 if none)."""
    series: dict[str, list[float]] = {"gap_ev": [], "vbm_ev": [], "cbm_ev": []}
    for result in results:
        for name, value in snapshot_quantities(result).items():
            series.setdefault(name, []).append(value)
    return {name: Statistic.of(values) for name, values in series.items()}


def thermal_statistics(results_by_temperature: dict[float, list]) -> dict[float, dict[str, Statistic]]:
    """``{T: {quantity: Statistic}}`` from time-ordered snapshot results per temperature (K)."""
    return {float(t): snapshot_statistics(results) for t, results in sorted(results_by_temperature.items())}


def thermal_row(stats: dict[str, Statistic], **identity) -> dict:
    """One row of ``results/thermal.json`` from :func:`snapshot_statistics` of one (cell, defect, T).

    ``identity`` (``cell_atoms``, ``defect``, ``temperature_k``) comes first;
    then ``n_snapshots``, ``{gap,vbm,cbm}_{mean,std,sem}_ev`` and ``levels``:
    ``[{label: "level <rank>", mean_ev, std_ev, sem_ev, relative_to: "VBM", n_snapshots}]``,
    rank 1 the lowest in-gap level of each snapshot.
    """
    row = {**identity, "n_snapshots": stats["gap_ev"].n}
    for q in ("gap", "vbm", "cbm"):
        st = stats[f"{q}_ev"]
        row.update({f"{q}_mean_ev": st.mean, f"{q}_std_ev": st.std, f"{q}_sem_ev": st.stderr})
    ranks = sorted(int(name.split("_")[1]) for name in stats if name.startswith("level_"))
    row["levels"] = []
    for rank in ranks:
        st = stats[f"level_{rank}_above_vbm_ev"]
        row["levels"].append({"label": f"level {rank}", "mean_ev": st.mean, "std_ev": st.std, "sem_ev": st.stderr,
                              "relative_to": "VBM", "n_snapshots": st.n})
    return row
