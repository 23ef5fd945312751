"""Selection rules: threshold, stratified top-k, k-means."""

from __future__ import annotations

import numpy as np
from ase.build import bulk

from thermodefect.active.selection import (
    radial_fingerprint,
    select_above_threshold,
    select_balanced,
    select_kmeans,
    select_stratified_top_k,
)


def test_threshold_picks_exactly_those_above_and_caps_by_uncertainty():
    u = [0.001, 0.02, 0.010, 0.5, 0.011]
    assert select_above_threshold(u, 0.010) == [1, 3, 4]  # 0.010 itself is not above
    assert select_above_threshold(u, 0.010, cap=2) == [1, 3]
    assert select_above_threshold(u, 1.0) == []


def test_balanced_selection_lets_defects_take_turns_and_spreads_frames_along_a_run():
    # One trajectory per defect; frames 20 steps apart. V_As is far more uncertain everywhere.
    steps = [20, 40, 60, 80, 100, 120] * 2
    strata = ["V_As"] * 6 + ["As_Ga"] * 6
    u = [0.9, 0.95, 0.8, 0.7, 0.85, 0.6] + [0.02, 0.05, 0.03, 0.001, 0.04, 0.011]
    assert select_above_threshold(u, 0.01, cap=4) == [0, 1, 2, 4]  # all of one defect, neighbouring frames
    picked = select_balanced(u, strata, 0.01, cap=4, trajectories=strata, steps=steps, min_separation=40)
    # Turns: V_As 0.95 (step 40), As_Ga 0.05 (step 40), V_As 0.85 (step 100), As_Ga 0.04 (step 100):
    # the frames at 20 and 60 of each run lie within 40 steps of a pick and are skipped.
    assert picked == [1, 4, 7, 10]
    # No cap: every frame above the threshold that keeps its distance; 0.001 stays out.
    everything = select_balanced(u, strata, 0.01, trajectories=strata, steps=steps, min_separation=40)
    assert everything == [1, 4, 7, 10] and 9 not in everything
    # Without a separation, turns alone.
    assert select_balanced(u, strata, 0.01, cap=3) == sorted([1, 7, 0])
    assert select_balanced(u, strata, 1.0) == []


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
