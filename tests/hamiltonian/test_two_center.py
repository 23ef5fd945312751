"""The two-center (Slater-Koster) model: exact recovery, files, baseline.

Rotation equivariance, Hermiticity, translation and permutation: test_model_battery.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.build import bulk

from thermodefect.data.operators import HamiltonianSample, KSpaceMatrices, Structure
from thermodefect.electronic.bloch import bloch_sum
from thermodefect.core.errors import UserInputError
from thermodefect.hamiltonian import evaluate, predict, train_model
from thermodefect.hamiltonian.checkpoint import load_overlap_model
from thermodefect.hamiltonian.two_center import TwoCenterModel

from .conftest import SPD, tiny_settings

BASIS = {31: SPD, 33: SPD}
CUTOFF = 7.0


def _cell(seed: int, rattle: float = 0.12):
    atoms = bulk("GaAs", "zincblende", a=5.65, cubic=True)
    atoms.positions += np.random.default_rng(seed).normal(0, rattle, atoms.positions.shape)
    return atoms


def _true_model(seed: int = 3) -> TwoCenterModel:
    """Smooth random radial functions (decaying with distance) and onsite constants."""
    model = TwoCenterModel(BASIS, CUTOFF, r_min_angstrom=1.5, knot_spacing_angstrom=0.5)
    rng = np.random.default_rng(seed)
    centres = 0.5 * (model.knots[2:2 + model.n_radial] + model.knots[4:4 + model.n_radial])
    radial = rng.normal(size=(len(model.channels), 1)) * np.exp(-(centres - 1.5) / 1.5)[None, :]
    model.coefficients = np.concatenate([radial.ravel(), rng.normal(size=len(model.onsite_channels))])
    return model


def _gamma_sample(model: TwoCenterModel, atoms, as_overlap: bool = True) -> HamiltonianSample:
    """Γ matrix of ``model`` as the sample's overlap, or as its Hamiltonian in an orthogonal basis."""
    op = model.operator(atoms)
    gamma = np.real(bloch_sum(op, k_frac=np.zeros(3)).toarray())
    return HamiltonianSample(structure=op.structure, basis=dict(BASIS), n_electrons=8 * 4.0,
                             kspace=KSpaceMatrices(np.zeros((1, 3)), gamma[None], gamma[None] if as_overlap else None))


def test_fit_recovers_a_two_center_operator_from_gamma_matrices():
    truth = _true_model()
    fitted = TwoCenterModel(BASIS, CUTOFF, r_min_angstrom=1.5, knot_spacing_angstrom=0.5)
    info = fitted.fit([_gamma_sample(truth, _cell(seed)) for seed in range(10)], smoothing=1e-6)
    assert info["mae"] < 1e-5
    new = _cell(seed=99)

    def gamma(model):
        return np.real(bloch_sum(model.operator(new), k_frac=np.zeros(3)).toarray())

    scale = np.abs(gamma(truth)).max()
    assert np.abs(gamma(fitted) - gamma(truth)).max() < 1e-4 * scale
    # Γ folds the images of a pair together; several rattled cells still pin the real-space blocks.
    expected, got = truth.operator(new).blocks, fitted.operator(new).blocks
    assert np.abs(got - expected).max() < 1e-2 * np.abs(expected).max()


def test_save_load_round_trip_and_bad_files(tmp_path):
    model = _true_model()
    path = tmp_path / "tc.json"
    model.save(path)
    again = load_overlap_model(path)
    atoms = _cell(seed=2)
    assert np.array_equal(again.operator(atoms).blocks, model.operator(atoms).blocks)
    data = json.loads(path.read_text())
    data["coefficients"] = data["coefficients"][:-1]
    path.write_text(json.dumps(data))
    with pytest.raises(UserInputError, match="coefficients"):
        TwoCenterModel.load(path)
    path.write_text("{not json")
    with pytest.raises(UserInputError, match="cannot read"):
        TwoCenterModel.load(path)
    with pytest.raises(UserInputError, match="not in the two-center model"):
        model.operator(bulk("Si", "diamond", a=5.43))


