"""The Hamiltonian active-learning loop with deterministic stand-in hooks.

The hooks are not physics: each configuration is a point on a line, the
"model uncertainty" is the distance to the nearest labelled point and the
"eigenvalue error" shrinks with the number of labels until it saturates.
They let the loop's own logic be checked exactly: stratified picks, k-means
spread, stopping, and resume without relabelling.
"""

from collections import Counter

import numpy as np
import pytest
from ase import Atoms

from thermodefect.active.hamiltonian import Candidate, run_hamiltonian_active_learning
from thermodefect.settings import HamiltonianALSettings
from thermodefect.core.rundir import Manifest

DEFECTS = ["As_Ga", "V_As"]
TEMPERATURES = [100.0, 500.0]


def _pool(n_per_stratum=12):
    pool = []
    for d, defect in enumerate(DEFECTS):
        for t, temperature in enumerate(TEMPERATURES):
            for f in range(n_per_stratum):
                x = 10.0 * (2 * d + t) + f * 0.5 + (3.0 if f >= n_per_stratum // 2 else 0.0)
                atoms = Atoms("H", positions=[[x, 0, 0]], cell=[100, 100, 100], pbc=True)
                pool.append(Candidate(f"{defect}/{temperature:g}K/frame-{f:03d}", atoms, defect, temperature))
    return pool


class FakeHooks:
    def __init__(self, fail_label_after=None, saturate_at=None):
        self.label_calls = Counter()
        self.train_calls = []
        self.fail_label_after = fail_label_after
        self.saturate_at = saturate_at

    def label(self, candidates):
        if self.fail_label_after is not None and sum(self.label_calls.values()) >= self.fail_label_after:
            raise KeyboardInterrupt("simulated kill")
        for c in candidates:
            self.label_calls[c.key] += 1
        return {c.key: "h-" + c.key for c in candidates}

    def train(self, keys, round_dir, index):
        self.train_calls.append(index)
        return sorted(keys)

    def evaluate(self, ensemble, test_keys):
        n = len(ensemble)
        mae = 50.0 / n if self.saturate_at is None else max(50.0 / n, self.saturate_at)
        return {"eigenvalue_mae_mev": mae, "hamiltonian_mae_mev": mae / 10}

    def uncertainty(self, ensemble, atoms):
        labelled = np.array([float(k.split("x=")[-1]) for k in ensemble if "x=" in k])
        x = np.array([a.positions[0, 0] for a in atoms])
        std = np.min(np.abs(x[:, None] - labelled[None, :]), axis=1) if len(labelled) else np.ones_like(x)
        return std * 1e-3, std * 5e-4

    def features(self, atoms):
        return np.array([[a.positions[0, 0]] for a in atoms])


class KeyedHooks(FakeHooks):
    """Dataset keys carry the coordinate so the fake uncertainty can use them."""

    def label(self, candidates):
        super().label(candidates)
        return {c.key: f"h-{c.key}-x={c.atoms.positions[0, 0]}" for c in candidates}


def _settings(**kw):
    base = dict(initial_per_stratum=2, top_k_per_stratum=3, max_rounds=3, patience=1, min_improvement_mev=0.5)
    base.update(kw)
    return HamiltonianALSettings(**base)


def _run(tmp_path, hooks, settings, pool=None):
    pool = pool or _pool()
    test = [Candidate(f"test/{i}", Atoms("H", positions=[[i, 1, 1]], cell=[100] * 3, pbc=True), "As_Ga", 300.0) for i in range(2)]
    return run_hamiltonian_active_learning(
        pool, test, hooks, settings, tmp_path / "models", tmp_path / "state.json", seed=3,
        manifest=Manifest(tmp_path / "manifest.json"), log=lambda *_: None,
    )


def test_stratified_rounds_pick_exactly_k_per_stratum(tmp_path):
    hooks = KeyedHooks()
    result = _run(tmp_path, hooks, _settings())
    assert len(result.rounds) == 3
    first = Counter(k.rsplit("/", 1)[0] for k in result.rounds[0]["selected"])
    assert set(first.values()) == {2} and len(first) == 4
    for r in result.rounds[1:]:
        per = Counter(k.rsplit("/", 1)[0] for k in r["selected"])
        assert set(per.values()) == {3} and len(per) == 4
    assert result.rounds[-1]["n_labels"] == 4 * (2 + 3 + 3)
    assert all(v == 1 for v in hooks.label_calls.values())


def test_kmeans_initial_picks_are_spread(tmp_path):
    """Each stratum holds two separated groups; two k-means picks take one from each."""
    result = _run(tmp_path, KeyedHooks(), _settings(max_rounds=1))
    for defect in DEFECTS:
        for t in TEMPERATURES:
            frames = sorted(int(k[-3:]) for k in result.rounds[0]["selected"] if k.startswith(f"{defect}/{t:g}K/"))
            assert frames[0] < 6 <= frames[1]


def test_uncertain_picks_are_the_most_uncertain(tmp_path):
    result = _run(tmp_path, KeyedHooks(), _settings(max_rounds=2))
    picked = result.rounds[1]["uncertainty"]["selected_max_std_mev"]
    assert min(picked) > 0


def test_stops_when_eigenvalue_error_saturates(tmp_path):
    hooks = KeyedHooks(saturate_at=20.0)
    result = _run(tmp_path, hooks, _settings(max_rounds=6, patience=1, initial_per_stratum=1, top_k_per_stratum=1))
    maes = [r["metrics"]["eigenvalue_mae_mev"] for r in result.rounds]
    assert result.converged
    assert maes[-1] == pytest.approx(20.0)
    assert len(result.rounds) < 6


def test_resume_after_kill_relabels_nothing(tmp_path):
    settings = _settings()
    killed = KeyedHooks(fail_label_after=2 + 8 + 12)  # test set + round 0 + round 1, then die in round 2
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, killed, settings)
    resumed = KeyedHooks()
    result = _run(tmp_path, resumed, settings)
    assert not set(killed.label_calls) & set(resumed.label_calls)
    assert sum(resumed.label_calls.values()) == 12  # only round 2's picks
    assert resumed.train_calls == [2]  # rounds 0 and 1 need no model: their successors are chosen
    uninterrupted = _run(tmp_path / "fresh", KeyedHooks(), settings)
    assert [r["selected"] for r in result.rounds] == [r["selected"] for r in uninterrupted.rounds]
