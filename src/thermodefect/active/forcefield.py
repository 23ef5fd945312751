"""Active learning of the MACE force field (stage ``forcefield_al``), as published.

Round 0 trains an ensemble on randomly displaced defect cells. Every round K:

1. labels   — round 0: the displaced cells; round K > 0: the configurations
              selected in round K-1, labelled by ``label_fn``. Saved to
              ``models/ff/round-K/labels.extxyz`` before anything else.
2. train    — an ensemble on all labels so far (``train.extxyz``).
3. evaluate — errors on a held-out test set (MD snapshots at
              ``test_temperature_k`` driven by the round-0 model, labelled by
              the reference once): ``results/ff_al_round-K.json``.
4. explore  — NVT MD per defect at each exploration temperature with model
              0, frames every ``md_sample_interval`` steps form the pool;
              each frame's ensemble force uncertainty (max over atoms of the
              per-atom std norm) is stored in ``pool.extxyz``.
5. select   — every pool frame above ``threshold_ev_per_angstrom``, the
              ``max_selected_per_round`` most uncertain at most.

The loop stops when a round selects nothing (converged) or after
``max_rounds`` trained rounds. Each step is an item of the manifest stage
``forcefield_al`` (``round-K/labels``, ``round-K/trained``, …), so a killed
loop resumes at the step it was in and never relabels.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
from ase import Atoms
from ase.io import read, write

from thermodefect.active.selection import select_above_threshold
from thermodefect.dynamics.nvt import run_nvt, trajectory_name
from thermodefect.dynamics.sanity import is_physical
from thermodefect.forcefield.ensemble import ForceFieldEnsemble
from thermodefect.forcefield.metrics import force_field_errors
from thermodefect.forcefield.training import ENERGY_KEY, FORCES_KEY, train_ensemble
from thermodefect.structures.defects import rattle
from thermodefect.core.rundir import RunDirectory
from thermodefect.core.files import atomic_write_json, replace_atomically

STAGE = "forcefield_al"
LabelFn = Callable[[list[Atoms]], list[Atoms]]


def _round_dir(run: RunDirectory, k: int) -> Path:
    return run.model_round("ff", k)


def _model_paths(run: RunDirectory, k: int) -> list[Path]:
    # model-K.model only (mace-torch also writes model-K_compiled.model)
    found = [p for p in _round_dir(run, k).glob("model-*.model") if p.stem.split("-", 1)[1].isdigit()]
    return sorted(found, key=lambda p: int(p.stem.split("-", 1)[1]))


def _read(path: Path) -> list[Atoms]:
    return list(read(str(path), index=":", format="extxyz")) if path.exists() and path.stat().st_size else []


def _write(path: Path, frames: list[Atoms]) -> None:
    replace_atomically(path, lambda tmp: write(str(tmp), frames, format="extxyz"))


def _clean(atoms: Atoms) -> Atoms:
    """Positions, cell, species and scalar info only (no calculator, no momenta)."""
    out = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    out.info = {k: v for k, v in atoms.info.items() if isinstance(v, (str, int, float))}
    return out


def _check_labels(labelled: list[Atoms], asked: int) -> list[Atoms]:
    from thermodefect.core.errors import UserInputError

    good = [a for a in labelled if ENERGY_KEY in a.info and FORCES_KEY in a.arrays]
    if asked and not good:
        raise UserInputError(f"the reference labelled none of {asked} structures; see data/failures.jsonl")
    return good


class ForceFieldActiveLearning:
    """The loop over rounds; ``run()`` executes or resumes it.

    ``settings`` is the full :class:`thermodefect.settings.Settings`;
    ``cells`` maps defect name -> relaxed/ideal defect cell (e.g. from
    :func:`thermodefect.structures.build_cells`); ``label_fn`` labels a list of
    structures (returns them with ``info["REF_energy"]`` eV and
    ``arrays["REF_forces"]`` eV/Å; failures may be dropped).
    """

    def __init__(self, settings, run: RunDirectory, cells: dict[str, Atoms], label_fn: LabelFn, progress: bool = True):
        self.settings = settings
        self.al = settings.forcefield_al
        self.run_dir = run
        self.cells = cells
        self.label_fn = label_fn
        self.progress = progress
        self.manifest = run.manifest

    # -- bookkeeping ---------------------------------------------------------
    def _done(self, item: str) -> bool:
        return item in self.manifest.items_done(STAGE)

    def _mark(self, item: str) -> None:
        self.manifest.record_items(STAGE, [item])

    @property
    def test_set_path(self) -> Path:
        return self.run_dir.results / "ff_test_set.extxyz"

    # -- steps ---------------------------------------------------------------
    def _initial_structures(self) -> list[Atoms]:
        lab = self.settings.labelling
        out = []
        for k, (name, cell) in enumerate(self.cells.items()):
            for copy in rattle(cell, lab.rattled_per_defect, lab.rattle_stdev_angstrom, self.settings.run.seed + 1000 * k):
                copy = _clean(copy)
                copy.info["defect"] = name
                copy.info["source"] = "rattled"
                out.append(copy)
        return out

    def _labels(self, k: int) -> list[Atoms]:
        path = _round_dir(self.run_dir, k) / "labels.extxyz"
        if not self._done(f"round-{k}/labels"):
            if k == 0:
                asked = self._initial_structures()
            else:
                pool = _read(_round_dir(self.run_dir, k - 1) / "pool.extxyz")
                picked = json.loads((_round_dir(self.run_dir, k - 1) / "selected.json").read_text())["indices"]
                asked = [_clean(pool[i]) for i in picked]
            labelled = _check_labels(self.label_fn(asked), len(asked))
            path.parent.mkdir(parents=True, exist_ok=True)
            _write(path, labelled)
            self._mark(f"round-{k}/labels")
        return _read(path)

    def _train(self, k: int) -> ForceFieldEnsemble:
        ff = self.settings.forcefield
        folder = _round_dir(self.run_dir, k)
        if not self._done(f"round-{k}/trained"):
            train = [a for j in range(k + 1) for a in _read(_round_dir(self.run_dir, j) / "labels.extxyz")]
            _write(folder / "train.extxyz", train)
            train_ensemble(ff, folder / "train.extxyz", folder, seed=self.settings.run.seed + 100 * k)
            self._mark(f"round-{k}/trained")
        return ForceFieldEnsemble(_model_paths(self.run_dir, k), device=ff.device, default_dtype=ff.default_dtype)

    def _md(self, ensemble: ForceFieldEnsemble, folder: Path, temperatures_k, steps: int, interval: int, seed: int) -> list[Atoms]:
        md = self.settings.md
        frames = []
        calculator = ensemble.calculator("first")
        for d, (name, cell) in enumerate(self.cells.items()):
            for t, temperature_k in enumerate(temperatures_k):
                path = folder / f"{trajectory_name(name, temperature_k)}.extxyz"
                start = _clean(cell)
                start.info["defect"] = name
                result = run_nvt(
                    start, calculator, temperature_k, md, seed=seed + 97 * d + t, trajectory_path=path, progress=self.progress,
                    production_steps=steps, equilibration_steps=0, sample_interval=interval,
                )
                if result.diverged:
                    import sys

                    print(f"warning: exploration MD {path.stem} stopped early, {result.diverged}", file=sys.stderr)
                frames += result.frames
        return frames

    def _shortest_bond(self) -> float:
        from ase.neighborlist import neighbor_list

        return min(float(neighbor_list("d", cell, 4.0).min()) for cell in self.cells.values() if len(cell) > 1)

    def _test_set(self, ensemble: ForceFieldEnsemble) -> list[Atoms]:
        if not self._done("test-set"):
            n = self.al.test_snapshots_per_defect
            if n > 0:
                interval = max(1, self.al.md_steps // n)
                frames = self._md(ensemble, self.run_dir.md / "ff_test", [self.al.test_temperature_k], interval * n, interval, self.settings.run.seed + 7)
                # The round-0 model drives this MD; frames where it let atoms
                # collapse are not a fair picture of the material at this
                # temperature, so they stay out of the test set.
                asked = [_clean(f) for f in frames if is_physical(f, self._shortest_bond())]
                for a in asked:
                    a.info["source"] = "test"
                _write(self.test_set_path, _check_labels(self.label_fn(asked), len(asked)))
            self._mark("test-set")
        return _read(self.test_set_path)

    def _evaluate(self, k: int, ensemble: ForceFieldEnsemble, test: list[Atoms], labels_used: int) -> dict:
        path = self.run_dir.results / f"ff_al_round-{k}.json"
        if not self._done(f"round-{k}/evaluated"):
            metrics = {"round": k, "labels_used": labels_used, "test": {}}
            if test:
                errors = force_field_errors(ensemble, test)
                atomic_write_json(self.run_dir.results / f"ff_parity_round-{k}.json", errors.pop("parity"))
                metrics["test"] = errors
            atomic_write_json(path, metrics)
            self._mark(f"round-{k}/evaluated")
        return json.loads(path.read_text())

    def _pool(self, k: int, ensemble: ForceFieldEnsemble) -> list[Atoms]:
        folder = _round_dir(self.run_dir, k)
        if not self._done(f"round-{k}/pool"):
            frames = self._md(
                ensemble, self.run_dir.md / "ff_al" / f"round-{k}", self.al.exploration_temperatures_k,
                self.al.md_steps, self.al.md_sample_interval, self.settings.run.seed + 1000 * (k + 1),
            )
            uncertainty = ensemble.force_uncertainty(frames)
            pool = []
            for frame, u_max, u_mean in zip(frames, uncertainty["max"], uncertainty["mean"]):
                frame = _clean(frame)
                frame.info.update(max_force_uncertainty_ev_per_angstrom=float(u_max), mean_force_uncertainty_ev_per_angstrom=float(u_mean), source=f"al-round-{k}")
                pool.append(frame)
            _write(folder / "pool.extxyz", pool)
            self._mark(f"round-{k}/pool")
        return _read(folder / "pool.extxyz")

    def _select(self, k: int, pool: list[Atoms]) -> list[int]:
        path = _round_dir(self.run_dir, k) / "selected.json"
        if not self._done(f"round-{k}/selected"):
            u = np.array([a.info["max_force_uncertainty_ev_per_angstrom"] for a in pool])
            picked = select_above_threshold(u, self.al.threshold_ev_per_angstrom, self.al.max_selected_per_round)
            atomic_write_json(path, {
                "indices": picked,
                "threshold_ev_per_angstrom": self.al.threshold_ev_per_angstrom,
                "pool_size": len(pool),
                "pool_max_uncertainty_ev_per_angstrom": float(u.max()) if len(u) else 0.0,
                "pool_mean_uncertainty_ev_per_angstrom": float(u.mean()) if len(u) else 0.0,
                "n_above_threshold": int((u > self.al.threshold_ev_per_angstrom).sum()),
            })
            self._mark(f"round-{k}/selected")
        return json.loads(path.read_text())["indices"]

    # -- the loop ------------------------------------------------------------
    def run(self) -> dict:
        """Run or resume; returns ``{"rounds", "converged", "final_models", "metrics"}``."""
        self.manifest.start(STAGE)
        metrics, labels_used, converged = [], 0, False
        test: list[Atoms] | None = None
        for k in range(self.al.max_rounds):
            labels_used += len(self._labels(k))
            ensemble = self._train(k)
            if test is None:
                test = self._test_set(ensemble)
            round_metrics = self._evaluate(k, ensemble, test, labels_used)
            if k == self.al.max_rounds - 1:
                metrics.append(round_metrics)
                break
            pool = self._pool(k, ensemble)
            picked = self._select(k, pool)
            round_metrics["selected"] = len(picked)
            metrics.append(round_metrics)
            self.manifest.update(STAGE, last_round=k, labels_used=labels_used, last_selected=len(picked))
            if not picked:
                converged = True
                break
        summary = {
            "rounds": len(metrics),
            "converged": converged,
            # Relative to the run directory, so a moved run directory still works.
            "final_models": [str(p.relative_to(self.run_dir.root)) for p in _model_paths(self.run_dir, len(metrics) - 1)],
            "metrics": metrics,
        }
        atomic_write_json(self.run_dir.results / "ff_al_summary.json", summary)
        self._plots(metrics)
        self.manifest.complete(STAGE, rounds=len(metrics), converged=converged, labels_used=labels_used, final_models=summary["final_models"])
        return summary

    def _plots(self, metrics: list[dict]) -> None:
        from thermodefect.forcefield.plots import plot_force_parity, plot_learning_curve

        figures = self.run_dir.report / "figures"
        if metrics and all(m["test"] for m in metrics):
            plot_learning_curve(metrics, figures / "ff_learning_curve.png")
            parity = self.run_dir.results / f"ff_parity_round-{metrics[-1]['round']}.json"
            plot_force_parity(json.loads(parity.read_text()), figures / "ff_parity.png")


def run_forcefield_active_learning(settings, run: RunDirectory, cells: dict[str, Atoms], label_fn: LabelFn, progress: bool = True) -> dict:
    """Run or resume the force-field active-learning loop (see the module docstring)."""
    return ForceFieldActiveLearning(settings, run, cells, label_fn, progress).run()


def reference_label_fn(settings, run: RunDirectory, progress: bool = True) -> LabelFn:
    """``label_fn`` backed by the configured forces reference and the run's dataset.

    Labels go to ``data/forces.extxyz`` (structures already there are not
    recomputed); returns the labelled copies of the structures that succeeded.
    """
    from thermodefect.data.forces import KEY_INFO, ForcesDataset
    from thermodefect.core.keys import structure_key
    from thermodefect.reference.labelling import label_structures

    def label(structures: list[Atoms]) -> list[Atoms]:
        from thermodefect.core.executors import get_executor

        with get_executor(settings.compute, run.root) as executor:
            label_structures(structures, settings.reference.forces, run, what=("forces",), progress=progress, executor=executor)
        by_key = {a.info[KEY_INFO]: a for a in ForcesDataset(run.forces_dataset).read()}
        out = []
        for atoms in structures:
            labelled = by_key.get(structure_key(atoms))
            if labelled is not None:
                labelled = labelled.copy()
                labelled.info.update({k: v for k, v in atoms.info.items() if isinstance(v, (str, int, float))})
                out.append(labelled)
        return out

    return label


def final_models(run: RunDirectory) -> list[Path]:
    """Model files of the last round of a finished loop (from ``results/ff_al_summary.json``)."""
    from thermodefect.core.errors import UserInputError

    summary = run.results / "ff_al_summary.json"
    if not summary.exists():
        raise UserInputError(f"{summary}: no force-field active-learning result yet; run `thermodefect ff al` first or pass --model")
    return [run.root / p for p in json.loads(summary.read_text())["final_models"]]