def test_network_learns_what_the_baseline_leaves(tmp_path):
    """With the exact operator as baseline the network's part stays small and predictions match."""
    truth = _true_model()
    samples = [_gamma_sample(truth, _cell(seed), as_overlap=False) for seed in range(3)]
    settings = tiny_settings(cutoff_angstrom=3.5, max_epochs=2)
    result = train_model(samples[:2], samples[2:], settings, tmp_path / "m", seed=0, baseline=truth)
    assert result.model.two_center is truth
    atoms = _cell(seed=7)
    predicted = predict(result.model, [atoms])[0]
    reference = truth.operator(atoms)
    # Same edges as the baseline (its cutoff is longer than the network's).
    assert predicted.n_edges == reference.n_edges
    network_part = np.abs(predicted.blocks - reference.blocks).max()
    assert 0 < network_part < 0.5
    from thermodefect.hamiltonian import load_model

    loaded = load_model(tmp_path / "m")
    assert loaded.two_center is not None
    assert np.allclose(predict(loaded, [atoms])[0].blocks, predicted.blocks, atol=1e-10)
    # evaluate() scores network + baseline, the same operator predict() returns.
    from thermodefect.hamiltonian.metrics import band_window

    metrics = evaluate(loaded, samples[2:], bands_near_gap=10)
    test = samples[2]
    full = np.real(bloch_sum(predict(loaded, [test.structure])[0], k_frac=np.zeros(3)).toarray())
    reference = np.real(test.kspace.hamiltonian[0])
    window = band_window(len(full), test.n_electrons, 10)
    eig_mae = np.abs(np.linalg.eigvalsh(full)[window] - np.linalg.eigvalsh(reference)[window]).mean() * 1e3
    assert metrics["eigenvalue_mae"] == pytest.approx(eig_mae, rel=1e-6)
    assert metrics["mae"] == pytest.approx(np.abs(full - reference).mean() * 1e3, rel=1e-6)


def test_structure_and_atoms_give_the_same_operator():
    model = _true_model()
    atoms = _cell(seed=3)
    assert np.array_equal(model.operator(atoms).blocks, model.operator(Structure.from_atoms(atoms)).blocks)


def test_cli_fits_a_two_center_overlap(tmp_path):
    from typer.testing import CliRunner

    from thermodefect.cli.main import app
    from thermodefect.data.hamiltonians import HamiltonianDataset

    truth = _true_model()
    dataset = HamiltonianDataset(tmp_path / "ham.h5")
    for seed in range(5):
        dataset.append(_gamma_sample(truth, _cell(seed)))
    config = tmp_path / "config.toml"
    config.write_text(f'[run]\ndirectory = "{tmp_path / "run"}"\n[hamiltonian]\ncutoff_angstrom = 3.5\n'
                      f'two_center_cutoff_angstrom = {CUTOFF}\n')
    result = CliRunner().invoke(app, ["ham", "train", str(config), "--target", "overlap", "--data", str(tmp_path / "ham.h5")])
    assert result.exit_code == 0, result.output
    path = tmp_path / "run" / "models" / "ham" / "trained-overlap" / "two_center_overlap.json"
    assert "two-center overlap fitted" in result.output and path.is_file()
    fitted = load_overlap_model(path)
    new = _cell(seed=42)
    got = np.real(bloch_sum(fitted.operator(new), k_frac=np.zeros(3)).toarray())
    expected = np.real(bloch_sum(truth.operator(new), k_frac=np.zeros(3)).toarray())
    # Default knots (0.25 Å) and a default smoothing penalty: close, not exact.
    assert np.abs(got - expected).max() < 1e-2 * np.abs(expected).max()


class _PairReference:
    """Stands in for a reference: the overlap of two atoms in vacuum from a known two-center model."""

    def __init__(self, truth: TwoCenterModel):
        self.truth, self.calls = truth, 0

    def pair_overlap(self, atoms):
        self.calls += 1
        return _gamma_sample(self.truth, atoms)


def test_overlap_from_atom_pairs_recovers_real_space_blocks():
    from thermodefect.hamiltonian.two_center import fit_overlap_from_pairs

    truth = _true_model()
    reference = _PairReference(truth)
    fitted = fit_overlap_from_pairs(reference, BASIS, CUTOFF, r_min_angstrom=1.5, step_angstrom=0.1, directions=2)
    assert reference.calls == fitted.fit_info["pairs"] > 100
    atoms = _cell(seed=5, rattle=0.3)
    expected, got = truth.operator(atoms).blocks, fitted.operator(atoms).blocks
    # No periodic images in the data: blocks of any structure are fixed, not only their Γ sums.
    assert np.abs(got - expected).max() < 1e-3 * np.abs(expected).max()


