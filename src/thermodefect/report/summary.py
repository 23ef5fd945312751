"""Read ``results/summary.json`` and flatten its tables for CSV export.

The summary is written by the pipeline stages; every number the report shows
comes from it. All sections are optional except ``config``. Units are in the
key names (``_ev``, ``_mev``, ``_k``, ``_s``).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

from thermodefect.core.errors import UserInputError
from thermodefect.core.rundir import RunDirectory
from thermodefect.core.files import atomic_write_text
from thermodefect.core.results import read_results_json, repair_hint

# Top-level sections and the JSON type each must have when present.
SECTION_TYPES: dict[str, type] = {
    "config": dict,
    "run": dict,
    "labels": dict,
    "forcefield": dict,
    "hamiltonian": dict,
    "accuracy": list,
    "thermal": list,
    "timing": dict,
    "md_validation": dict,
    "validation": dict,
}
# Lists inside ``validation`` whose entries must be objects.
VALIDATION_LISTS = ("snapshots", "curves", "summary")

# The first nine columns are those of earlier reports; the new ones follow, so readers by position keep working.
THERMAL_CSV_COLUMNS = (
    "cell_atoms", "defect", "temperature_k", "n_snapshots", "quantity", "mean_ev", "std_ev", "sem_ev", "relative_to",
    "set", "edges", "quantity_n_snapshots", "model_std_ev", "uncertainty_ev", "n_independent", "electrons_mean",
    "conduction_electrons_mean", "valence_holes_mean",
)
# Suffixes of the statistics of one thermal quantity: ``{prefix}mean_ev``, ``{prefix}std_ev``, ...
STAT_FIELDS = ("mean_ev", "std_ev", "sem_ev", "model_std_ev", "uncertainty_ev", "n_independent")
VALIDATION_CSV_COLUMNS = (
    "defect", "temperature_k", "cell_atoms", "n_snapshots",
    "reference_gap_mean_ev", "model_gap_mean_ev", "reference_gap_std_ev", "model_gap_std_ev",
    "reference_level_mean_ev", "model_level_mean_ev", "reference_level_std_ev", "model_level_std_ev",
    "reference_level_below_cbm_mean_ev", "model_level_below_cbm_mean_ev", "gap_mae_mev", "level_mae_mev",
)
ACCURACY_CSV_COLUMNS = (
    "defect", "temperature_k", "cell_atoms", "n",
    "hamiltonian_mae_mev", "eigenvalue_mae_mev", "gap_mae_mev", "level_mae_mev",
)


class ReportInputError(UserInputError):
    """The run directory has no usable summary; one-line message."""


def summary_path(run_dir: str | Path) -> Path:
    return RunDirectory(run_dir).results / "summary.json"


def load_summary(run_dir: str | Path) -> dict[str, Any]:
    """Load and check ``RUN_DIR/results/summary.json``.

    Raises :class:`ReportInputError` (one line) when the directory or file is
    missing, the JSON is malformed, ``config`` is absent, or a section has the
    wrong JSON type.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportInputError(f"{run_dir}: not a directory; pass a run directory (run.directory in the config)")
    path = summary_path(run_dir)
    if not path.is_file():
        raise ReportInputError(f"{path}: not found; run the pipeline (`thermodefect run CONFIG`) before the report")
    summary = read_results_json(path, "report", error=ReportInputError)
    hint = repair_hint("report")
    if "config" not in summary:
        raise ReportInputError(f"{path}: missing the 'config' section; {hint}")
    for key, expected in SECTION_TYPES.items():
        if key in summary and summary[key] is not None and not isinstance(summary[key], expected):
            kind = "an object" if expected is dict else "a list"
            raise ReportInputError(f"{path}: section '{key}' must be {kind}, got {type(summary[key]).__name__}; {hint}")
    for key in ("accuracy", "thermal"):
        for row in summary.get(key) or []:
            if not isinstance(row, dict):
                raise ReportInputError(f"{path}: every entry of '{key}' must be an object, got {type(row).__name__}; {hint}")
    validation = summary.get("validation") or {}
    for key in VALIDATION_LISTS:
        rows = validation.get(key)
        if rows is None:
            continue
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise ReportInputError(f"{path}: 'validation.{key}' must be a list of objects; {hint}")
    if validation.get("overall") is not None and not isinstance(validation["overall"], dict):
        raise ReportInputError(f"{path}: 'validation.overall' must be an object; {hint}")
    return summary


def section(summary: dict[str, Any], key: str) -> Any:
    """A section if present and non-empty, else None (the report says "not run")."""
    value = summary.get(key)
    return value if value else None


def training_cell_atoms(summary: dict[str, Any]) -> int | None:
    """Training supercell size in atoms (from the config), or None if unknown.

    Thermal series of other sizes are transfer series (the model applied to
    cells it was not trained on).
    """
    supercells = (summary.get("config") or {}).get("supercells") or {}
    value = supercells.get("training_atoms")
    return value if isinstance(value, int) else None


