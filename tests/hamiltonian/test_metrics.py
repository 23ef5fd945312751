"""Matrix-element and eigenvalue MAEs."""

from __future__ import annotations

import numpy as np
import pytest

from thermodefect.hamiltonian import evaluate, predict
from thermodefect.hamiltonian.metrics import band_window

from .conftest import SPD, gaas_cell, random_model
from .samples import gamma_sample, model_samples, realspace_sample

BASIS = {31: SPD, 33: SPD}
ATOL_MEV = 1e-6
SHIFT_EV = 0.01


def test_band_window_takes_half_below_and_half_above_the_gap():
    assert band_window(100, 20, 4) == slice(8, 12)  # 10 occupied bands: 8, 9 | 10, 11
    assert band_window(100, 21, 4) == slice(9, 13)  # half-filled band 10 counts as occupied
    assert band_window(6, 4, 30) == slice(0, 6)


def test_perfect_model_has_zero_errors():
    model = random_model(BASIS, 3.5, seed=0)
    atoms = [gaas_cell(seed=1), gaas_cell(seed=2)]
    samples = model_samples(model, atoms[:1], "realspace", defect="As_Ga") + model_samples(model, atoms[1:], "gamma")
    metrics = evaluate(model, samples, bands_near_gap=8)
    assert metrics["unit"] == "meV" and metrics["n_samples"] == 2
    for key in ("mae", "mae_onsite", "mae_hopping", "eigenvalue_mae"):
        assert metrics[key] == pytest.approx(0.0, abs=ATOL_MEV)
    assert set(metrics["per_defect"]) == {"As_Ga", "pristine"}


def test_uniform_shift_gives_known_mae_and_eigenvalue_shift():
    model = random_model(BASIS, 3.5, seed=0)
    op = predict(model, [gaas_cell(seed=1)])[0]
    shifted = type(op)(op.structure, op.basis, op.edge_index, op.cell_shift, op.blocks.copy())
    onsite = (op.edge_index[0] == op.edge_index[1]) & ~op.cell_shift.any(axis=1)
    n = shifted.blocks.shape[1]
    shifted.blocks[onsite] += SHIFT_EV * np.eye(n)  # orthogonal basis: every eigenvalue moves by SHIFT_EV
    metrics = evaluate(model, [realspace_sample(shifted)], bands_near_gap=8)
    n_onsite_entries = 2 * 9 * 9
    assert metrics["mae_onsite"] == pytest.approx(SHIFT_EV * 1e3 * 9 * 2 / n_onsite_entries)
    assert metrics["mae_hopping"] == pytest.approx(0.0, abs=ATOL_MEV)
    assert metrics["eigenvalue_mae"] == pytest.approx(SHIFT_EV * 1e3)
    gamma = evaluate(model, [gamma_sample(shifted)], bands_near_gap=8)
    assert gamma["eigenvalue_mae"] == pytest.approx(SHIFT_EV * 1e3)
