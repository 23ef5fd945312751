"""Read ``results/summary.json`` and flatten its tables for CSV export.

The summary is written by the pipeline stages; every number the report shows
comes from it. All sections are optional except ``config``. Units are in the
key names (``_ev``, ``_mev``, ``_k``, ``_s``).
"""

from __future__ import annotations

import csv
import io
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
}

THERMAL_CSV_COLUMNS = (
    "cell_atoms", "defect", "temperature_k", "n_snapshots", "quantity", "mean_ev", "std_ev", "sem_ev", "relative_to",
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


def thermal_long_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Flatten ``thermal`` to one row per (cell, defect, T, quantity).

    ``quantity`` is ``gap``, ``vbm``, ``cbm`` or ``level:<label>``; mean and
    std are over MD snapshots (std = thermal broadening), SEM = std/sqrt(n).
    Levels are relative to the VBM; gap/VBM/CBM are absolute (eV).
    """
    rows = []
    for entry in summary.get("thermal") or []:
        base = {k: entry.get(k) for k in ("cell_atoms", "defect", "temperature_k", "n_snapshots")}
        for quantity in ("gap", "vbm", "cbm"):
            if entry.get(f"{quantity}_mean_ev") is None:
                continue
            rows.append({
                **base,
                "quantity": quantity,
                "mean_ev": entry.get(f"{quantity}_mean_ev"),
                "std_ev": entry.get(f"{quantity}_std_ev"),
                "sem_ev": entry.get(f"{quantity}_sem_ev"),
                "relative_to": "",
            })
        for level in entry.get("levels") or []:
            rows.append({
                **base,
                "quantity": f"level:{level.get('label', '')}",
                "mean_ev": level.get("mean_ev"),
                "std_ev": level.get("std_ev"),
                "sem_ev": level.get("sem_ev"),
                "relative_to": level.get("relative_to", ""),
            })
    return rows


def accuracy_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """``accuracy`` entries restricted to :data:`ACCURACY_CSV_COLUMNS`."""
    return [{k: entry.get(k) for k in ACCURACY_CSV_COLUMNS} for entry in summary.get("accuracy") or []]


def csv_text(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    """CSV with a header line; missing or null values are empty cells."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})
    return buffer.getvalue()


def write_result_csvs(run_dir: str | Path, summary: dict[str, Any]) -> list[Path]:
    """Write ``results/summary.csv`` (flattened thermal table) and ``results/accuracy.csv``."""
    results = RunDirectory(run_dir).results
    thermal_csv = results / "summary.csv"
    accuracy_csv = results / "accuracy.csv"
    atomic_write_text(thermal_csv, csv_text(thermal_long_rows(summary), THERMAL_CSV_COLUMNS))
    atomic_write_text(accuracy_csv, csv_text(accuracy_rows(summary), ACCURACY_CSV_COLUMNS))
    return [thermal_csv, accuracy_csv]
