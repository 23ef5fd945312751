"""Selection rules: threshold, stratified top-k, k-means."""

from __future__ import annotations

import numpy as np
from ase.build import bulk

from thermodefect.active.selection import radial_fingerprint, select_above_threshold, select_kmeans, select_stratified_top_k


def test_threshold_picks_exactly_those_above_and_caps_by_uncertainty():
    u = [0.001, 0.02, 0.010, 0.5, 0.011]
    assert select_above_threshold(u, 0.010) == [1, 3, 4]  # 0.010 itself is not above
    assert select_above_threshold(u, 0.010, cap=2) == [1, 3]
    assert select_above_threshold(u, 1.0) == []


def test_stratified_top_k_picks_exactly_k_per_stratum():
    rng = np.random.default_rng(0)
    strata = ["a"] * 10 + ["b"] * 7 + ["c"] * 2
    u = rng.random(len(strata))
    picked = select_stratified_top_k(u, strata, k=3)
    by_stratum = {s: [i for i in picked if strata[i] == s] for s in "abc"}
    assert [len(by_stratum[s]) for s in "abc"] == [3, 3, 2]
    for s in "ab":
        members = [i for i, x in enumerate(strata) if x == s]
        assert sorted(by_stratum[s]) == sorted(sorted(members, key=lambda i: -u[i])[:3])


def test_kmeans_picks_one_per_well_separated_cluster():
    rng = np.random.default_rng(1)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], float)
    features = np.concatenate([c + 0.1 * rng.standard_normal((6, 2)) for c in centres] * 2)
    strata = ["x"] * 24 + ["y"] * 24
    picked = select_kmeans(features, strata, k_per_stratum=4, seed=0)
    assert len(picked) == 8
    for stratum in ("x", "y"):
        clusters = {tuple(np.round(features[i] / 10).astype(int)) for i in picked if strata[i] == stratum}
        assert len(clusters) == 4


def test_radial_fingerprint_is_invariant_to_rotation_and_order():
    atoms = bulk("GaAs", "zincblende", a=5.65, cubic=True)
    atoms.rattle(0.1, seed=2)
    moved = atoms[::-1]
    moved.rotate(37, "z", rotate_cell=True)
    np.testing.assert_allclose(radial_fingerprint(atoms), radial_fingerprint(moved), atol=1e-10)
