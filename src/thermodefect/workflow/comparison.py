"""Model against reference on one labelled sample, and pristine host references for aligned edges.

Used by the ``accuracy`` stage (held-out and transfer snapshots) and by the
band-structure figure data.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from thermodefect.core import keys
from thermodefect.workflow.context import PipelineContext
from thermodefect.workflow.rundata import atoms_of_sample, load_predictors, predict_gap, uses_alignment

MILLI = 1e3


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
