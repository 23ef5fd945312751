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
import scipy.linalg

from thermodefect.core import keys
from thermodefect.core.files import atomic_write_json
from thermodefect.workflow.context import PipelineContext
from thermodefect.workflow.rundata import atoms_of_sample, load_predictors, md_frames, md_jobs, predict_gap, training_keys

MILLI = 1e3
TRANSFER_METADATA = (keys.DEFECT, keys.TEMPERATURE_K, keys.CONFIG_TYPE, keys.DEFECT_SITE, keys.DEFECT_INDEX)


def _level_errors(reference, predicted) -> list[float]:
    """|Δ| of each reference level (above the VBM) to the nearest predicted level."""
    ref = [lv.above_vbm_ev for lv in reference.levels]
    pred = [lv.above_vbm_ev for lv in predicted.levels]
    if not ref or not pred:
        return []
    return [min(abs(r - p) for p in pred) for r in ref]


def _gamma_eigenvalue_errors(sample, h_op, s_op, settings) -> np.ndarray:
    from thermodefect.electronic.bloch import bloch_pair, kspace_pair
    from thermodefect.electronic.eigen import solve_dense

    n_bands = settings.bands_near_gap
    from thermodefect.hamiltonian.metrics import band_window

    if sample.kspace is not None:
        h_ref, s_ref = kspace_pair(sample.kspace, 0)
    else:
        h_ref, s_ref = bloch_pair(*sample.realspace, k_frac=np.zeros(3))
    h_pred, s_pred = bloch_pair(h_op, s_op, k_frac=np.zeros(3))
    dense = [None if m is None else (m.toarray() if hasattr(m, "toarray") else np.asarray(m)) for m in (h_ref, s_ref, h_pred, s_pred)]
    e_ref = scipy.linalg.eigh(dense[0], dense[1], eigvals_only=True)
    e_pred = solve_dense(dense[2], dense[3], settings.min_overlap_eigenvalue, settings.canonical_overlap_cutoff).energies_ev
    window = band_window(len(e_ref), sample.n_electrons, n_bands)
    return e_pred[window] - e_ref[window]


def gap_and_level_errors(reference, predicted) -> dict:
    """Band-gap and defect-level errors (meV) of a predicted :class:`GapResult` against the reference's."""
    return {
        "gap_error_mev": abs(predicted.gap_ev - reference.gap_ev) * MILLI,
        "level_errors_mev": [e * MILLI for e in _level_errors(reference, predicted)],
        "n_levels_reference": len(reference.levels),
        "n_levels_model": len(predicted.levels),
        "reference_gap_ev": reference.gap_ev,
        "model_gap_ev": predicted.gap_ev,
    }


def eigenvalue_errors(sample, h_op, s_op, settings) -> dict:
    """Γ eigenvalue MAE (meV) of predicted H, S blocks over the bands nearest the gap, as is and
    without the mean offset (the absolute potential reference of a periodic cell is arbitrary)."""
    errors = _gamma_eigenvalue_errors(sample, h_op, s_op, settings)
    return {"eigenvalue_mae_mev": float(np.abs(errors).mean() * MILLI),
            "eigenvalue_mae_aligned_mev": float(np.abs(errors - errors.mean()).mean() * MILLI)}


def compare(ctx: PipelineContext, sample, hosts: tuple | None = None, results: list | None = None) -> dict:
    """Errors of the model (predicted H and S) against one reference sample.

    ``hosts``: (reference host, model host) for pristine-aligned edges of a
    defect cell; ``results`` (a list) receives the (reference, model) results.
    """
    from thermodefect.electronic.analysis import analyze_sample
    from thermodefect.hamiltonian import predict
    from thermodefect.hamiltonian.recipe import model_sample

    ref_host, model_host = hosts or (None, None)
    atoms = atoms_of_sample(sample)
    # Same basis as the model's (Löwdin weights for the localization of both).
    sample = model_sample(ctx.settings.hamiltonian, sample)
    reference = analyze_sample(sample, atoms, ctx.settings.electronic, host=ref_host)
    predicted, seconds = predict_gap(ctx, atoms, host=model_host)
    if results is not None:
        results.append((reference, predicted))
    row = {
        "defect": sample.metadata.get(keys.DEFECT, "unknown"),
        "temperature_k": sample.metadata.get(keys.TEMPERATURE_K),
        "cell_atoms": len(atoms),
        **gap_and_level_errors(reference, predicted),
        "model_seconds": seconds,
    }
    if len(atoms) <= ctx.settings.electronic.sparse_above_atoms:
        ham, overlap = load_predictors(ctx)
        h_op = predict(ham, [atoms])[0]
        s_op = predict(overlap, [atoms])[0] if overlap is not None else None
        row.update(eigenvalue_errors(sample, h_op, s_op, ctx.settings.electronic))
    return row


def _defect_and_temperature(dataset, key):
    meta = dataset.metadata(key)
    return meta.get(keys.DEFECT, "unknown"), meta.get(keys.TEMPERATURE_K)


def pristine_hosts(ctx: PipelineContext, dataset, dataset_keys: list[str], rows: list | None = None) -> dict:
    """``{T: (reference host, model host)}`` from the pristine samples among ``dataset_keys`` (each side its
    own analysis of them); empty unless ``band_edges = "aligned"``. ``rows`` receives their :func:`compare` rows."""
    from thermodefect.electronic.levels import HostReference
    from thermodefect.workflow.steps.predictions import uses_alignment

    pristine = [k for k in dataset_keys if _defect_and_temperature(dataset, k)[0] == "pristine"]
    hosts = {}
    for t in sorted({_defect_and_temperature(dataset, k)[1] for k in pristine}, key=lambda x: (x is None, x or 0)):
        results: list = []
        compared = [compare(ctx, dataset[k], results=results) for k in pristine if _defect_and_temperature(dataset, k)[1] == t]
        if rows is not None:
            rows += compared
        if uses_alignment(ctx):
            hosts[t] = tuple(HostReference.from_results([r[side] for r in results]) for side in (0, 1))
    return hosts


def compare_aligned(ctx: PipelineContext, dataset, dataset_keys: list[str]) -> list[dict]:
    """:func:`compare` for every key; defect cells aligned to the pristine snapshots of the same temperature
    among ``dataset_keys`` (:func:`pristine_hosts`)."""
    rows: list = []
    hosts = pristine_hosts(ctx, dataset, dataset_keys, rows)
    for k in dataset_keys:
        defect, t = _defect_and_temperature(dataset, k)
        if defect != "pristine":
            rows.append(compare(ctx, dataset[k], hosts.get(t)))
    return rows


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