def thermal_set(entry: dict[str, Any], summary: dict[str, Any]) -> str | None:
    """``"production"`` or ``"transfer"``: the row's ``set``, else inferred from its cell size; None if unknown.

    Rows of older runs carry no ``set``: a cell of the production (else
    training) size is then the production series, any other size a transfer
    series (the model applied to cells it was not trained on).
    """
    value = entry.get("set")
    if isinstance(value, str) and value:
        return value
    supercells = (summary.get("config") or {}).get("supercells") or {}
    production = supercells.get("production_atoms")
    production = production if isinstance(production, int) else training_cell_atoms(summary)
    if production is None or entry.get("cell_atoms") is None:
        return None
    return "production" if entry.get("cell_atoms") == production else "transfer"


def first_level(entry: dict[str, Any]) -> dict[str, Any] | None:
    """Level 1 of a thermal row (the lowest in-gap level of each snapshot), or None if it has no level."""
    levels = [lv for lv in entry.get("levels") or [] if isinstance(lv, dict)]
    return next((lv for lv in levels if lv.get("label") == "level 1"), levels[0] if levels else None)


def _statistics(source: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {name: source.get(f"{prefix}{name}") for name in STAT_FIELDS}


def thermal_long_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Flatten ``thermal`` to one row per (cell, defect, T, quantity).

    ``quantity`` is ``gap``, ``vbm``, ``cbm``, ``level:<label>`` (position
    above the VBM, ``relative_to`` "VBM") or ``level_below_cbm:<label>`` (CBM
    minus the level, ``relative_to`` "CBM"). Mean and std are over MD
    snapshots (std = thermal broadening), SEM by block averaging,
    ``model_std_ev`` the ensemble spread of the mean, ``uncertainty_ev`` =
    sqrt(SEM² + model_std²), ``n_independent`` = std²/SEM².
    ``quantity_n_snapshots``: the snapshots that have the quantity (a level
    can be missing from some). Gap/VBM/CBM are absolute (eV). Fields a row of
    an older run lacks are None (empty cells).
    """
    rows = []
    for entry in summary.get("thermal") or []:
        base = {k: entry.get(k) for k in ("cell_atoms", "defect", "temperature_k", "n_snapshots")}
        base.update(set=thermal_set(entry, summary), edges=entry.get("edges"),
                    conduction_electrons_mean=entry.get("conduction_electrons_mean"),
                    valence_holes_mean=entry.get("valence_holes_mean"))
        for quantity in ("gap", "vbm", "cbm"):
            if entry.get(f"{quantity}_mean_ev") is None:
                continue
            rows.append({**base, **_statistics(entry, f"{quantity}_"), "quantity": quantity, "relative_to": "",
                         "quantity_n_snapshots": entry.get("n_snapshots")})
        for level in entry.get("levels") or []:
            if not isinstance(level, dict):
                continue
            label = level.get("label", "")
            common = {**base, "quantity_n_snapshots": level.get("n_snapshots", entry.get("n_snapshots")),
                      "electrons_mean": level.get("electrons_mean")}
            rows.append({**common, **_statistics(level, ""), "quantity": f"level:{label}",
                         "relative_to": level.get("relative_to", "")})
            if level.get("below_cbm_mean_ev") is not None:
                rows.append({**common, **_statistics(level, "below_cbm_"), "quantity": f"level_below_cbm:{label}",
                             "relative_to": "CBM"})
    return rows


def validation_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """``validation.curves`` (one row per defect, T and cell size) restricted to :data:`VALIDATION_CSV_COLUMNS`."""
    curves = (summary.get("validation") or {}).get("curves") or []
    return [{k: entry.get(k) for k in VALIDATION_CSV_COLUMNS} for entry in curves if isinstance(entry, dict)]


def accuracy_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """``accuracy`` entries restricted to :data:`ACCURACY_CSV_COLUMNS`."""
    return [{k: entry.get(k) for k in ACCURACY_CSV_COLUMNS} for entry in summary.get("accuracy") or []]


def csv_text(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    """CSV with a header line; missing, null or NaN values are empty cells."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if _is_missing(row.get(k)) else row.get(k) for k in columns})
    return buffer.getvalue()


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def write_result_csvs(run_dir: str | Path, summary: dict[str, Any]) -> list[Path]:
    """Write ``results/summary.csv`` (flattened thermal table), ``results/accuracy.csv`` and ``results/validation.csv``.

    Each file is written even when its section is absent (then it holds the
    header line only), so a rerun never leaves rows of an earlier run behind.
    """
    results = RunDirectory(run_dir).results
    thermal_csv = results / "summary.csv"
    accuracy_csv = results / "accuracy.csv"
    validation_csv = results / "validation.csv"
    atomic_write_text(thermal_csv, csv_text(thermal_long_rows(summary), THERMAL_CSV_COLUMNS))
    atomic_write_text(accuracy_csv, csv_text(accuracy_rows(summary), ACCURACY_CSV_COLUMNS))
    atomic_write_text(validation_csv, csv_text(validation_rows(summary), VALIDATION_CSV_COLUMNS))
    return [thermal_csv, accuracy_csv, validation_csv]
