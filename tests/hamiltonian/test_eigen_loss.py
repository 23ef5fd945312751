"""Γ eigenvalue loss: exact for the generating model, scipy reference, degenerate gradients, training."""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch

from thermodefect.hamiltonian import train_model
from thermodefect.hamiltonian.batch import collate
from thermodefect.hamiltonian.eigen_loss import eigenvalue_loss, eigenvalue_loss_terms, predicted_eigenvalues
from thermodefect.hamiltonian.metrics import band_window
from thermodefect.hamiltonian.targets import bloch_sum_numpy
from thermodefect.hamiltonian.train import LossWeights, batch_loss, build_model, prepare_samples

from .conftest import SPD, gaas_cell, random_model, tiny_settings
from .samples import model_samples

BASIS = {31: SPD, 33: SPD}
N_ORBITALS = 18  # 2 atoms x (s + p + d)
N_ELECTRONS = 8.0
N_BANDS = 6
ATOL_ZERO = 1e-20  # loss of the exact Hamiltonian (units of scale²)
RTOL_SCIPY = 1e-9
DEGENERACY_EV = 1e-8
TRAIN_REDUCTION = 0.5  # eigenvalue loss after / before a few training steps


def _overlap(seed: int = 0) -> np.ndarray:
    """A symmetric positive-definite S(Γ) close to the identity."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 0.05, (N_ORBITALS, N_ORBITALS))
    return np.eye(N_ORBITALS) + 0.5 * (a + a.T)


def _prepared(target_model, atoms, overlap=None, cutoff=5.0):
    samples = model_samples(target_model, [atoms], "gamma", n_electrons=N_ELECTRONS, overlap=overlap)
    layout = target_model.layout
    return prepare_samples(samples, layout, cutoff, "hamiltonian", "test", N_BANDS)[0]


def _blocks(model, prepared):
    return model(collate([prepared.graph], model.layout).to("cpu", torch.float64))


def test_loss_vanishes_for_the_exact_hamiltonian():
    target = random_model(BASIS, 5.0, seed=0)
    prepared = _prepared(target, gaas_cell(seed=2), _overlap())
    with torch.no_grad():
        eigen_term, gap_term = eigenvalue_loss_terms(_blocks(target, prepared), prepared, target.target_scale)
    assert float(eigen_term) < ATOL_ZERO and float(gap_term) < ATOL_ZERO
    with torch.no_grad():
        other = eigenvalue_loss(_blocks(random_model(BASIS, 5.0, seed=1), prepared), prepared, target.target_scale)
    assert float(other) > 1e-6


def test_loss_equals_scipy_generalized_eigh_reference():
    target, trial = random_model(BASIS, 5.0, seed=0), random_model(BASIS, 5.0, seed=1)
    overlap = _overlap(3)
    prepared = _prepared(target, gaas_cell(seed=3), overlap)
    with torch.no_grad():
        blocks = _blocks(trial, prepared)
        loss = float(eigenvalue_loss(blocks, prepared, trial.target_scale))
    h_trial = bloch_sum_numpy(blocks.numpy(), prepared.graph, prepared.fold, np.zeros(3)).real
    window = band_window(N_ORBITALS, N_ELECTRONS, N_BANDS)
    predicted = scipy.linalg.eigh(0.5 * (h_trial + h_trial.T), overlap, eigvals_only=True)[window]
    reference = scipy.linalg.eigh(prepared.hamiltonian_gamma, overlap, eigvals_only=True)[window]
    expected = np.mean(((predicted - reference) / float(trial.target_scale)) ** 2)
    assert window.stop - window.start == N_BANDS
    np.testing.assert_allclose(loss, expected, rtol=RTOL_SCIPY)


def test_shift_invariant_term_ignores_a_constant_times_the_overlap():
    # H + c·S has the levels of H moved by c: the term is zero under a shift-invariant loss
    # (which leaves each cell's c free), and the plain term sees c² / σ² exactly.
    target = random_model(BASIS, 5.0, seed=0)
    overlap = _overlap(4)
    prepared = _prepared(target, gaas_cell(seed=4), overlap)
    shift_ev = 0.3
    with torch.no_grad():
        blocks = _blocks(target, prepared)
    prepared.baseline_gamma = shift_ev * overlap  # added to the predicted Γ matrix by the loss
    sigma = float(target.target_scale)
    with torch.no_grad():
        plain, gap = eigenvalue_loss_terms(blocks, prepared, target.target_scale)
        prepared.shift_invariant = True
        invariant, gap_invariant = eigenvalue_loss_terms(blocks, prepared, target.target_scale)
    np.testing.assert_allclose(float(plain), (shift_ev / sigma) ** 2, rtol=1e-8)
    assert float(invariant) < ATOL_ZERO
    assert float(gap) < ATOL_ZERO and float(gap_invariant) < ATOL_ZERO


def test_gradient_is_finite_for_degenerate_levels():
    # Unrattled zincblende: the T_d symmetry of the equivariant model makes triply degenerate Γ levels.
    target, trial = random_model(BASIS, 5.0, seed=0), random_model(BASIS, 5.0, seed=1)
    atoms = gaas_cell(seed=0, rattle_angstrom=0.0)
    prepared = _prepared(target, atoms)
    blocks = _blocks(trial, prepared).detach().requires_grad_(True)
    levels = predicted_eigenvalues(blocks, prepared, prepared.eigen).detach().numpy()
    assert np.any(np.diff(levels) < DEGENERACY_EV), levels
    loss = sum(eigenvalue_loss_terms(blocks, prepared, trial.target_scale))
    loss.backward()
    assert float(loss.detach()) > 0
    assert torch.isfinite(blocks.grad).all() and blocks.grad.abs().sum() > 0


def test_training_with_the_eigenvalue_loss_decreases_it():
    target = random_model(BASIS, 5.0, seed=0)
    prepared = _prepared(target, gaas_cell(seed=4), _overlap(4))
    torch.manual_seed(0)
    model = build_model(tiny_settings(cutoff_angstrom=5.0, num_layers=1), BASIS, "hamiltonian", 4.0)
    model.target_scale.fill_(1.7)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    weights = LossWeights(eigenvalue=1.0, gap=1.0)

    def eigen_only() -> float:
        with torch.no_grad():
            return float(eigenvalue_loss(_blocks(model, prepared), prepared, model.target_scale))

    before = eigen_only()
    for _ in range(30):
        optimizer.zero_grad()
        batch_loss(model, [prepared], "cpu", weights).backward()
        optimizer.step()
    assert eigen_only() < TRAIN_REDUCTION * before


def test_eigenvalue_term_joins_the_training_loss_at_its_start_epoch(tmp_path):
    target = random_model(BASIS, 5.0, seed=5)
    train = model_samples(target, [gaas_cell(seed=s) for s in range(2)], "gamma", overlap=_overlap(1))
    histories = {}
    for weight in (0.0, 10.0):
        settings = tiny_settings(cutoff_angstrom=5.0, num_layers=1, max_epochs=2, eigenvalue_loss_weight=weight,
                                 eigenvalue_loss_bands=N_BANDS, eigenvalue_loss_start_epoch=1)
        result = train_model(train, [], settings, tmp_path / f"w{weight}", seed=0, progress=False)
        histories[weight] = [h["train_loss"] for h in result.history]
    with_eigen, element_only = histories[10.0], histories[0.0]
    np.testing.assert_allclose(with_eigen[0], element_only[0], rtol=RTOL_SCIPY)  # before the start epoch
    assert np.isfinite(with_eigen[1]) and with_eigen[1] > element_only[1]


def test_band_terms_join_when_the_element_loss_stops_improving(tmp_path):
    # A start epoch beyond the run: the element phase ends on patience instead, and the band-energy
    # phase then starts from the best element-loss weights rather than the run stopping.
    target = random_model(BASIS, 5.0, seed=5)
    train = model_samples(target, [gaas_cell(seed=s) for s in range(2)], "gamma", overlap=_overlap(1))
    runs = {}
    for weight in (0.0, 10.0):
        settings = tiny_settings(cutoff_angstrom=5.0, num_layers=1, max_epochs=12, patience=1, learning_rate=1.0,
                                 eigenvalue_loss_weight=weight, eigenvalue_loss_bands=N_BANDS,
                                 eigenvalue_loss_start_epoch=1000)
        runs[weight] = train_model(train, [], settings, tmp_path / f"w{weight}", seed=0, progress=False)
    element_only, banded = runs[0.0], runs[10.0]
    assert element_only.epochs_run < 12 and not any(h["band_terms"] for h in element_only.history)
    first_band = next(h["epoch"] for h in banded.history if h["band_terms"])
    assert first_band == element_only.epochs_run  # the epoch after the one where the element run stopped
    assert banded.epochs_run > element_only.epochs_run
    assert banded.best_epoch >= first_band  # the saved model comes from the band-energy phase
    assert banded.history[first_band]["learning_rate"] == 1.0  # a fresh schedule
