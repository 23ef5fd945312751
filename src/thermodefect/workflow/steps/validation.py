"""Stage ``validation``: model against reference over temperature, on the same MD snapshots.

For each (defect, temperature) of ``temperatures.production_k`` at the
production cell size, ``electronic.validation_snapshots_per_temperature``
of the snapshots the ``predictions`` stage analysed (spread uniformly over
those the Hamiltonian model was not trained on) are labelled by the reference. Both sides are analysed the same way:
band edges of a defect cell aligned to the pristine snapshots of the same
temperature *of this subset* (the reference's own pristine labels for the
reference, the model's predictions of those same structures for the model),
so the comparison does not mix statistics of different snapshot sets.

Per snapshot: gap, VBM, CBM and level errors (each reference level to the
nearest model level, above the VBM). Per (defect, T): the mean of each side
(the curves of the published Fig. 4a-c); per defect: MAE over temperature.
Writes ``results/validation.json``; labels go to the run's Hamiltonian
dataset, so a killed stage resumes without redoing them.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from thermodefect.core import keys
from thermodefect.core.files import atomic_write_json
from thermodefect.workflow.context import PipelineContext
from thermodefect.workflow.rundata import frames_at, md_jobs, training_keys, uses_alignment
from thermodefect.workflow.snapshots import uniform_picks
from thermodefect.workflow.steps.predictions import prediction_path

MILLI = 1e3
METADATA = (keys.DEFECT, keys.TEMPERATURE_K, keys.CONFIG_TYPE, keys.DEFECT_SITE, keys.DEFECT_INDEX)

# The report calls a defect's model gap(T) or level(T) not validated when its MAE against the
# reference over the validated snapshots exceeds this (meV); written into validation.json.
VALIDATED_MAE_MEV = 30.0


def _side(result) -> dict:
    return {"gap_ev": result.gap_ev, "vbm_ev": result.vbm_ev, "cbm_ev": result.cbm_ev,
            "conduction_electrons": result.conduction_electrons, "valence_holes": result.valence_holes,
            "levels": [{"above_vbm_ev": lv.above_vbm_ev, "below_cbm_ev": lv.below_cbm_ev, "electrons": lv.electrons,
                        "degeneracy": lv.degeneracy} for lv in sorted(result.levels, key=lambda lv: lv.energy_ev)]}


def level_errors(reference: dict, model: dict) -> tuple[list[float], int]:
    """(|Δ| in meV of each reference level to the nearest model level above the VBM, number of unmatched levels)."""
    ref = [lv["above_vbm_ev"] for lv in reference["levels"]]
    pred = [lv["above_vbm_ev"] for lv in model["levels"]]
    missing = abs(len(ref) - len(pred))
    if not ref or not pred:
        return [], missing
    return [min(abs(r - p) for p in pred) * MILLI for r in ref], missing


def compare_snapshot(reference: dict, model: dict, **identity) -> dict:
    errors, missing = level_errors(reference, model)
    return {**identity, "reference": reference, "model": model,
            **{f"{q}_error_mev": abs(model[f"{q}_ev"] - reference[f"{q}_ev"]) * MILLI for q in ("gap", "vbm", "cbm")},
            "level_errors_mev": errors, "missing_levels": missing}


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _std(values):
    values = [v for v in values if v is not None]
    return float(np.std(values, ddof=1)) if len(values) > 1 else None


def _first_level(side: dict, key: str):
    return side["levels"][0][key] if side["levels"] else None


def curves(rows: list[dict]) -> list[dict]:
    """Per (defect, T): both sides' mean gap and level 1 (above the VBM, below the CBM), and their MAE."""
    groups = defaultdict(list)
    for r in rows:
        groups[(r["defect"], r["temperature_k"], r["cell_atoms"])].append(r)
    out = []
    for (defect, t, n), members in sorted(groups.items()):
        entry = {"defect": defect, "temperature_k": t, "cell_atoms": n, "n_snapshots": len(members)}
        for side in ("reference", "model"):
            entry[f"{side}_gap_mean_ev"] = _mean([m[side]["gap_ev"] for m in members])
            entry[f"{side}_gap_std_ev"] = _std([m[side]["gap_ev"] for m in members])
            entry[f"{side}_level_mean_ev"] = _mean([_first_level(m[side], "above_vbm_ev") for m in members])
            entry[f"{side}_level_std_ev"] = _std([_first_level(m[side], "above_vbm_ev") for m in members])
            entry[f"{side}_level_below_cbm_mean_ev"] = _mean([_first_level(m[side], "below_cbm_ev") for m in members])
        entry["gap_mae_mev"] = _mean([m["gap_error_mev"] for m in members])
        entry["level_mae_mev"] = _mean([e for m in members for e in m["level_errors_mev"]])
        out.append(entry)
    return out


def per_defect(rows: list[dict]) -> list[dict]:
    groups = defaultdict(list)
    for r in rows:
        groups[(r["defect"], r["cell_atoms"])].append(r)
    return [{"defect": defect, "cell_atoms": n, "n_snapshots": len(members),
             **{f"{q}_mae_mev": _mean([m[f"{q}_error_mev"] for m in members]) for q in ("gap", "vbm", "cbm")},
             "level_mae_mev": _mean([e for m in members for e in m["level_errors_mev"]]),
             "missing_levels": int(sum(m["missing_levels"] for m in members))}
            for (defect, n), members in sorted(groups.items())]


