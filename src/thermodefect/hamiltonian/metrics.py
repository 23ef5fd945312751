"""Accuracy of a model against reference samples.

* matrix-element MAE overall, onsite vs hopping, and per defect
  (``sample.metadata["defect"]``). Real-space samples compare the blocks of
  the graph's edges; k-space samples compare the Γ-folded matrices, where
  "onsite" means the diagonal atom blocks ``(i, i)``.
* eigenvalue MAE of the ``bands_near_gap`` bands nearest the gap at Γ
  (half the highest occupied, half the lowest empty; 2 electrons per band),
  from ``scipy.linalg.eigh(H, S)`` with the reference overlap (identity when
  the reference basis is orthogonal), as is and after removing the mean
  offset of the window (``eigenvalue_mae_aligned``: the absolute potential
  reference of a periodic cell is arbitrary). Hamiltonian models only.

Units: meV for Hamiltonian models; 1e-3 (dimensionless) for overlap models.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import scipy.linalg

from thermodefect.core import keys
from thermodefect.data.operators import orbital_offsets
from thermodefect.hamiltonian.predict import predicted_outputs
from thermodefect.hamiltonian.targets import PreparedSample, bloch_sum_numpy, prepare_sample

MILLI = 1e3


def band_window(n_bands: int, n_electrons: float, n_near_gap: int) -> slice:
    """Indices of ``n_near_gap`` bands around the gap: n/2 up to the highest occupied, n/2 above."""
    homo = math.ceil(n_electrons / 2 - 1e-9) - 1
    half = n_near_gap // 2
    start = max(0, homo - half + 1)
    stop = min(n_bands, homo + 1 + (n_near_gap - half))
    return slice(start, stop)


def _onsite_mask(p: PreparedSample, n_total: int, offsets: np.ndarray, numbers) -> np.ndarray:
    mask = np.zeros((n_total, n_total), dtype=bool)
    for a in range(len(numbers)):
        mask[offsets[a]:offsets[a + 1], offsets[a]:offsets[a + 1]] = True
    return mask


def _gamma(p: PreparedSample, blocks: np.ndarray, potentials: np.ndarray | None) -> np.ndarray:
    """Predicted Γ matrix of the network part (+ the potential term when k-space data carry its overlap)."""
    predicted = bloch_sum_numpy(blocks, p.graph, p.fold, np.zeros(3)).real
    if potentials is not None and not p.is_realspace:
        u = potentials.reshape(-1)[p.orbital_slot]
        predicted = predicted + 0.5 * (u[:, None] + u[None, :]) * np.real(p.potential_overlap[0])
    return predicted


def _errors(p: PreparedSample, blocks: np.ndarray, layout,
            potentials: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Absolute errors (all, onsite, hopping) in target units."""
    if p.is_realspace:
        g = p.graph
        onsite_edge = (g.edge_index[0] == g.edge_index[1]) & ~g.cell_shift.any(axis=1)
        err = np.abs(blocks - p.blocks)
        on = err[p.block_mask & onsite_edge[:, None, None]]
        hop = err[p.block_mask & ~onsite_edge[:, None, None]]
        return np.concatenate([on, hop]), on, hop
    predicted = _gamma(p, blocks, potentials)
    reference = np.real(p.matrices[0])
    err = np.abs(predicted - reference)
    offsets = orbital_offsets(p.graph.numbers, layout.basis)
    onsite = _onsite_mask(p, p.fold.n_orbitals, offsets, p.graph.numbers)
    return err.ravel(), err[onsite], err[~onsite]