def test_overlap_scaled_form_refits_exactly():
    """(Equivariance and Hermiticity of the form: test_model_battery.py.)"""
    from thermodefect.hamiltonian.two_center import ScaledTwoCenterModel

    overlap = _true_model(seed=8)
    truth = ScaledTwoCenterModel(overlap, knot_spacing_angstrom=1.0)
    rng = np.random.default_rng(1)
    truth.coefficients = rng.normal(size=truth.n_unknowns)
    # Γ data of a few cells fix F, and the saved file restores the model (overlap included).
    samples = [_gamma_sample(truth, _cell(seed), as_overlap=False) for seed in range(4)]
    fitted = ScaledTwoCenterModel(overlap, knot_spacing_angstrom=1.0)
    fitted.fit(samples, smoothing=1e-9)
    again = TwoCenterModel.from_dict(json.loads(json.dumps(fitted.to_dict())))
    new = _cell(seed=77)
    gamma = [np.real(bloch_sum(m.operator(new), k_frac=np.zeros(3)).toarray()) for m in (truth, fitted, again)]
    assert np.abs(gamma[1] - gamma[0]).max() < 1e-4 * np.abs(gamma[0]).max()
    assert np.array_equal(gamma[1], gamma[2])


def test_overlap_scaled_blocks_in_place_equal_the_term_by_term_sum():
    """The prediction path (overlap blocks scaled in place per species pair) is the sum over
    :meth:`_terms` that the fit uses, for like and unlike species pairs and the on-site blocks."""
    from thermodefect.hamiltonian.two_center import ScaledTwoCenterModel

    model = ScaledTwoCenterModel(_true_model(seed=9), knot_spacing_angstrom=1.0)
    model.coefficients = np.random.default_rng(2).normal(size=model.n_unknowns)
    graph = model.graph(Structure.from_atoms(_cell(seed=5)))
    fast = model._edge_blocks(graph)
    generic = TwoCenterModel._edge_blocks(model, graph)
    assert np.abs(fast).max() > 0.1
    np.testing.assert_allclose(fast, generic, rtol=0, atol=1e-12)


def test_xtb_pair_overlaps_reproduce_the_periodic_overlap():
    """tblite overlaps of atom pairs in vacuum rebuild its periodic Γ overlap of a rattled cell."""
    pytest.importorskip("tblite")
    from thermodefect.hamiltonian.two_center import fit_overlap_from_pairs
    from thermodefect.reference.registry import get_reference
    from thermodefect.settings import ReferenceSettings

    reference = get_reference(ReferenceSettings(name="xtb", options={"method": "GFN1-xTB"}))
    atoms = _cell(seed=4, rattle=0.05)
    sample = reference.label(atoms, hamiltonian=True).sample
    model = fit_overlap_from_pairs(reference, sample.basis, 21.0, step_angstrom=0.2, directions=1)
    predicted = np.real(bloch_sum(model.operator(atoms), k_frac=np.zeros(3)).toarray())
    expected = np.real(sample.kspace.overlap[0])
    assert np.abs(predicted - expected).max() < 1e-4
    # The nearly singular direction (smallest eigenvalue ~5e-4) survives.
    assert np.linalg.eigvalsh(predicted).min() == pytest.approx(np.linalg.eigvalsh(expected).min(), rel=0.05)


def test_pair_overlaps_on_worker_processes_give_the_same_fit():
    """Pairs computed in two processes come back in order: the fit is the one-process fit, bit for bit."""
    pytest.importorskip("tblite")
    from thermodefect.hamiltonian.two_center import fit_overlap_from_pairs
    from thermodefect.reference.registry import get_reference
    from thermodefect.settings import ReferenceSettings

    reference = get_reference(ReferenceSettings(name="xtb", options={"method": "GFN1-xTB"}))
    basis = {31: reference.basis("Ga"), 33: reference.basis("As")}
    one, two = (fit_overlap_from_pairs(reference, basis, 8.0, step_angstrom=0.5, directions=1, workers=w)
                for w in (1, 2))
    assert one.fit_info["pairs"] == two.fit_info["pairs"] == 3 * 14
    assert np.abs(one.coefficients).max() > 0.01
    assert np.array_equal(one.coefficients, two.coefficients)
    assert basis == two.basis


