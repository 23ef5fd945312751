"""The stages of ``thermodefect run``, in order.

structures → forcefield_al → production_md → hamiltonian_al → overlap_model
→ predictions → accuracy → statistics → report. Each reads what earlier
stages wrote to the run directory, so any stage can be rerun alone.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from ase.io import write

from thermodefect.workflow.pipeline import PipelineContext, stage
from thermodefect.workflow.rundir import atomic_write_json
from thermodefect.workflow.snapshots import (
    cell_path,
    derived_seed,
    load_cells,
    tag_frame,
    uniform_picks,
)


def _names(ctx: PipelineContext) -> list[str]:
    s = ctx.settings
    return (["pristine"] if s.defects.include_pristine else []) + list(s.defects.names)


def _sizes(ctx: PipelineContext) -> list[int]:
    s = ctx.settings.supercells
    return list(dict.fromkeys([s.training_atoms, s.production_atoms, *s.transfer_atoms]))


# --------------------------------------------------------------------------- structures
@stage("structures", "Structures")
def structures(ctx: PipelineContext) -> dict:
    from thermodefect.structures import build_cells

    s = ctx.settings
    a = s.material.lattice_constant_angstrom
    if s.material.lattice == "relax":
        from thermodefect.reference.lattice import equilibrium_lattice_constant
        from thermodefect.reference.registry import get_reference

        ctx.log("fitting the reference's equilibrium lattice constant (E(a) scan, 64-atom cell)")
        a = equilibrium_lattice_constant(get_reference(s.reference.forces), s.material.cation, s.material.anion, guess_angstrom=a, n_atoms=64)
    counts = {}
    for n in _sizes(ctx):
        for name, atoms in build_cells(s, n, lattice_constant_angstrom=a).items():
            atoms.info["lattice_constant_angstrom"] = a
            path = cell_path(ctx.run.structures, n, name)
            write(str(path), atoms, format="extxyz")
            counts[f"{n}atoms-{name}"] = len(atoms)
    return {"lattice_constant_angstrom": a, "cells": len(counts)}


# --------------------------------------------------------------------------- force field
@stage("forcefield_al", "Force-field active learning")
def forcefield_al(ctx: PipelineContext) -> dict:
    from thermodefect.active.forcefield import reference_label_fn, run_forcefield_active_learning

    cells = load_cells(ctx.run.structures, ctx.settings.supercells.training_atoms, _names(ctx))
    result = run_forcefield_active_learning(ctx.settings, ctx.run, cells, reference_label_fn(ctx.settings, ctx.run))
    headline = {k: v for k, v in result.items() if isinstance(v, (int, float, str, bool))} if isinstance(result, dict) else {}
    return headline


def _md_calculator(ctx: PipelineContext):
    if "md_calculator" not in ctx.cache:
        from thermodefect.active.forcefield import final_models
        from thermodefect.forcefield.ensemble import ForceFieldEnsemble

        ff = ctx.settings.forcefield
        ctx.cache["md_calculator"] = ForceFieldEnsemble(final_models(ctx.run), ff.device, ff.default_dtype).calculator("first")
    return ctx.cache["md_calculator"]


def md_jobs(ctx: PipelineContext) -> list[dict]:
    """Every trajectory of the run: production, independent test MD, transfer cells."""
    s = ctx.settings
    jobs = []
    production_t = sorted(set(s.temperatures.training_k) | set(s.temperatures.production_k))
    for name in _names(ctx):
        for t in production_t:
            jobs.append({"set": "production", "n_atoms": s.supercells.production_atoms, "defect": name, "temperature_k": t,
                         "steps": s.md.production_steps})
        for t in s.temperatures.test_k:
            jobs.append({"set": "test", "n_atoms": s.supercells.production_atoms, "defect": name, "temperature_k": t,
                         "steps": s.md.test_production_steps})
        for n in s.supercells.transfer_atoms:
            for t in s.temperatures.production_k:
                jobs.append({"set": "transfer", "n_atoms": n, "defect": name, "temperature_k": t,
                             "steps": s.md.transfer_production_steps})
    for job in jobs:
        from thermodefect.dynamics.nvt import trajectory_name

        job["key"] = f"{job['set']}/{job['n_atoms']}atoms/{job['defect']}/{job['temperature_k']:g}K"
        job["path"] = ctx.run.md / f"{job['set']}-{job['n_atoms']}atoms" / trajectory_name(job["defect"], job["temperature_k"])
    return jobs


@stage("production_md", "Production MD (MACE)")
def production_md(ctx: PipelineContext) -> dict:
    from thermodefect.dynamics.nvt import run_nvt

    s = ctx.settings
    done = ctx.manifest.items_done("production_md")
    jobs = md_jobs(ctx)
    cells = {}
    for k, job in enumerate(jobs):
        if job["key"] in done:
            continue
        n = job["n_atoms"]
        if n not in cells:
            cells[n] = load_cells(ctx.run.structures, n, _names(ctx))
        ctx.log(f"MD {k + 1}/{len(jobs)}: {job['key']} ({job['steps']} steps)")
        result = run_nvt(
            cells[n][job["defect"]], _md_calculator(ctx), job["temperature_k"], s.md,
            seed=derived_seed(s.run.seed, "md", job["key"]), trajectory_path=job["path"], production_steps=job["steps"],
        )
        if result.diverged:
            ctx.log(f"warning: MD {job['key']} stopped early, {result.diverged}; {len(result.frames)} frames kept")
        ctx.manifest.record_items("production_md", [job["key"]])
    collapsed = _count_collapsed(ctx, jobs)
    if collapsed:
        ctx.log(f"warning: {collapsed} MD frames have atoms closer than 75% of the ideal bond; they are left out of every analysis")
    return {"trajectories": len(jobs), "collapsed_frames": collapsed}


def _count_collapsed(ctx: PipelineContext, jobs: list[dict]) -> int:
    from ase.neighborlist import neighbor_list

    from thermodefect.active.forcefield import is_physical
    from thermodefect.dynamics.nvt import read_frames

    count = 0
    for job in jobs:
        cell = load_cells(ctx.run.structures, job["n_atoms"], [job["defect"]])[job["defect"]]
        bond = float(neighbor_list("d", cell, 4.0).min())
        count += sum(not is_physical(f, bond) for f in read_frames(job["path"]))
    return count


def md_frames(ctx: PipelineContext, job: dict, count: int):
    """``count`` frames spread uniformly over a trajectory, tagged with the defect."""
    from thermodefect.dynamics.nvt import read_frames

    from ase.neighborlist import neighbor_list

    from thermodefect.active.forcefield import is_physical

    cell = load_cells(ctx.run.structures, job["n_atoms"], [job["defect"]])[job["defect"]]
    bond = float(neighbor_list("d", cell, 4.0).min())
    frames = read_frames(job["path"])
    # Frames where the force field let atoms collapse are not the material at
    # this temperature: they are counted (production_md) and never used.
    good = [i for i, f in enumerate(frames) if is_physical(f, bond)]
    picks = [good[k] for k in uniform_picks(len(good), count)]
    return [(i, tag_frame(frames[i], cell)) for i in picks]


# --------------------------------------------------------------------------- Hamiltonian
def hamiltonian_pool_and_test(ctx: PipelineContext):
    from thermodefect.active.hamiltonian import Candidate

    s = ctx.settings
    pool, test = [], []
    for job in md_jobs(ctx):
        if job["set"] == "production" and job["temperature_k"] in s.temperatures.training_k:
            for i, frame in md_frames(ctx, job, s.hamiltonian_al.pool_per_stratum):
                pool.append(Candidate(f"{job['key']}/frame-{i:05d}", frame, job["defect"], job["temperature_k"]))
        elif job["set"] == "test":
            for i, frame in md_frames(ctx, job, s.hamiltonian_al.test_snapshots_per_stratum):
                test.append(Candidate(f"{job['key']}/frame-{i:05d}", frame, job["defect"], job["temperature_k"]))
    return pool, test


@stage("hamiltonian_al", "Hamiltonian active learning")
def hamiltonian_al(ctx: PipelineContext) -> dict:
    from thermodefect.active.hamiltonian import run_hamiltonian_active_learning
    from thermodefect.workflow.hamiltonian_hooks import PipelineHamiltonianHooks

    pool, test = hamiltonian_pool_and_test(ctx)
    ctx.log(f"Hamiltonian pool: {len(pool)} configurations; test set: {len(test)}")
    result = run_hamiltonian_active_learning(
        pool, test, PipelineHamiltonianHooks(ctx), ctx.settings.hamiltonian_al, ctx.run.root / "models" / "ham",
        ctx.run.results / "hamiltonian_al.json", derived_seed(ctx.settings.run.seed, "ham-al"), ctx.manifest, ctx.log,
    )
    last = result.rounds[-1]["metrics"]
    atomic_write_json(ctx.run.results / "hamiltonian_training_keys.json", {"training": result.training_keys, "test": result.test_keys,
                                                                          "final_round": len(result.rounds) - 1})
    return {"rounds": len(result.rounds), "n_labels": len(result.training_keys), "converged": result.converged,
            "hamiltonian_mae_mev": last["hamiltonian_mae_mev"], "eigenvalue_mae_mev": last["eigenvalue_mae_mev"]}


def _training_keys(ctx: PipelineContext) -> dict:
    return json.loads((ctx.run.results / "hamiltonian_training_keys.json").read_text())


@stage("overlap_model", "Overlap model")
def overlap_model(ctx: PipelineContext) -> dict:
    """The overlap of snapshots without a reference calculation comes from its own model."""
    from thermodefect.data.hamiltonians import HamiltonianDataset
    from thermodefect.hamiltonian import evaluate
    from thermodefect.workflow.hamiltonian_hooks import train_or_load_ensemble

    if ctx.settings.hamiltonian.orthogonalization == "lowdin":
        return {"skipped": "Löwdin-orthogonal basis: predictions need no overlap"}
    keys = _training_keys(ctx)
    dataset = HamiltonianDataset(ctx.run.hamiltonian_dataset)
    if ctx.settings.hamiltonian.overlap_model == "two_center":
        from thermodefect.workflow.hamiltonian_hooks import two_center_overlap

        test = [dataset[k] for k in keys["test"]]
        model = two_center_overlap(ctx, test[0].basis if test else dataset[keys["training"][0]].basis)
        metrics = _two_center_overlap_metrics(model, test)
    else:
        members = train_or_load_ensemble(ctx, keys["training"], ctx.run.root / "models" / "ham" / "overlap", "overlap", 1, "overlap")
        metrics = evaluate(members[0], [dataset[k] for k in keys["test"]])
    atomic_write_json(ctx.run.results / "overlap_model.json", metrics)
    return {"overlap_mae_1e-3": metrics["mae"]}


def _two_center_overlap_metrics(model, samples) -> dict:
    """Γ overlap errors (1e-3) of the two-center model and its smallest eigenvalue on held-out samples."""
    from thermodefect.electronic.bloch import bloch_sum, kspace_pair

    errors, smallest = [], []
    for sample in samples:
        reference = kspace_pair(sample.kspace, 0)[1] if sample.kspace is not None else bloch_sum(sample.realspace[1], k_frac=np.zeros(3))
        predicted = np.real(bloch_sum(model.operator(sample.structure), k_frac=np.zeros(3)).toarray())
        errors.append(np.abs(predicted - np.real(reference.toarray())).ravel())
        smallest.append(float(np.linalg.eigvalsh(predicted).min()))
    values = np.concatenate(errors) if errors else np.zeros(0)
    return {"target": "overlap", "model": "two_center", "unit": "1e-3", "n_samples": len(samples),
            "mae": float(values.mean() * 1e3) if values.size else float("nan"),
            "max_abs": float(values.max() * 1e3) if values.size else float("nan"),
            "min_eigenvalue": min(smallest) if smallest else None, "fit": model.fit_info}


def load_predictors(ctx: PipelineContext):
    """(mean Hamiltonian ensemble of the final round, overlap model), cached."""
    if "predictors" not in ctx.cache:
        from thermodefect.hamiltonian import load_ensemble, load_model
        from thermodefect.workflow.hamiltonian_hooks import MeanEnsemble

        final = _training_keys(ctx)["final_round"]
        device = ctx.settings.hamiltonian.device
        ham = MeanEnsemble(load_ensemble(ctx.run.model_round("ham", final), device))
        overlap = None
        if ctx.settings.hamiltonian.orthogonalization != "lowdin":
            if ctx.settings.hamiltonian.overlap_model == "two_center":
                from thermodefect.hamiltonian.two_center import TwoCenterModel

                from thermodefect.workflow.hamiltonian_hooks import two_center_overlap_path

                overlap = TwoCenterModel.load(two_center_overlap_path(ctx))
            else:
                overlap = load_model(ctx.run.root / "models" / "ham" / "overlap" / "member-0", device)
        ctx.cache["predictors"] = (ham, overlap)
    return ctx.cache["predictors"]


def electrons_per_element(ctx: PipelineContext) -> dict[int, float]:
    if "valence" not in ctx.cache:
        from thermodefect.data.hamiltonians import HamiltonianDataset
        from thermodefect.workflow.snapshots import valence_electrons

        dataset = HamiltonianDataset(ctx.run.hamiltonian_dataset)
        keys = _training_keys(ctx)
        # One sample per composition is enough to fix the per-element counts.
        by_formula = {}
        for k in keys["training"] + keys["test"]:
            by_formula.setdefault(dataset.metadata(k)["formula"], k)
        ctx.cache["valence"] = valence_electrons([dataset[k] for k in by_formula.values()])
    return ctx.cache["valence"]


def predict_gap(ctx: PipelineContext, atoms):
    """Model band edges, gap and defect levels of one structure, and the seconds it took."""
    from thermodefect.electronic.analysis import analyze_operators
    from thermodefect.hamiltonian import predict
    from thermodefect.workflow.snapshots import electron_count

    ham, overlap = load_predictors(ctx)
    t0 = time.perf_counter()
    h = predict(ham, [atoms])[0]
    s = predict(overlap, [atoms])[0] if overlap is not None else None
    result = analyze_operators(h, s, electron_count(atoms, electrons_per_element(ctx)), atoms, ctx.settings.electronic)
    return result, time.perf_counter() - t0


def gap_record(result, **extra) -> dict:
    levels = sorted(result.levels, key=lambda lv: lv.energy_ev)
    return {
        **extra,
        "gap_ev": result.gap_ev, "vbm_ev": result.vbm_ev, "cbm_ev": result.cbm_ev,
        "levels": [{"above_vbm_ev": lv.above_vbm_ev, "degeneracy": lv.degeneracy, "defect_weight": lv.defect_weight,
                    "electrons": lv.electrons} for lv in levels],
    }


@stage("predictions", "Predicted electronic structure of MD snapshots")
def predictions(ctx: PipelineContext) -> dict:
    s = ctx.settings
    done = ctx.manifest.items_done("predictions")
    out_dir = ctx.run.results / "snapshots"
    jobs = [j for j in md_jobs(ctx) if j["set"] in ("production", "transfer") and j["temperature_k"] in s.temperatures.production_k]
    n_total = 0
    for k, job in enumerate(jobs):
        path = out_dir / f"{job['n_atoms']}atoms-{job['defect']}-{job['temperature_k']:g}K.json"
        if job["key"] in done and path.exists():
            n_total += len(json.loads(path.read_text())["snapshots"])
            continue
        records = []
        count = s.electronic.snapshots_per_temperature if job["set"] == "production" else s.electronic.transfer_snapshots_per_temperature
        frames = md_frames(ctx, job, count)
        ctx.log(f"predicting {len(frames)} snapshots {k + 1}/{len(jobs)}: {job['key']}")
        for i, frame in frames:
            result, seconds = predict_gap(ctx, frame)
            records.append(gap_record(result, frame=i, seconds=seconds, solver=result.solver))
        atomic_write_json(path, {"defect": job["defect"], "temperature_k": job["temperature_k"], "cell_atoms": job["n_atoms"],
                                 "set": job["set"], "snapshots": records})
        ctx.manifest.record_items("predictions", [job["key"]])
        n_total += len(records)
    return {"snapshots": n_total}


# --------------------------------------------------------------------------- accuracy
@stage("accuracy", "Accuracy against the reference")
def accuracy(ctx: PipelineContext) -> dict:
    """Gap, level and eigenvalue errors of the model on held-out reference snapshots."""
    from thermodefect.workflow.accuracy import accuracy_stage

    return accuracy_stage(ctx)


# --------------------------------------------------------------------------- statistics, report
@stage("statistics", "Thermal statistics")
def statistics(ctx: PipelineContext) -> dict:
    from thermodefect.workflow.summary import thermal_table

    rows = thermal_table(ctx)
    atomic_write_json(ctx.run.results / "thermal.json", rows)
    return {"rows": len(rows)}


@stage("report", "Report")
def report(ctx: PipelineContext) -> dict:
    from thermodefect.report import write_report
    from thermodefect.workflow.figures import band_structure_figures, dynamics_figures
    from thermodefect.workflow.summary import write_summary

    write_summary(ctx)
    band_structure_figures(ctx)
    dynamics_figures(ctx)
    path = write_report(ctx.run.root)
    return {"report": str(path)}