def cell_shifts(model, prepared: Sequence[PreparedSample], batch_size: int = 4) -> np.ndarray:
    """Per sample, the ``c`` (target units) that best fits reference − prediction as ``c·S``.

    The global shift of each cell that a shift-invariant loss leaves free: the
    two-center overlap's ``S`` (Γ matrix for k-space data, edge blocks for
    real-space data). NaN for samples prepared without that overlap.
    """
    from thermodefect.hamiltonian.predict import potential_blocks

    out = []
    for p, (blocks, potentials) in zip(prepared, predicted_outputs(model, [p.graph for p in prepared], batch_size)):
        if p.is_realspace:
            if p.edge_overlap is None:
                out.append(np.nan)
                continue
            if potentials is not None:
                blocks = blocks + potential_blocks(potentials, p.graph, p.edge_overlap, model.layout)
            diff, overlap = (p.blocks - blocks)[p.block_mask], p.edge_overlap[p.block_mask]
        else:
            if p.potential_overlap is None:
                out.append(np.nan)
                continue
            diff, overlap = np.real(p.matrices[0]) - _gamma(p, blocks, potentials), np.real(p.potential_overlap[0])
        out.append(float((diff * overlap).sum() / (overlap * overlap).sum()))
    return np.asarray(out)


def evaluate(model, samples: Sequence, bands_near_gap: int = 30, batch_size: int = 4) -> dict:
    """Metrics dict (see the module docstring) of ``model`` on ``samples`` (HamiltonianSample)."""
    layout, target = model.layout, model.config.target
    baseline = getattr(model, "two_center", None)
    prepared = [prepare_sample(s, layout, model.config.cutoff_angstrom, target, f"sample {k}", baseline)
                for k, s in enumerate(samples)]
    all_err, on_err, hop_err, eig_err, aligned_err = [], [], [], [], []
    per_defect: dict[str, list[np.ndarray]] = {}
    per_defect_eig: dict[str, list[np.ndarray]] = {}
    for p, (blocks, potentials) in zip(prepared, predicted_outputs(model, [p.graph for p in prepared], batch_size)):
        if potentials is not None and p.is_realspace:  # k-space data get the term at Γ (_gamma)
            from thermodefect.hamiltonian.predict import potential_blocks

            blocks = blocks + potential_blocks(potentials, p.graph, p.edge_overlap, layout)
        err, on, hop = _errors(p, blocks, layout, potentials)
        all_err.append(err), on_err.append(on), hop_err.append(hop)
        defect = str(p.metadata.get(keys.DEFECT, "unknown"))
        per_defect.setdefault(defect, []).append(err)
        if target == "hamiltonian" and p.hamiltonian_gamma is not None:
            predicted = _gamma(p, blocks, potentials)
            if p.baseline_gamma is not None:
                predicted = predicted + p.baseline_gamma
            overlap = p.overlap_gamma
            window = band_window(predicted.shape[0], p.n_electrons, bands_near_gap)
            ref = scipy.linalg.eigh(p.hamiltonian_gamma, overlap, eigvals_only=True)[window]
            pred = scipy.linalg.eigh(0.5 * (predicted + predicted.T), overlap, eigvals_only=True)[window]
            eig_err.append(np.abs(pred - ref))
            # The same after removing the mean offset: a periodic cell's absolute potential is arbitrary.
            aligned_err.append(np.abs(pred - ref - np.mean(pred - ref)))
            per_defect_eig.setdefault(defect, []).append(np.abs(pred - ref))

    def mae(chunks) -> float:
        values = np.concatenate(chunks) if chunks else np.zeros(0)
        return float(values.mean() * MILLI) if values.size else float("nan")

    result = {
        "target": target,
        "unit": "meV" if target == "hamiltonian" else "1e-3",
        "n_samples": len(prepared),
        "mae": mae(all_err),
        "mae_onsite": mae(on_err),
        "mae_hopping": mae(hop_err),
        "per_defect": {d: mae(v) for d, v in sorted(per_defect.items())},
    }
    if target == "hamiltonian":
        result["bands_near_gap"] = bands_near_gap
        result["eigenvalue_mae"] = mae(eig_err)
        result["eigenvalue_mae_aligned"] = mae(aligned_err)
        result["eigenvalue_mae_per_defect"] = {d: mae(v) for d, v in sorted(per_defect_eig.items())}
    return result