def test_shift_invariant_training_pins_the_absolute_energies(tmp_path):
    """The loss ignores each cell's c·S; after training the potentials carry the training set's mean c."""
    from thermodefect.hamiltonian import load_model
    from thermodefect.hamiltonian.metrics import cell_shifts
    from thermodefect.hamiltonian.targets import prepare_sample
    from thermodefect.hamiltonian.two_center import ScaledTwoCenterModel

    overlap = _true_model(seed=8)
    truth = ScaledTwoCenterModel(overlap, knot_spacing_angstrom=1.0)
    truth.coefficients = np.random.default_rng(2).normal(size=truth.n_unknowns)
    shift_ev = 0.7

    def sample(seed):
        atoms = _cell(seed)
        s_gamma = np.real(bloch_sum(overlap.operator(atoms), k_frac=np.zeros(3)).toarray())
        h_gamma = np.real(bloch_sum(truth.operator(atoms), k_frac=np.zeros(3)).toarray()) + shift_ev * s_gamma
        return HamiltonianSample(structure=Structure.from_atoms(atoms), basis=dict(BASIS), n_electrons=32.0,
                                 kspace=KSpaceMatrices(np.zeros((1, 3)), h_gamma[None], s_gamma[None]))

    samples = [sample(seed) for seed in range(3)]
    settings = tiny_settings(cutoff_angstrom=3.5, max_epochs=2, shift_invariant_loss=True)
    # The exact baseline leaves only the shift, which the loss cannot see.
    model = train_model(samples, [], settings, tmp_path / "m", seed=0, baseline=truth).model
    assert model.uses_potentials
    assert float(model.potential_offset) != 0.0
    prepared = [prepare_sample(s, model.layout, 3.5, "hamiltonian", "s", truth, True) for s in samples]
    assert abs(np.mean(cell_shifts(model, prepared))) < 1e-6
    loaded = load_model(tmp_path / "m")
    assert float(loaded.potential_offset) == float(model.potential_offset)
    # The absolute level follows on a new cell: the mean shift is gone, not only the spread.
    new = sample(11)
    s_gamma = new.kspace.overlap[0]
    def mean_error(m):  # the c of (prediction − reference) ≈ c·S: every eigenvalue moves by c
        full = np.real(bloch_sum(predict(m, [new.structure])[0], k_frac=np.zeros(3)).toarray())
        return float(((full - new.kspace.hamiltonian[0]) * s_gamma).sum() / (s_gamma * s_gamma).sum())

    assert abs(mean_error(loaded)) < 0.1 * shift_ev
    loaded.potential_offset.zero_()
    assert abs(mean_error(loaded)) > 0.3 * shift_ev  # what the loss alone leaves


def test_large_cell_helpers_add_in_place_and_keep_no_baseline_copy():
    """The prediction's memory savers change no number: in-place sums, the potential term, no held H baseline."""
    from thermodefect.hamiltonian.graph import build_graph
    from thermodefect.hamiltonian.two_center import ScaledTwoCenterModel, add_blocks

    overlap = _true_model(seed=8)
    scaled = ScaledTwoCenterModel(overlap, knot_spacing_angstrom=1.0)
    scaled.coefficients = np.random.default_rng(2).normal(size=scaled.n_unknowns)
    atoms = _cell(seed=5)
    base = scaled.operator(atoms)
    assert getattr(scaled, "_blocks_cache", None) is None  # built per structure, not held
    assert overlap.operator(atoms).blocks is overlap.operator(atoms).blocks  # the overlap is held (S, H, potentials)
    short = build_graph(Structure.from_atoms(atoms), 4.0)
    extra = np.random.default_rng(3).normal(size=(short.n_edges, 4, 4))
    copied = add_blocks(base, short, extra)
    own = base.blocks.copy()
    from thermodefect.data.operators import BlockOperator

    summed = add_blocks(BlockOperator(base.structure, dict(base.basis), base.edge_index, base.cell_shift, own), short, extra, in_place=True)
    assert summed.blocks is own and np.array_equal(summed.blocks, copied.blocks)
    assert not np.array_equal(copied.blocks, base.blocks)  # the copy left the baseline alone
