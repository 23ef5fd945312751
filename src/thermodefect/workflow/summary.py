"""``results/thermal.json`` and ``results/summary.json`` from the stages' outputs."""

from __future__ import annotations

import json
import time
from pathlib import Path

from thermodefect.core.files import atomic_write_json


def _read(path: Path, default=None):
    return json.loads(path.read_text()) if path.exists() else default


def thermal_table(ctx) -> list[dict]:
    """Mean, broadening (std) and standard error per (cell, defect, T) from the snapshot predictions.

    The statistics and the row format are :mod:`thermodefect.electronic.thermal`'s.
    """
    from thermodefect.electronic.thermal import snapshot_statistics, thermal_row

    rows = []
    for path in sorted(ctx.run.snapshot_predictions.glob("*.json")):
        data = json.loads(path.read_text())
        rows.append(thermal_row(snapshot_statistics(data["snapshots"]), cell_atoms=data["cell_atoms"],
                                defect=data["defect"], temperature_k=data["temperature_k"]))
    rows.sort(key=lambda r: (r["cell_atoms"], r["defect"], r["temperature_k"]))
    return rows


def _forcefield_section(run) -> dict | None:
    summary = _read(run.results / "ff_al_summary.json")
    if summary is None:
        return None
    rounds = []
    for m in summary.get("metrics", []):
        test = m.get("test") or {}
        overall = test.get("overall", {})
        row = {"round": m["round"], "n_labels": m.get("labels_used")}
        if "n_selected" in m:
            row["n_selected"] = m["n_selected"]
        for key in ("energy_mae_mev_per_atom", "force_mae_mev_per_angstrom", "force_rmse_mev_per_angstrom"):
            if key in overall:
                row[key] = overall[key]
        if "per_defect" in test:
            row["per_defect"] = test["per_defect"]
        rounds.append(row)
    return {"rounds": rounds, "converged": summary.get("converged")}


def _hamiltonian_section(run) -> dict | None:
    state = _read(run.results / "hamiltonian_al.json")
    if state is None:
        return None
    rounds = []
    for r in state["rounds"]:
        if "metrics" not in r:
            continue
        m = r["metrics"]
        rounds.append({"round": r["round"], "n_labels": r.get("n_labels"), **{k: m[k] for k in (
            "hamiltonian_mae_mev", "eigenvalue_mae_mev", "eigenvalue_mae_aligned_mev", "onsite_mae_mev",
            "hopping_mae_mev") if k in m}})
    stopped = state.get("stopped")
    return {"rounds": rounds, "converged": stopped in ("eigenvalue MAE saturated", "pool exhausted"), "stopped": stopped}


def _labels_section(ctx) -> dict:
    from thermodefect.data.forces import ForcesDataset
    from thermodefect.data.hamiltonians import HamiltonianDataset

    run, s = ctx.run, ctx.settings
    failures = run.failures.read_text().splitlines() if run.failures.exists() else []
    return {
        "forces": len(ForcesDataset(run.forces_dataset).keys()) if run.forces_dataset.exists() else 0,
        "hamiltonian": len(HamiltonianDataset(run.hamiltonian_dataset)),
        "failures": len(failures),
        "reference_forces": f"{s.reference.forces.name} {s.reference.forces.options}",
        "reference_hamiltonian": f"{s.reference.hamiltonian.name} {s.reference.hamiltonian.options}",
    }


def write_summary(ctx) -> dict:
    """Assemble every number of the run into ``results/summary.json``."""
    import thermodefect

    run = ctx.run
    stages = ctx.manifest.stages()
    started = min((st.get("started", "") for st in stages.values() if st.get("started")), default="")
    wall = sum(float(st.get("info", {}).get("wall_time_s", 0.0)) for st in stages.values())
    summary = {
        "config": ctx.settings.model_dump(mode="json"),
        "run": {"directory": str(run.root), "started": started, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "wall_time_s": wall, "thermodefect_version": thermodefect.__version__},
        "labels": _labels_section(ctx),
    }
    ff = _forcefield_section(run)
    if ff:
        summary["forcefield"] = ff
    ham = _hamiltonian_section(run)
    if ham:
        summary["hamiltonian"] = ham
    acc = _read(run.results / "accuracy.json")
    if acc:
        summary["accuracy"] = acc["test"] + acc["transfer"]
        if acc.get("timing"):
            summary["timing"] = acc["timing"]
    thermal = _read(run.results / "thermal.json")
    if thermal:
        summary["thermal"] = thermal
    validation = _read(run.results / "md_validation.json")
    if validation:
        summary["md_validation"] = validation
    atomic_write_json(run.results / "summary.json", summary)
    return summary