def _validation_frames(ctx: PipelineContext) -> tuple[list, int]:
    """``([(job, record, atoms)], n_trained)``: the validated snapshots, pristine first within each temperature.

    The Hamiltonian model trains on frames of the same production trajectories, so a snapshot the
    model was trained on is never validated: they are taken from the other predicted snapshots
    (``n_trained`` = how many predicted snapshots were training structures and so left out).
    """
    from thermodefect.core.keys import structure_key
    from thermodefect.core.results import read_results_json

    s = ctx.settings
    wanted = s.electronic.validation_snapshots_per_temperature
    trained = set(training_keys(ctx)["training"])
    jobs = [j for j in md_jobs(ctx) if j.set == "production" and j.temperature_k in s.temperatures.production_k]
    jobs.sort(key=lambda j: (j.temperature_k, j.defect != "pristine", j.defect))
    out, n_trained = [], 0
    for job in jobs:
        records = read_results_json(prediction_path(ctx, job), "predictions", required=("snapshots",))["snapshots"]
        unseen = [(r, a) for r, a in zip(records, frames_at(ctx, job, [r["frame"] for r in records]))
                  if structure_key(a) not in trained]
        n_trained += len(records) - len(unseen)
        for k in uniform_picks(len(unseen), wanted):
            record, atoms = unseen[k]
            atoms.info.update({keys.DEFECT: job.defect, keys.TEMPERATURE_K: job.temperature_k, keys.CONFIG_TYPE: "validation"})
            out.append((job, record, atoms))
    return out, n_trained


def validation_stage(ctx: PipelineContext) -> dict:
    """Reference labels of the validated snapshots, both analyses, ``results/validation.json``."""
    from thermodefect.core.keys import structure_key
    from thermodefect.data.hamiltonians import HamiltonianDataset
    from thermodefect.electronic.analysis import analyze_sample
    from thermodefect.electronic.levels import GapResult, HostReference, realign
    from thermodefect.hamiltonian.recipe import model_sample
    from thermodefect.reference.labelling import label_structures

    s = ctx.settings
    frames, n_trained = _validation_frames(ctx) if s.electronic.validation_snapshots_per_temperature else ([], 0)
    if n_trained:
        ctx.log(f"validation: {n_trained} predicted snapshots are Hamiltonian training structures and are not validated")
    if frames:
        from thermodefect.core.executors import get_executor

        ctx.log(f"labelling {len(frames)} MD snapshots with the reference to validate the model over temperature")
        # On the configured workers, as the active-learning labels are (not timed here, unlike the accuracy check).
        executor = get_executor(s.compute, ctx.run.parsl_logs)
        try:
            label_structures([a for _, _, a in frames], s.reference.hamiltonian, ctx.run, what=("hamiltonian",),
                             metadata=[{k: a.info[k] for k in METADATA if k in a.info} for _, _, a in frames],
                             executor=executor)
        finally:
            executor.close()
    dataset = HamiltonianDataset(ctx.run.hamiltonian_dataset)
    aligned = uses_alignment(ctx)
    tolerance = s.electronic.degeneracy_tolerance_ev
    by_temperature = defaultdict(list)
    for job, record, atoms in frames:
        by_temperature[job.temperature_k].append((job, record, atoms))
    rows = []
    for t, items in sorted(by_temperature.items()):
        reference = {}
        for job, record, atoms in items:
            key = structure_key(atoms)
            if key not in dataset:
                ctx.log(f"warning: no reference label for {job.key} frame {record['frame']}; left out")
                continue
            reference[id(atoms)] = analyze_sample(model_sample(s.hamiltonian, dataset[key]), atoms, s.electronic)
        pristine = [(reference[id(a)], rec) for job, rec, a in items if job.defect == "pristine" and id(a) in reference]
        ref_host = HostReference.from_results([r for r, _ in pristine]) if aligned and pristine else None
        model_host = HostReference.from_results([rec for _, rec in pristine]) if ref_host is not None else None
        for job, record, atoms in items:
            if id(atoms) not in reference:
                continue
            ref_result, model_result = reference[id(atoms)], GapResult.from_record(record)
            if job.defect != "pristine":
                ref_result = realign(ref_result, ref_host, tolerance)
                model_result = realign(model_result, model_host, tolerance)
            rows.append(compare_snapshot(_side(ref_result), _side(model_result), defect=job.defect, temperature_k=t,
                                         cell_atoms=job.n_atoms, frame=record["frame"], structure_key=structure_key(atoms)))
    levels = [e for r in rows for e in r["level_errors_mev"]]
    result = {"edges": "aligned" if aligned else "cell", "validated_mae_mev": VALIDATED_MAE_MEV,
              "training_snapshots_left_out": n_trained,
              "snapshots": rows, "curves": curves(rows), "summary": per_defect(rows),
              "overall": {"n_snapshots": len(rows), "gap_mae_mev": _mean([r["gap_error_mev"] for r in rows]),
                          "level_mae_mev": _mean(levels)}}
    atomic_write_json(ctx.run.result("validation.json"), result)
    overall = result["overall"]
    return {"snapshots": len(rows),
            "gap_mae_mev": overall["gap_mae_mev"] if overall["gap_mae_mev"] is not None else float("nan"),
            "level_mae_mev": overall["level_mae_mev"] if overall["level_mae_mev"] is not None else float("nan")}
