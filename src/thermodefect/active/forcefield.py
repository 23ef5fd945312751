"""Active learning of the MACE force field (stage ``forcefield_al``), as published.

Round 0 trains an ensemble on randomly displaced defect cells. Every round K:

1. labels   — round 0: the displaced cells; round K > 0: the configurations
              selected in round K-1, labelled by ``hooks.label``. Saved to
              ``models/ff/round-K/labels.extxyz`` before anything else.
2. train    — ``hooks.train``: an ensemble on all labels so far (``train.extxyz``),
              from scratch, or (``warm_start_epochs``, round K > 0) each
              member continued from its round K-1 weights.
3. evaluate — errors on a held-out test set (MD snapshots at
              ``test_temperature_k`` driven by the round-0 model, labelled by
              the reference once): ``results/ff_al_round-K.json``.
4. explore  — NVT MD per defect with model 0 at each exploration
              temperature (``temperature_schedule = "ramp"``: round K at the
              K-th only), frames every ``md_sample_interval`` steps form the
              pool; each frame's ensemble force uncertainty (max over atoms of
              the per-atom std norm) is stored in ``pool.extxyz``.
5. select   — pool frames above ``threshold_ev_per_angstrom``, at most
              ``max_selected_per_round``: with ``selection = "balanced"`` the
              defects take turns (most uncertain first) and frames of one
              trajectory are ``min_selection_separation_steps`` apart; with
              ``"uncertainty"`` the most uncertain. Frames with collapsed
              atoms (:func:`~thermodefect.dynamics.sanity.is_physical`) are
              never selected.

The loop stops when a round selects nothing (converged) or after
``max_rounds`` trained rounds. The final model is then tested as published
(``final_test``): its own MD at ``test_temperature_k``, labelled by the
reference (``results/ff_al_final_test.json``). Each model file is recorded in the manifest
(SHA-256) as soon as it is written, and the loop loads only the files the
manifest names, after checking their bytes. Each step is an item of the manifest stage
``forcefield_al`` (``round-K/labels``, ``round-K/trained``, …), so a killed
loop resumes at the step it was in and never relabels.

The loop owns selection, bookkeeping and resume, as the Hamiltonian loop
does; labelling and training come in through :class:`ForceFieldALHooks`, the
folders through :class:`ForceFieldALPaths`, messages go to ``log``. It writes
JSON only (the report draws the figures from it), and every random stream
has its own seed from :func:`~thermodefect.core.seeds.derived_seed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
from ase import Atoms
from ase.io import read, write

from thermodefect.active.selection import select_above_threshold, select_balanced
from thermodefect.core import keys
from thermodefect.core.keys import scalar_info
from thermodefect.core.files import atomic_write_json, replace_atomically
from thermodefect.core.results import read_results_json
from thermodefect.core.seeds import derived_seed
from thermodefect.dynamics.nvt import trajectory_name
from thermodefect.dynamics.sanity import is_physical
from thermodefect.forcefield.ensemble import ForceFieldEnsemble
from thermodefect.forcefield.metrics import force_field_errors
from thermodefect.forcefield.training import ENERGY_KEY, FORCES_KEY, train_ensemble
from thermodefect.structures.defects import rattle

STAGE = "forcefield_al"
LabelFn = Callable[[list[Atoms]], list[Atoms]]


class ForceFieldALHooks(Protocol):
    """The work the loop delegates."""

    def label(self, structures: list[Atoms]) -> list[Atoms]:
        """Label structures: copies with ``info["REF_energy"]`` (eV) and ``arrays["REF_forces"]`` (eV/Å); failures may be dropped."""

    def train(self, train_file: Path, round_dir: Path, seed: int, keep: Callable[[Path], bool],
              trained: Callable[[Path], None], start_from: list[Path] | None = None, start_epochs: int | None = None) -> None:
        """Train (or resume) the ensemble of a round on ``train_file``, writing ``round_dir/model-K.model``.

        A model file for which ``keep`` says yes is kept (resume); every model
        written is passed to ``trained`` at once. With ``start_from`` member K
        continues from ``start_from[K]`` for ``start_epochs`` epochs
        (``forcefield_al.warm_start_epochs``).
        """


class MaceHooks:
    """Hooks that label with a ``label_fn`` and train with mace-torch's own trainer.

    ``isolated_energies`` gives the reference's isolated-atom energies
    (symbol: eV) when ``forcefield.e0s = "isolated"`` asks for them;
    ``workers`` ensemble members train at once, one process each.
    """

    def __init__(self, label_fn: LabelFn, forcefield_settings,
                 isolated_energies: Callable[[], dict[str, float]] | None = None, workers: int = 1):
        self.label_fn, self.forcefield = label_fn, forcefield_settings
        self.isolated_energies, self.workers = isolated_energies, workers

    def label(self, structures: list[Atoms]) -> list[Atoms]:
        return self.label_fn(structures)

    def train(self, train_file: Path, round_dir: Path, seed: int, keep: Callable[[Path], bool],
              trained: Callable[[Path], None], start_from: list[Path] | None = None, start_epochs: int | None = None) -> None:
        isolated = self.isolated_energies() if self.forcefield.e0s == "isolated" and self.isolated_energies else None
        train_ensemble(self.forcefield, train_file, round_dir, seed=seed, keep=keep, trained=trained,
                       isolated_energies_ev=isolated, workers=self.workers,
                       start_from=start_from, start_epochs=start_epochs)


@dataclass(frozen=True)
class ForceFieldALPaths:
    """Where the loop keeps its files; paths in the summary are relative to ``root``."""

    root: Path  # the run directory
    models: Path  # models/ff: round-K/{labels,train,pool}.extxyz, selected.json, model-K.model
    results: Path  # ff_al_round-K.json, ff_parity_round-K.json, ff_test_set.extxyz, ff_al_summary.json
    md: Path  # exploration and test-set MD trajectories

    def round_dir(self, k: int) -> Path:
        return self.models / f"round-{k}"

    @property
    def test_set(self) -> Path:
        return self.results / "ff_test_set.extxyz"

    @property
    def summary(self) -> Path:
        return self.results / "ff_al_summary.json"


def _quiet(message: str) -> None:
    pass


def _read(path: Path) -> list[Atoms]:
    return list(read(str(path), index=":", format="extxyz")) if path.exists() and path.stat().st_size else []


def _write(path: Path, frames: list[Atoms]) -> None:
    replace_atomically(path, lambda tmp: write(str(tmp), frames, format="extxyz"))


def _clean(atoms: Atoms) -> Atoms:
    """Positions, cell, species and scalar info only (no calculator, no momenta)."""
    out = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    out.info = scalar_info(atoms.info)
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
    :func:`thermodefect.structures.build_cells`); ``hooks`` label and train
    (:class:`ForceFieldALHooks`); ``paths`` say where files go; ``manifest``
    records the finished steps; ``log`` takes one-line messages.
    """

    def __init__(self, settings, cells: dict[str, Atoms], hooks: ForceFieldALHooks, paths: ForceFieldALPaths, manifest,
                 log: Callable[[str], None] = _quiet, progress: bool = True):
        self.settings = settings
        self.al = settings.forcefield_al
        self.cells = cells
        self.hooks = hooks
        self.paths = paths
        self.manifest = manifest  # a thermodefect.core.rundir.Manifest: items done per stage
        self.log = log
        self.progress = progress

    def _seed(self, *labels) -> int:
        return derived_seed(self.settings.run.seed, "forcefield-al", *labels)

    # -- bookkeeping ---------------------------------------------------------
    def _done(self, item: str) -> bool:
        return item in self.manifest.items_done(STAGE)

    def _mark(self, item: str) -> None:
        self.manifest.record_items(STAGE, [item])

    @property
    def test_set_path(self) -> Path:
        return self.paths.test_set

    # -- steps ---------------------------------------------------------------
    def _initial_structures(self) -> list[Atoms]:
        lab = self.settings.labelling
        out = []
        for name, cell in self.cells.items():
            for copy in rattle(cell, lab.rattled_per_defect, lab.rattle_stdev_angstrom, self._seed("rattle", name)):
                copy = _clean(copy)
                copy.info[keys.DEFECT] = name
                copy.info["source"] = "rattled"
                out.append(copy)
        return out

    def _labels(self, k: int) -> list[Atoms]:
        path = self.paths.round_dir(k) / "labels.extxyz"
        if not self._done(f"round-{k}/labels"):
            if k == 0:
                asked = self._initial_structures()
            else:
                pool = _read(self.paths.round_dir(k - 1) / "pool.extxyz")
                picked = read_results_json(self.paths.round_dir(k - 1) / "selected.json", STAGE, required=("indices",))["indices"]
                asked = [_clean(pool[i]) for i in picked]
            labelled = _check_labels(self.hooks.label(asked), len(asked))
            path.parent.mkdir(parents=True, exist_ok=True)
            _write(path, labelled)
            self._mark(f"round-{k}/labels")
        return _read(path)

    def model_paths(self, k: int) -> list[Path]:
        """Round ``k``'s ``model-N.model`` files, in N order: those the manifest names, bytes checked."""
        folder = self.paths.round_dir(k).resolve()
        recorded = [p for p in self.manifest.recorded_files(folder)
                    if p.parent.resolve() == folder and p.suffix == ".model" and p.stem.split("-", 1)[-1].isdigit()]
        recorded.sort(key=lambda p: int(p.stem.split("-", 1)[1]))
        return [self.manifest.verified(p) for p in recorded]

    def _train(self, k: int) -> ForceFieldEnsemble:
        ff = self.settings.forcefield
        folder = self.paths.round_dir(k)
        if not self._done(f"round-{k}/trained"):
            train = [a for j in range(k + 1) for a in _read(self.paths.round_dir(j) / "labels.extxyz")]
            _write(folder / "train.extxyz", train)
            start_from = self.model_paths(k - 1) if k > 0 and self.al.warm_start_epochs else None
            self.hooks.train(folder / "train.extxyz", folder, self._seed("train", k), keep=self.manifest.holds,
                             trained=lambda path: self.manifest.record_files([path]), start_from=start_from,
                             start_epochs=self.al.warm_start_epochs)
            self._mark(f"round-{k}/trained")
        return ForceFieldEnsemble(self.model_paths(k), device=ff.device, default_dtype=ff.default_dtype, baseline=ff.baseline)

    def _md(self, ensemble: ForceFieldEnsemble, folder: Path, temperatures_k, steps: int, interval: int, role: tuple) -> list[Atoms]:
        """Exploration MD of every cell at every temperature; ``role`` names the seed stream (with cell and T).

        The trajectories run ``compute.workers`` at a time (local engine), one process each."""
        from thermodefect.active.parallel_md import ForceFieldFiles, MdTask, run_md_tasks
        from thermodefect.dynamics.nvt import read_frames

        ff, compute = self.settings.forcefield, self.settings.compute
        tasks = []
        for name, cell in self.cells.items():
            for temperature_k in temperatures_k:
                start = _clean(cell)
                start.info[keys.DEFECT] = name
                tasks.append(MdTask(start, temperature_k, self.settings.md, self._seed(*role, name, f"{temperature_k:g}K"),
                                    folder / f"{trajectory_name(name, temperature_k)}.extxyz",
                                    production_steps=steps, equilibration_steps=0, sample_interval=interval))
        workers = compute.workers if compute.engine == "local" else 1
        files = ForceFieldFiles(tuple(ensemble.model_paths), ff.device, ff.default_dtype, ff.baseline)
        in_process = ensemble.calculator("first") if min(workers, len(tasks)) <= 1 else None
        for task, outcome in run_md_tasks(files, tasks, workers, calculator=in_process, progress=self.progress):
            if outcome.diverged:
                self.log(f"warning: exploration MD {task.path.stem} stopped early, {outcome.diverged}")
        return [frame for task in tasks for frame in read_frames(task.path)]

    def _shortest_bond(self) -> float:
        from ase.neighborlist import neighbor_list

        return min(float(neighbor_list("d", cell, 4.0).min()) for cell in self.cells.values() if len(cell) > 1)

    def _test_md(self, ensemble: ForceFieldEnsemble, folder: Path, role: str) -> tuple[list[Atoms], int]:
        """Physical frames of MD at ``test_temperature_k`` (``test_snapshots_per_defect`` per defect) and the number collapsed."""
        n = self.al.test_snapshots_per_defect
        interval = max(1, self.al.md_steps // n)
        frames = self._md(ensemble, folder, [self.al.test_temperature_k], interval * n, interval, (role,))
        # Frames where the driving model let atoms collapse are no fair picture of
        # the material at this temperature: they stay out of the test set.
        bond = self._shortest_bond()
        asked = [_clean(f) for f in frames if is_physical(f, bond)]
        for a in asked:
            a.info["source"] = role
        return asked, len(frames) - len(asked)

    def _test_set(self, ensemble: ForceFieldEnsemble) -> list[Atoms]:
        if not self._done("test-set"):
            if self.al.test_snapshots_per_defect > 0:
                asked, collapsed = self._test_md(ensemble, self.paths.md / "ff_test", "test-md")
                if collapsed:
                    self.log(f"warning: {collapsed} test-set MD frames of the round-0 model collapsed; left out")
                _write(self.test_set_path, _check_labels(self.hooks.label(asked), len(asked)))
            self._mark("test-set")
        return _read(self.test_set_path)

    def _final_test(self, k: int, ensemble: ForceFieldEnsemble) -> dict | None:
        """The published test of the final model: its own MD at ``test_temperature_k``, labelled by the reference."""
        if not self.al.final_test or self.al.test_snapshots_per_defect == 0:
            return None
        path = self.paths.results / "ff_al_final_test.json"
        frames_path = self.paths.results / "ff_final_test_set.extxyz"
        if not self._done("final-test/labels"):
            asked, collapsed = self._test_md(ensemble, self.paths.md / "ff_final_test", "final-test-md")
            _write(frames_path, _check_labels(self.hooks.label(asked), len(asked)) if asked else [])
            atomic_write_json(self.paths.results / "ff_final_test_md.json", {"n_collapsed": collapsed})
            self._mark("final-test/labels")
        if not self._done("final-test/evaluated"):
            labelled = _read(frames_path)
            collapsed = read_results_json(self.paths.results / "ff_final_test_md.json", STAGE)["n_collapsed"]
            result = {"round": k, "temperature_k": self.al.test_temperature_k, "n_collapsed": collapsed, "test": {}}
            if labelled:
                errors = force_field_errors(ensemble, labelled)
                atomic_write_json(self.paths.results / "ff_parity_final.json", errors.pop("parity"))
                result["test"] = errors
            atomic_write_json(path, result)
            self._mark("final-test/evaluated")
        return read_results_json(path, STAGE, required=("test",))

    def _evaluate(self, k: int, ensemble: ForceFieldEnsemble, test: list[Atoms], labels_used: int) -> dict:
        path = self.paths.results / f"ff_al_round-{k}.json"
        if not self._done(f"round-{k}/evaluated"):
            metrics = {"round": k, "labels_used": labels_used, "test": {}}
            if test:
                errors = force_field_errors(ensemble, test)
                atomic_write_json(self.paths.results / f"ff_parity_round-{k}.json", errors.pop("parity"))
                metrics["test"] = errors
            atomic_write_json(path, metrics)
            self._mark(f"round-{k}/evaluated")
        return read_results_json(path, STAGE, required=("test",))

    def exploration_temperatures(self, k: int) -> list[float]:
        """Temperatures (K) of round ``k``'s exploration MD (``forcefield_al.temperature_schedule``)."""
        temperatures = list(self.al.exploration_temperatures_k)
        if self.al.temperature_schedule == "ramp":
            return [temperatures[min(k, len(temperatures) - 1)]]
        return temperatures

    def _pool(self, k: int, ensemble: ForceFieldEnsemble) -> list[Atoms]:
        folder = self.paths.round_dir(k)
        if not self._done(f"round-{k}/pool"):
            frames = self._md(
                ensemble, self.paths.md / "ff_al" / f"round-{k}", self.exploration_temperatures(k),
                self.al.md_steps, self.al.md_sample_interval, ("pool-md", k),
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
        path = self.paths.round_dir(k) / "selected.json"
        if not self._done(f"round-{k}/selected"):
            u = np.array([a.info["max_force_uncertainty_ev_per_angstrom"] for a in pool])
            # Frames where the model let atoms collapse are the most uncertain of all, but no
            # picture of the material (and labelling refuses them): never selected.
            bond = self._shortest_bond() if pool else 0.0
            collapsed = np.array([not is_physical(a, bond) for a in pool], dtype=bool)
            if collapsed.any():
                self.log(f"round {k}: {int(collapsed.sum())} of {len(pool)} exploration frames collapsed; not selected")
            candidates = np.where(collapsed, -np.inf, u)
            defects = [str(a.info.get(keys.DEFECT, "unknown")) for a in pool]
            if self.al.selection == "balanced":
                picked = select_balanced(
                    candidates, defects, self.al.threshold_ev_per_angstrom, self.al.max_selected_per_round,
                    trajectories=[(d, a.info.get("target_temperature_k")) for d, a in zip(defects, pool)],
                    steps=[int(a.info.get("md_step", 0)) for a in pool],
                    min_separation=self.al.min_selection_separation_steps,
                )
            else:
                picked = select_above_threshold(candidates, self.al.threshold_ev_per_angstrom, self.al.max_selected_per_round)
            atomic_write_json(path, {
                "indices": picked,
                "selection": self.al.selection,
                "per_defect": {d: sum(defects[i] == d for i in picked) for d in dict.fromkeys(defects)},
                "threshold_ev_per_angstrom": self.al.threshold_ev_per_angstrom,
                "pool_size": len(pool),
                "pool_max_uncertainty_ev_per_angstrom": float(u.max()) if len(u) else 0.0,
                "pool_mean_uncertainty_ev_per_angstrom": float(u.mean()) if len(u) else 0.0,
                "n_above_threshold": int((u > self.al.threshold_ev_per_angstrom).sum()),
                "n_collapsed": int(collapsed.sum()),
            })
            self._mark(f"round-{k}/selected")
        return read_results_json(path, STAGE, required=("indices",))["indices"]

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
        final_test = self._final_test(len(metrics) - 1, ensemble)
        summary = {
            "rounds": len(metrics),
            "converged": converged,
            "final_test": final_test,
            # Relative to the run directory, so a moved run directory still works.
            "final_models": [str(p.relative_to(self.paths.root)) for p in self.model_paths(len(metrics) - 1)],
            "metrics": metrics,
        }
        atomic_write_json(self.paths.summary, summary)
        self.manifest.complete(STAGE, rounds=len(metrics), converged=converged, labels_used=labels_used, final_models=summary["final_models"])
        return summary

def run_forcefield_active_learning(settings, cells: dict[str, Atoms], hooks: ForceFieldALHooks, paths: ForceFieldALPaths,
                                   manifest, log: Callable[[str], None] = _quiet, progress: bool = True) -> dict:
    """Run or resume the force-field active-learning loop (see the module docstring)."""
    return ForceFieldActiveLearning(settings, cells, hooks, paths, manifest, log, progress).run()
