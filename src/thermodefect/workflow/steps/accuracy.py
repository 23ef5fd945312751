"""Model versus reference on structures the model never saw.

* Held-out test snapshots (independent MD at ``temperatures.test_k``):
  Hamiltonian MAE, eigenvalue MAE of the bands nearest the gap, gap and
  defect-level errors, per (defect, temperature). The model side uses the
  predicted Hamiltonian *and* the predicted overlap, as in production.
* Transfer cells (larger than any training cell): a few snapshots labelled by
  the reference; gap and level errors and the time of both routes, measured
  on the same structure in the same process.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from thermodefect.core import keys
from thermodefect.core.files import atomic_write_json
from thermodefect.workflow.comparison import compare, compare_aligned
from thermodefect.workflow.context import PipelineContext
from thermodefect.workflow.rundata import load_predictors, md_frames, md_jobs, training_keys
TRANSFER_METADATA = (keys.DEFECT, keys.TEMPERATURE_K, keys.CONFIG_TYPE, keys.DEFECT_SITE, keys.DEFECT_INDEX)


def _group(rows: list[dict], ham_mae: dict[tuple, float]) -> list[dict]:
    groups = defaultdict(list)
    for r in rows:
        groups[(r["defect"], r["temperature_k"], r["cell_atoms"])].append(r)
    out = []
    for (defect, t, n), members in sorted(groups.items(), key=lambda kv: (kv[0][2], str(kv[0][0]), kv[0][1] or 0)):
        levels = [e for m in members for e in m["level_errors_mev"]]
        eig = [m["eigenvalue_mae_mev"] for m in members if "eigenvalue_mae_mev" in m]
        aligned = [m["eigenvalue_mae_aligned_mev"] for m in members if "eigenvalue_mae_aligned_mev" in m]
        out.append({
            "defect": defect, "temperature_k": t, "cell_atoms": n, "n": len(members),
            "gap_mae_mev": float(np.mean([m["gap_error_mev"] for m in members])),
            "level_mae_mev": float(np.mean(levels)) if levels else None,
            "eigenvalue_mae_mev": float(np.mean(eig)) if eig else None,
            "eigenvalue_mae_aligned_mev": float(np.mean(aligned)) if aligned else None,
            "hamiltonian_mae_mev": ham_mae.get((defect, t)),
        })
    return out


def _hamiltonian_mae_by_stratum(ctx: PipelineContext, dataset_keys: list[str]) -> dict[tuple, float]:
    """Matrix-element MAE (meV) of the final ensemble per (defect, temperature)."""
    from thermodefect.data.hamiltonians import HamiltonianDataset
    from thermodefect.hamiltonian import evaluate
    from thermodefect.hamiltonian.recipe import model_sample

    dataset = HamiltonianDataset(ctx.run.hamiltonian_dataset)
    ham, _ = load_predictors(ctx)
    strata = defaultdict(list)
    for k in dataset_keys:
        meta = dataset.metadata(k)
        strata[(meta.get(keys.DEFECT, "unknown"), meta.get(keys.TEMPERATURE_K))].append(model_sample(ctx.settings.hamiltonian, dataset[k]))
    return {key: evaluate(ham, samples, bands_near_gap=ctx.settings.electronic.bands_near_gap)["mae"] for key, samples in strata.items()}


def _transfer_structures(ctx: PipelineContext) -> list:
    s = ctx.settings
    wanted = s.electronic.transfer_reference_snapshots
    if wanted == 0:
        return []
    temps = sorted(s.temperatures.production_k)
    t_mid = temps[len(temps) // 2]
    order = list(s.defects.names) + (["pristine"] if s.defects.include_pristine else [])
    out = []
    for n in s.supercells.transfer_atoms:
        jobs = {j.defect: j for j in md_jobs(ctx) if j.set == "transfer" and j.n_atoms == n and j.temperature_k == t_mid}
        for defect in order[:wanted]:
            _, frame = md_frames(ctx, jobs[defect], 1)[-1]
            frame.info.update({keys.DEFECT: defect, keys.TEMPERATURE_K: t_mid, keys.CONFIG_TYPE: "transfer"})
            out.append(frame)
    return out


def accuracy_stage(ctx: PipelineContext) -> dict:
    """Gap, level and eigenvalue errors of the model on held-out reference snapshots (``results/accuracy.json``)."""
    from thermodefect.core.keys import structure_key
    from thermodefect.data.hamiltonians import HamiltonianDataset
    from thermodefect.reference.labelling import label_structures

    test_keys = training_keys(ctx)["test"]
    dataset = HamiltonianDataset(ctx.run.hamiltonian_dataset)
    ctx.log(f"comparing model and reference on {len(test_keys)} held-out snapshots")
    test_rows = compare_aligned(ctx, dataset, test_keys)
    ham_mae = _hamiltonian_mae_by_stratum(ctx, test_keys) if test_keys else {}

    transfer = _transfer_structures(ctx)
    transfer_rows, timing = [], None
    if transfer:
        ctx.log(f"labelling {len(transfer)} transfer-cell snapshots with the reference (timed)")
        report = label_structures(transfer, ctx.settings.reference.hamiltonian, ctx.run, what=("hamiltonian",),
                                  metadata=[{k: a.info[k] for k in TRANSFER_METADATA if k in a.info} for a in transfer])
        for atoms in transfer:
            key = structure_key(atoms)
            if key in dataset:
                transfer_rows.append(compare(ctx, dataset[key]))
        if transfer_rows and report.seconds_per_label:
            model_s = float(np.mean([r["model_seconds"] for r in transfer_rows]))
            ref_s = float(np.mean(report.seconds_per_label))
            timing = {"cell_atoms": transfer_rows[0]["cell_atoms"], "reference_seconds": ref_s, "model_seconds": model_s,
                      "speedup": ref_s / model_s, "note": "same structures, same process; model = H + S prediction + eigensolver"}
    result = {
        "test": _group(test_rows, ham_mae),
        "transfer": _group(transfer_rows, {}),
        "per_snapshot": test_rows + transfer_rows,
        "timing": timing,
    }
    atomic_write_json(ctx.run.result("accuracy.json"), result)
    gap = [r["gap_error_mev"] for r in test_rows]
    levels = [e for r in test_rows for e in r["level_errors_mev"]]
    return {
        "gap_mae_mev": float(np.mean(gap)) if gap else float("nan"),
        "level_mae_mev": float(np.mean(levels)) if levels else float("nan"),
        "speedup": timing["speedup"] if timing else float("nan"),
    }
