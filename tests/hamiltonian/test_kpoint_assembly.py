"""H(k) and S(k) assembled at a k-point without the real-space blocks (KPointOperators) equal the
Bloch sums of the blocks :func:`predict` gives, for every model composition the pipeline uses."""

from __future__ import annotations

import copy
import importlib

import numpy as np
import pytest
import torch

from thermodefect.electronic.bloch import bloch_dense, fractional_to_cartesian
from thermodefect.hamiltonian import KPointOperators, predict, predict_members
from thermodefect.hamiltonian.recipe import MeanEnsemble
from thermodefect.hamiltonian.two_center import ScaledTwoCenterModel

from .model_battery import _two_center, cached_model, gaas_cubic, mixed_box

predict_module = importlib.import_module("thermodefect.hamiltonian.predict")  # the package exports a function of that name

# float64 sums of the same terms in another order (chunks, the potential term after the Bloch sum).
SAME_SUM_ATOL = 1e-11
K_GENERAL = np.array([0.13, -0.27, 0.41])  # fractional: complex phases on every image


def _overlap_of(model):
    baseline = getattr(model, "two_center", None)
    return baseline.overlap if isinstance(baseline, ScaledTwoCenterModel) else _two_center("overlap", seed=3)


def _k(atoms, k_frac):
    return None if k_frac is None else fractional_to_cartesian(k_frac, atoms.cell.array)


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    """A few edges per chunk, so every operator is assembled from many chunks."""
    from thermodefect.electronic import bloch

    monkeypatch.setattr(predict_module, "ASSEMBLY_CHUNK_EDGES", 7)
    monkeypatch.setattr(bloch, "DENSE_CHUNK_EDGES", 5)


@pytest.mark.parametrize("family", ["network-hamiltonian", "network+two-center", "network+scaled-two-center",
                                    "two-center-hamiltonian"])
@pytest.mark.parametrize("k_frac", [None, K_GENERAL], ids=["gamma", "general-k"])
def test_assembled_matrices_equal_the_bloch_sums_of_the_predicted_blocks(family, k_frac):
    model = cached_model(family, torch.float64) if family != "two-center-hamiltonian" else cached_model(family, None)
    overlap = _overlap_of(model)
    atoms = gaas_cubic()
    assembled = KPointOperators(model, overlap, atoms, k_cart=_k(atoms, k_frac))
    h_blocks, s_blocks = predict(model, [atoms])[0], predict(overlap, [atoms])[0]
    s = assembled.overlap_matrix
    h = next(assembled.hamiltonians())
    np.testing.assert_allclose(s, bloch_dense(s_blocks, k_frac=k_frac), rtol=0, atol=SAME_SUM_ATOL)
    np.testing.assert_allclose(h, bloch_dense(h_blocks, k_frac=k_frac), rtol=0, atol=SAME_SUM_ATOL)
    assert np.iscomplexobj(h) == (k_frac is not None)
    assert assembled.pair_fill_fraction() > 0


def test_mixed_bases_compress_the_padded_layout():
    """Atoms of 2, 4 and 10 orbitals: the padded slots are dropped, as bloch_dense does."""
    model = cached_model("network-mixed-bases", torch.float64)
    atoms = mixed_box()
    h = next(KPointOperators(model, None, atoms, k_cart=_k(atoms, K_GENERAL)).hamiltonians())
    expected = bloch_dense(predict(model, [atoms])[0], k_frac=K_GENERAL)
    assert h.shape == expected.shape == (sum({1: 2, 8: 4, 14: 10}[z] for z in atoms.numbers),) * 2
    np.testing.assert_allclose(h, expected, rtol=0, atol=SAME_SUM_ATOL)


def test_ensemble_mean_and_members_equal_predict_members():
    first = cached_model("network+scaled-two-center", torch.float64)
    second = copy.deepcopy(first)
    second.two_center = first.two_center  # members of one ensemble share the baseline
    with torch.no_grad():
        for p in second.parameters():
            p.add_(0.05 * torch.randn_like(p))
        second.potential_offset.add_(0.2)
    ensemble = MeanEnsemble([first, second])
    overlap = first.two_center.overlap
    atoms = gaas_cubic(seed=4)
    (mean, members), = predict_members(ensemble, [atoms])
    assembled = list(KPointOperators(ensemble, overlap, atoms, members=True).hamiltonians())
    assert len(assembled) == 3
    for h, op in zip(assembled, [mean, *members]):
        np.testing.assert_allclose(h, bloch_dense(op), rtol=0, atol=SAME_SUM_ATOL)
    assert np.abs(assembled[1] - assembled[2]).max() > 1e-4  # the members differ
    # Without members only the mean is built.
    assert len(list(KPointOperators(ensemble, overlap, atoms).hamiltonians())) == 1


def test_a_scaled_baseline_on_another_overlap_is_left_to_the_block_route():
    model = cached_model("network+scaled-two-center", torch.float64)
    other = _two_center("overlap", seed=3)
    assert KPointOperators.applies(model, model.two_center.overlap)
    assert not KPointOperators.applies(model, other)
    with pytest.raises(ValueError, match="real-space blocks"):
        KPointOperators(model, other, gaas_cubic())
