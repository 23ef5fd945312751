"""Active learning of the Hamiltonian model, as published.

Pool: configurations sampled uniformly in time from production MD, one
stratum per (defect, temperature). Round 0 labels the k-means picks of each
stratum; every later round adds the ``top_k_per_stratum`` most uncertain
configurations of each stratum (uncertainty = maximum standard deviation of
the ensemble's predicted matrix elements; the RMSD across models is recorded
too), labels them, retrains the ensemble and evaluates it on an independent
test set. The loop stops when the eigenvalue MAE on the test set has not
improved by ``min_improvement_mev`` for ``patience`` rounds, or after
``max_rounds`` rounds.

The loop owns selection, bookkeeping and resume; the work itself (labelling,
training, evaluation, uncertainty, descriptors) comes in through
:class:`HamiltonianALHooks`, so the same loop runs with any reference and
any model. Every decision is written to ``state_path`` before it is acted
on: a killed loop resumes with the same selections, never relabels (labels
are keyed by structure content) and never retrains a finished round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np
from ase import Atoms

from thermodefect.core.results import read_results_json
from thermodefect.core.files import atomic_write_json

STAGE = "hamiltonian_al"


@dataclass
class Candidate:
    """One pool configuration: a unique key, its atoms and its stratum."""

    key: str  # e.g. "As_Ga/500K/frame-0040"
    atoms: Atoms
    defect: str
    temperature_k: float

    @property
    def stratum(self) -> str:
        return f"{self.defect}/{self.temperature_k:g}K"


class HamiltonianALHooks(Protocol):
    """The work the loop delegates."""

    def label(self, candidates: Sequence[Candidate]) -> dict[str, str]:
        """Label configurations; return ``{candidate key: dataset key}`` for the successes."""

    def train(self, dataset_keys: Sequence[str], round_dir: Path, round_index: int) -> Any:
        """Train (or load, when ``round_dir`` already holds it) the ensemble of a round."""

    def evaluate(self, ensemble: Any, test_dataset_keys: Sequence[str]) -> dict[str, float]:
        """Test metrics; must contain ``eigenvalue_mae_mev`` and ``hamiltonian_mae_mev``."""

    def uncertainty(self, ensemble: Any, atoms: Sequence[Atoms]) -> tuple[np.ndarray, np.ndarray]:
        """Per structure: (max std of matrix elements, RMSD across models), eV."""

    def features(self, atoms: Sequence[Atoms]) -> np.ndarray:
        """Descriptor per structure (n_structures, n_features) for k-means picks."""


@dataclass
class HamiltonianALResult:
    rounds: list[dict[str, Any]]
    training_keys: list[str]
    test_keys: list[str]
    converged: bool
    final_round_dir: Path
    ensemble: Any = field(repr=False, default=None)


class _State:
    """Everything the loop has decided so far, persisted atomically."""

    def __init__(self, path: Path):
        self.path = path
        self.data: dict[str, Any] = {"rounds": [], "test": None, "stopped": None}
        if path.exists():
            self.data = read_results_json(path, "hamiltonian_al", required=("rounds",))

    def save(self) -> None:
        atomic_write_json(self.path, self.data)

    def round(self, index: int) -> dict[str, Any]:
        while len(self.data["rounds"]) <= index:
            self.data["rounds"].append({"round": len(self.data["rounds"])})
        return self.data["rounds"][index]


def _strata(candidates: Sequence[Candidate]) -> list[str]:
    return [c.stratum for c in candidates]


def initial_selection(pool: Sequence[Candidate], hooks: HamiltonianALHooks, per_stratum: int, seed: int) -> list[str]:
    """k-means picks per stratum: one configuration per cluster."""
    from thermodefect.active.selection import select_kmeans

    features = hooks.features([c.atoms for c in pool])
    picked = select_kmeans(features, _strata(pool), per_stratum, seed)
    return [pool[i].key for i in picked]


def uncertain_selection(
    pool: Sequence[Candidate], labelled: set[str], hooks: HamiltonianALHooks, ensemble: Any, k: int
) -> tuple[list[str], dict[str, float]]:
    """Top-k most uncertain unlabelled configurations of every stratum."""
    from thermodefect.active.selection import select_stratified_top_k

    remaining = [c for c in pool if c.key not in labelled]
    if not remaining:
        return [], {}
    max_std, rmsd = hooks.uncertainty(ensemble, [c.atoms for c in remaining])
    picked = select_stratified_top_k(np.asarray(max_std), _strata(remaining), k)
    stats = {
        "pool_size": len(remaining),
        "max_std_mev_mean": float(np.mean(max_std) * 1e3),
        "max_std_mev_max": float(np.max(max_std) * 1e3),
        "rmsd_mev_mean": float(np.mean(rmsd) * 1e3),
        "selected_max_std_mev": [float(max_std[i] * 1e3) for i in picked],
    }
    return [remaining[i].key for i in picked], stats


def _should_stop(rounds: list[dict[str, Any]], patience: int, min_improvement_mev: float) -> bool:
    """True when the best eigenvalue MAE is ``patience`` rounds old."""
    maes = [r["metrics"]["eigenvalue_mae_mev"] for r in rounds if "metrics" in r]
    if len(maes) <= patience:
        return False
    best_before = min(maes[: len(maes) - patience])
    return min(maes[len(maes) - patience :]) > best_before - min_improvement_mev


def run_hamiltonian_active_learning(
    pool: Sequence[Candidate],
    test_set: Sequence[Candidate],
    hooks: HamiltonianALHooks,
    settings,
    models_dir: Path,
    state_path: Path,
    seed: int,
    manifest=None,
    log=print,
) -> HamiltonianALResult:
    """Run (or resume) the loop. ``settings`` is a ``HamiltonianALSettings``.

    ``models_dir/round-K`` receives each round's ensemble; ``state_path`` is
    the JSON record of selections, label keys and metrics per round.
    """
    keys = [c.key for c in pool]
    if len(set(keys)) != len(keys):
        raise ValueError("pool keys must be unique")
    by_key = {c.key: c for c in pool}
    state = _State(Path(state_path))
    if manifest is not None:
        manifest.start(STAGE)

    if state.data["test"] is None:
        log(f"hamiltonian AL: labelling {len(test_set)} test configurations")
        state.data["test"] = hooks.label(test_set)
        state.save()
    test_keys = list(state.data["test"].values())

    ensemble = None
    index = 0
    while True:
        record = state.round(index)
        if "selected" not in record:
            if index == 0:
                record["selected"] = initial_selection(pool, hooks, settings.initial_per_stratum, seed)
                record["rule"] = f"k-means, {settings.initial_per_stratum} per stratum"
            else:
                labelled = {k for r in state.data["rounds"] for k in r.get("labelled", {})}
                record["selected"], record["uncertainty"] = uncertain_selection(
                    pool, labelled, hooks, ensemble, settings.top_k_per_stratum
                )
                record["rule"] = f"top {settings.top_k_per_stratum} most uncertain per stratum"
            state.save()
        if index > 0 and not record["selected"]:
            state.data["rounds"].pop()
            state.data["stopped"] = "pool exhausted"
            state.save()
            break
        if "labelled" not in record:
            log(f"hamiltonian AL round {index}: labelling {len(record['selected'])} configurations")
            record["labelled"] = hooks.label([by_key[k] for k in record["selected"]])
            state.save()
        training = [v for r in state.data["rounds"][: index + 1] for v in r["labelled"].values()]
        record["n_labels"] = len(training)
        round_dir = Path(models_dir) / f"round-{index}"
        rounds_so_far = state.data["rounds"]
        next_decided = index + 1 < len(rounds_so_far) and "selected" in rounds_so_far[index + 1]
        if "metrics" not in record or not next_decided:
            # A finished round whose successor is already chosen needs no model.
            log(f"hamiltonian AL round {index}: training on {len(training)} labelled structures")
            ensemble = hooks.train(training, round_dir, index)
        if "metrics" not in record:
            record["metrics"] = hooks.evaluate(ensemble, test_keys)
            state.save()
            if manifest is not None:
                manifest.record_items(STAGE, [f"round-{index}"])
                manifest.update(STAGE, rounds=index + 1, n_labels=len(training), **{
                    k: v for k, v in record["metrics"].items() if isinstance(v, (int, float))
                })
        m = record["metrics"]
        log(
            f"hamiltonian AL round {index}: H MAE {m['hamiltonian_mae_mev']:.2f} meV, "
            f"eigenvalue MAE {m['eigenvalue_mae_mev']:.2f} meV, {len(training)} labels"
        )
        if _should_stop(state.data["rounds"], settings.patience, settings.min_improvement_mev):
            state.data["stopped"] = "eigenvalue MAE saturated"
            break
        if index + 1 >= settings.max_rounds:
            state.data["stopped"] = "round limit"
            break
        index += 1
    state.save()
    rounds = state.data["rounds"]
    converged = state.data["stopped"] in ("eigenvalue MAE saturated", "pool exhausted")
    last = len(rounds) - 1
    return HamiltonianALResult(
        rounds=rounds,
        training_keys=[v for r in rounds for v in r["labelled"].values()],
        test_keys=test_keys,
        converged=converged,
        final_round_dir=Path(models_dir) / f"round-{last}",
        ensemble=ensemble,
    )
