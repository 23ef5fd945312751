"""Errors of a force field against reference labels, overall and per defect type.

Units: energy MAE in meV/atom (|E_pred - E_ref| / n_atoms), force MAE and
RMSE in meV/Å over all Cartesian components.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from ase import Atoms

from thermodefect.core import keys
from thermodefect.forcefield.training import ENERGY_KEY, FORCES_KEY


def _errors(e_pred, e_ref, n_atoms, f_pred, f_ref) -> dict[str, float]:
    de = np.abs(np.asarray(e_pred) - np.asarray(e_ref)) / np.asarray(n_atoms)
    df = np.concatenate([(p - r).reshape(-1) for p, r in zip(f_pred, f_ref)])
    return {
        "energy_mae_mev_per_atom": float(1e3 * de.mean()),
        "force_mae_mev_per_angstrom": float(1e3 * np.abs(df).mean()),
        "force_rmse_mev_per_angstrom": float(1e3 * np.sqrt((df**2).mean())),
        "n_structures": len(de),
    }


def force_field_errors(ensemble, labelled: Sequence[Atoms]) -> dict:
    """Errors of the ensemble mean on labelled structures (REF_energy / REF_forces).

    Returns ``{"overall": {...}, "per_defect": {defect: {...}}, "parity": {...}}``
    where ``parity`` holds the flattened reference and predicted force
    components (eV/Å) and each component's defect, for a parity plot.
    """
    predictions = ensemble.predict_many(labelled)
    e_pred = [p.mean_energy_ev for p in predictions]
    f_pred = [p.mean_forces_ev_per_angstrom for p in predictions]
    e_ref = [float(a.info[ENERGY_KEY]) for a in labelled]
    f_ref = [np.asarray(a.arrays[FORCES_KEY]) for a in labelled]
    n_atoms = [len(a) for a in labelled]
    defects = [str(a.info.get(keys.DEFECT, "unknown")) for a in labelled]
    per_defect = {}
    for name in dict.fromkeys(defects):
        idx = [k for k, d in enumerate(defects) if d == name]
        per_defect[name] = _errors(*([x[k] for k in idx] for x in (e_pred, e_ref, n_atoms, f_pred, f_ref)))
    return {
        "overall": _errors(e_pred, e_ref, n_atoms, f_pred, f_ref),
        "per_defect": per_defect,
        "parity": {
            "reference_ev_per_angstrom": np.concatenate([f.reshape(-1) for f in f_ref]).tolist(),
            "predicted_ev_per_angstrom": np.concatenate([f.reshape(-1) for f in f_pred]).tolist(),
            "defect": [d for d, f in zip(defects, f_ref) for _ in range(f.size)],
        },
    }
