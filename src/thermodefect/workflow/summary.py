"""``results/thermal.json`` and ``results/summary.json`` from the stages' outputs."""

from __future__ import annotations

import time
from pathlib import Path

from thermodefect.core.files import atomic_write_json
from thermodefect.core.results import ResultsFileError, read_results_json, repair_hint

SNAPSHOT_KEYS = ("snapshots", "cell_atoms", "defect", "temperature_k")  # of results/snapshots/*.json


def _read(ctx, path: Path, stage: str | None, expect: type = dict, required: tuple[str, ...] = ()):
    """``path`` written by ``stage``; ``None`` while that stage has not run. Missing although done, or corrupt: one line."""
    if not path.is_file():
        if stage is None or not ctx.manifest.is_done(stage):
            return None
        raise ResultsFileError(f"{path}: missing although the manifest marks the {stage} stage done; {repair_hint(stage)}")
    return read_results_json(path, stage, expect=expect, required=required)


def thermal_table(ctx) -> list[dict]:
    """Mean, broadening (std) and standard error per (cell, defect, T) from the snapshot predictions.

    The statistics and the row format are :mod:`thermodefect.electronic.thermal`'s.
    """
    from thermodefect.electronic.thermal import thermal_row

    paths = sorted(ctx.run.snapshot_predictions.glob("*.json"))
    if not paths:
        raise ResultsFileError(f"{ctx.run.snapshot_predictions}: no snapshot predictions; {repair_hint('predictions')}")
    rows = []
    for path in paths:
        data = read_results_json(path, "predictions", required=SNAPSHOT_KEYS)
        rows.append(thermal_row(data["snapshots"], cell_atoms=data["cell_atoms"], defect=data["defect"],
                                temperature_k=data["temperature_k"], set=data.get("set", "production")))
    rows.sort(key=lambda r: (r["cell_atoms"], r["defect"], r["temperature_k"]))
    return rows


def _forcefield_section(ctx) -> dict | None:
    summary = _read(ctx, ctx.run.forcefield_al_summary, "forcefield_al")
    if summary is None:
        return None
    expected = (["pristine"] if ctx.settings.defects.include_pristine else []) + list(ctx.settings.defects.names)

    def errors(test: dict) -> dict:
        overall = test.get("overall", {})
        row = {key: overall[key] for key in ("energy_mae_mev_per_atom", "force_mae_mev_per_angstrom",
                                               "force_rmse_mev_per_angstrom") if key in overall}
        if "per_defect" in test:
            row["per_defect"] = test["per_defect"]
        # A defect without a test frame (its MD collapsed) is named, not silently absent.
        row["missing_defects"] = [d for d in expected if d not in (test.get("per_defect") or {})]
        return row

    rounds = []
    for m in summary.get("metrics", []):
        row = {"round": m["round"], "n_labels": m.get("labels_used")}
        if "selected" in m:
            row["n_selected"] = m["selected"]
        rounds.append({**row, **errors(m.get("test") or {})})
    out = {"rounds": rounds, "converged": summary.get("converged")}
    final = summary.get("final_test")
    if final:
        out["final_test"] = {"round": final["round"], "temperature_k": final["temperature_k"],
                             "n_collapsed": final.get("n_collapsed", 0), **errors(final.get("test") or {})}
    return out


def _hamiltonian_section(ctx) -> dict | None:
    state = _read(ctx, ctx.run.hamiltonian_al_state, "hamiltonian_al", required=("rounds",))
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


def _stage_times(stages: dict) -> list[dict]:
    """Wall time and the share of the machine's cores busy, per finished stage, in the order they ran."""
    rows = []
    for name, st in stages.items():
        info = st.get("info", {})
        if info.get("wall_time_s") is not None:
            rows.append({"stage": name, "wall_time_s": info["wall_time_s"],
                         "cpu_busy_fraction": info.get("cpu_busy_fraction"), "cpu_cores": info.get("cpu_cores")})
    return rows


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
                "wall_time_s": wall, "thermodefect_version": thermodefect.__version__, "stages": _stage_times(stages)},
        "labels": _labels_section(ctx),
    }
    ff = _forcefield_section(ctx)
    if ff:
        summary["forcefield"] = ff
    ham = _hamiltonian_section(ctx)
    if ham:
        summary["hamiltonian"] = ham
    acc = _read(ctx, run.result("accuracy.json"), "accuracy", required=("test", "transfer"))
    if acc:
        summary["accuracy"] = acc["test"] + acc["transfer"]
        if acc.get("timing"):
            summary["timing"] = acc["timing"]
    thermal_validation = _read(ctx, run.result("validation.json"), "validation", required=("summary", "curves"))
    if thermal_validation:
        summary["validation"] = thermal_validation
    thermal = _read(ctx, run.result("thermal.json"), "statistics", expect=list)
    if thermal:
        summary["thermal"] = thermal
    validation = _read(ctx, run.result("md_validation.json"), None)
    if validation:
        summary["md_validation"] = validation
    atomic_write_json(run.results / "summary.json", summary)
    return summary
