"""Thermal statistics of band edges, gap and defect levels over MD snapshots.

Per temperature and quantity: mean, standard deviation (the thermal
broadening), number of snapshots and the standard error of the mean. The
standard error accounts for correlated snapshots by block averaging
(Flyvbjerg and Petersen, J. Chem. Phys. 91, 461 (1989)): consecutive
snapshots are averaged in pairs repeatedly, and the largest error estimate
over blocking levels with at least 4 blocks is kept. With fewer than 8
snapshots (no blocking level of 4 blocks) it is the plain ``std / sqrt(n)``;
with one snapshot there is no spread and no error estimate (NaN, null in JSON).

The effective number of independent snapshots is ``n_eff = std^2 / SEM^2``
(within [1, n]): ``n`` for uncorrelated snapshots, fewer when consecutive
ones are correlated. A mean resting on fewer than :data:`MIN_INDEPENDENT`
independent snapshots carries a warning.

Model uncertainty: when each snapshot also holds the results of the
Hamiltonian ensemble's members (``members``), each member's thermal mean is
formed over the same snapshots, and their standard deviation is the
ensemble spread of the mean. The combined uncertainty of a thermal mean is
``sqrt(SEM^2 + spread^2)``.

Defect levels are tracked by rank: ``level_1`` is the lowest in-gap level of
a snapshot, ``level_2`` the next, and so on, each measured from the VBM
(``..._above_vbm_ev``) and from the CBM (``..._below_cbm_ev``, CBM minus
level). Snapshots without that level are left out of its statistics (its
``n`` says how many had it). Energies in eV.

:func:`thermal_row` is the one builder of the rows of ``results/thermal.json``
(the ``statistics`` stage calls it; the report draws gap(T) and level(T) from
those rows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from thermodefect.electronic.levels import DefectLevel, GapResult

MIN_BLOCKS = 4
# A thermal mean over fewer independent snapshots than this is flagged in the report.
MIN_INDEPENDENT = 4
EDGES = ("gap", "vbm", "cbm")


def block_standard_error(values: np.ndarray) -> float:
    """Standard error of the mean of a time series, by block averaging (eV); NaN below 2 values."""
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
    std: float  # thermal broadening (sample standard deviation); NaN for one value
    stderr: float  # standard error of the mean (block averaging); NaN for one value
    n: int
    model_std: float = float("nan")  # ensemble spread of the mean; NaN without members

    @classmethod
    def of(cls, values) -> "Statistic":
        x = np.asarray(values, float)
        if len(x) == 0:
            return cls(float("nan"), float("nan"), float("nan"), 0)
        std = float(np.std(x, ddof=1)) if len(x) > 1 else float("nan")
        return cls(float(np.mean(x)), std, block_standard_error(x), len(x))

    @property
    def n_independent(self) -> float:
        """``std^2 / SEM^2`` within [1, n]; NaN below two values."""
        if self.n < 2 or not math.isfinite(self.stderr):
            return float("nan")
        if self.stderr == 0.0:
            return float(self.n)
        return float(min(max((self.std / self.stderr) ** 2, 1.0), self.n))

    @property
    def uncertainty(self) -> float:
        """``sqrt(SEM^2 + model_std^2)`` over the finite terms; NaN when neither is known."""
        terms = [x for x in (self.stderr, self.model_std) if math.isfinite(x)]
        return float(math.sqrt(sum(x * x for x in terms))) if terms else float("nan")


def _levels_of(result) -> list:
    levels = result.levels if isinstance(result, GapResult) else result.get("levels") or []
    return sorted(levels, key=lambda lv: _field(lv, "above_vbm_ev"))


def _field(item, name: str):
    return getattr(item, name) if isinstance(item, (GapResult, DefectLevel)) else item.get(name)


def snapshot_quantities(result: GapResult | Mapping) -> dict[str, float]:
    """Scalars of one snapshot: vbm/cbm/gap, conduction electrons / valence holes, and each level's
    position above the VBM, below the CBM and its electrons (eV, electrons).

    ``result`` is a :class:`GapResult` or its JSON record (keys ``gap_ev``,
    ``vbm_ev``, ``cbm_ev``, ``levels[{above_vbm_ev, below_cbm_ev, electrons}]``,
    as the snapshot prediction files hold it; missing optional keys are skipped).
    """
    values = {f"{q}_ev": _field(result, f"{q}_ev") for q in EDGES}
    for name in ("conduction_electrons", "valence_holes"):
        if _field(result, name) is not None:
            values[name] = _field(result, name)
    for rank, level in enumerate(_levels_of(result), start=1):
        values[f"level_{rank}_above_vbm_ev"] = _field(level, "above_vbm_ev")
        for name, key in (("below_cbm_ev", "below_cbm_ev"), ("electrons", "electrons")):
            if _field(level, name) is not None:
                values[f"level_{rank}_{key}"] = _field(level, name)
    return values


def _series(results: Sequence) -> dict[str, list[float]]:
    series: dict[str, list[float]] = {f"{q}_ev": [] for q in EDGES}
    for result in results:
        for name, value in snapshot_quantities(result).items():
            series.setdefault(name, []).append(value)
    return series


def snapshot_statistics(results: Sequence[GapResult | Mapping]) -> dict[str, Statistic]:
    """``{quantity: Statistic}`` over time-ordered snapshots; gap/vbm/cbm always present (n = 0 if none).

    Records with ``members`` (one result per ensemble member, as the snapshot
    prediction files hold them) also give each quantity its ensemble spread
    (``model_std``): the standard deviation over members of the member's mean
    over the snapshots that have the quantity.
    """
    stats = {name: Statistic.of(values) for name, values in _series(results).items()}
    members = [_field(r, "members") if not isinstance(r, GapResult) else None for r in results]
    if results and all(members) and len({len(m) for m in members}) == 1 and len(members[0]) > 1:
        per_member = [_series([m[k] for m in members]) for k in range(len(members[0]))]
        for name, stat in stats.items():
            means = [float(np.mean(s[name])) for s in per_member if s.get(name)]
            if len(means) > 1:
                stat.model_std = float(np.std(means, ddof=1))
    return stats


def thermal_statistics(results_by_temperature: dict[float, list]) -> dict[float, dict[str, Statistic]]:
    """``{T: {quantity: Statistic}}`` from time-ordered snapshot results per temperature (K)."""
    return {float(t): snapshot_statistics(results) for t, results in sorted(results_by_temperature.items())}


def _json(x: float):
    return float(x) if x is not None and math.isfinite(x) else None


def _stat_fields(st: Statistic, prefix: str, mean_name: str = "mean_ev") -> dict:
    return {f"{prefix}{mean_name}": _json(st.mean), f"{prefix}std_ev": _json(st.std), f"{prefix}sem_ev": _json(st.stderr),
            f"{prefix}model_std_ev": _json(st.model_std), f"{prefix}uncertainty_ev": _json(st.uncertainty),
            f"{prefix}n_independent": _json(st.n_independent)}


def statistics_warnings(stats: dict[str, Statistic], n_snapshots: int) -> list[str]:
    """One line per thermal mean that rests on too few independent snapshots, or a level some snapshots lack."""
    out = []
    if n_snapshots == 1:
        return ["one snapshot: no thermal broadening and no statistical error can be given"]
    if 1 < n_snapshots < 2 * MIN_BLOCKS:
        out.append(f"{n_snapshots} snapshots: too few to check their correlation by block averaging "
                   f"(needs {2 * MIN_BLOCKS}); the SEM assumes they are independent")
    names = ["gap_ev"] + sorted(n for n in stats if n.startswith("level_") and n.endswith("_above_vbm_ev"))
    for name in names:
        st = stats[name]
        label = "gap" if name == "gap_ev" else "level " + name.split("_")[1]
        if 0 < st.n < n_snapshots:
            out.append(f"{label}: found in {st.n} of {n_snapshots} snapshots")
        if st.n == 1:
            out.append(f"{label}: one snapshot, no spread or error estimate")
        elif st.n > 1 and st.n_independent < MIN_INDEPENDENT:
            out.append(f"{label}: mean rests on {st.n_independent:.1f} independent snapshots (of {st.n}); "
                       "its error estimate is unreliable")
    return out


def running_means(values: Sequence[float]) -> list[float]:
    """Mean of the first 1, 2, ..., n values."""
    x = np.asarray(values, float)
    return [float(v) for v in np.cumsum(x) / np.arange(1, len(x) + 1)] if len(x) else []


def thermal_row(results: Sequence[GapResult | Mapping], **identity) -> dict:
    """One row of ``results/thermal.json`` from time-ordered snapshot results of one (cell, defect, T).

    ``identity`` (``cell_atoms``, ``defect``, ``temperature_k``, ...) comes
    first; then ``n_snapshots``, for gap, VBM and CBM ``{q}_{mean,std,sem,
    model_std,uncertainty}_ev`` and ``{q}_n_independent``; the mean conduction
    electrons and valence holes; ``levels`` (rank 1 = lowest in-gap level of
    each snapshot): ``[{label, relative_to: "VBM", n_snapshots, mean_ev, ...,
    below_cbm_mean_ev, ..., electrons_mean}]``; ``convergence`` (running means
    of the gap and of level 1 below the CBM) and ``warnings``. Undefined values
    (one snapshot, no ensemble) are None.
    """
    results = list(results)
    stats = snapshot_statistics(results)
    n = stats["gap_ev"].n
    row = {**identity, "n_snapshots": n}
    edges = {_field(r, "edges") for r in results} - {None}
    row["edges"] = edges.pop() if len(edges) == 1 else ("mixed" if edges else "cell")
    for q in EDGES:
        row.update(_stat_fields(stats[f"{q}_ev"], f"{q}_"))
    for name in ("conduction_electrons", "valence_holes"):
        row[f"{name}_mean"] = _json(stats[name].mean) if name in stats else None
    ranks = sorted(int(name.split("_")[1]) for name in stats if name.startswith("level_") and name.endswith("_above_vbm_ev"))
    row["levels"] = []
    for rank in ranks:
        level = {"label": f"level {rank}", "relative_to": "VBM", "n_snapshots": stats[f"level_{rank}_above_vbm_ev"].n}
        level.update(_stat_fields(stats[f"level_{rank}_above_vbm_ev"], ""))
        if f"level_{rank}_below_cbm_ev" in stats:
            level.update(_stat_fields(stats[f"level_{rank}_below_cbm_ev"], "below_cbm_"))
        if f"level_{rank}_electrons" in stats:
            level["electrons_mean"] = _json(stats[f"level_{rank}_electrons"].mean)
        row["levels"].append(level)
    series = _series(results)
    row["convergence"] = {"gap": running_means(series["gap_ev"])}
    if series.get("level_1_below_cbm_ev"):
        row["convergence"]["level_1_below_cbm"] = running_means(series["level_1_below_cbm_ev"])
    row["warnings"] = statistics_warnings(stats, n)
    return row
