"""Bloch-sum (Γ) loss vs real-space loss on consistent data."""

from __future__ import annotations

import numpy as np
import torch

from thermodefect.hamiltonian.batch import collate
from thermodefect.hamiltonian.losses import kspace_loss, realspace_loss
from thermodefect.hamiltonian.targets import prepare_sample

from .conftest import SPD, gaas_cell, random_model
from .samples import model_samples

BASIS = {31: SPD, 33: SPD}
RTOL_LOSS = 1e-10
ATOL_ZERO = 1e-20


def _losses(model, reference_samples):
    scale = torch.tensor(1.0, dtype=torch.float64)
    out = []
    for sample in reference_samples:
        prepared = prepare_sample(sample, model.layout, model.config.cutoff_angstrom, "hamiltonian")
        with torch.no_grad():
            blocks = model(collate([prepared.graph], model.layout).to("cpu", torch.float64))
        loss = realspace_loss if prepared.is_realspace else kspace_loss
        out.append((float(loss(blocks, prepared, scale)), prepared))
    return out


def _big_cell():
    atoms = gaas_cell(seed=4, rattle_angstrom=0.05).repeat((2, 2, 2))
    return atoms


def test_gamma_loss_equals_realspace_loss_without_repeated_images():
    # cutoff 3.5 Å < half the cell's width: every atom pair has at most one image, so folding is one-to-one.
    target, trial = random_model(BASIS, 3.5, seed=0), random_model(BASIS, 3.5, seed=1)
    atoms = _big_cell()
    (real_loss, real_p), = _losses(trial, model_samples(target, [atoms], "realspace"))
    (gamma_loss, gamma_p), = _losses(trial, model_samples(target, [atoms], "gamma"))
    assert gamma_p.fold.n_covered == gamma_p.fold.edge.size
    assert real_loss > 0
    np.testing.assert_allclose(gamma_loss, real_loss, rtol=RTOL_LOSS)


def test_gamma_loss_vanishes_for_the_generating_model_with_images():
    # cutoff 5 Å in the 2-atom cell: many images of each pair fold onto one matrix entry.
    target = random_model(BASIS, 5.0, seed=0)
    atoms = gaas_cell(seed=5)
    (gamma_loss, prepared), = _losses(target, model_samples(target, [atoms], "gamma"))
    assert prepared.fold.n_covered < prepared.fold.edge.size
    assert gamma_loss < ATOL_ZERO
    (other_loss, _), = _losses(random_model(BASIS, 5.0, seed=1), model_samples(target, [atoms], "gamma"))
    assert other_loss > 1e-6
