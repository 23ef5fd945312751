"""The force-field active-learning loop wired to a run: its folders, the reference and mace-torch."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ase import Atoms

from thermodefect.active.forcefield import ForceFieldALPaths, LabelFn, MaceHooks, run_forcefield_active_learning
from thermodefect.core.results import ResultsFileError, read_results_json, repair_hint
from thermodefect.core.rundir import RunDirectory


def forcefield_paths(run: RunDirectory) -> ForceFieldALPaths:
    return ForceFieldALPaths(root=run.root, models=run.forcefield_models, results=run.results, md=run.md)


def reference_label_fn(settings, run: RunDirectory, progress: bool = True) -> LabelFn:
    """``label_fn`` backed by the configured forces reference and the run's dataset.

    Labels go to ``data/forces.extxyz`` (structures already there are not
    recomputed); returns the labelled copies of the structures that succeeded.
    """
    from thermodefect.core.executors import get_executor
    from thermodefect.core.keys import structure_key
    from thermodefect.data.forces import KEY_INFO, ForcesDataset
    from thermodefect.reference.labelling import label_structures

    def label(structures: list[Atoms]) -> list[Atoms]:
        with get_executor(settings.compute, run.parsl_logs) as executor:
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


def run_forcefield_al(settings, run: RunDirectory, cells: dict[str, Atoms], label_fn: LabelFn | None = None,
                      log: Callable[[str], None] = print, progress: bool = True) -> dict:
    """Run or resume the loop in ``run`` (labels from the configured reference unless ``label_fn`` is given)."""
    hooks = MaceHooks(label_fn or reference_label_fn(settings, run, progress), settings.forcefield)
    return run_forcefield_active_learning(settings, cells, hooks, forcefield_paths(run), run.manifest, log, progress)


def final_models(run: RunDirectory) -> list[Path]:
    """Model files of the last round of a finished loop (from ``results/ff_al_summary.json``).

    Each must lie in the run directory and be a file the manifest names with
    unchanged bytes (:meth:`~thermodefect.core.rundir.Manifest.verified`).
    """
    summary = run.forcefield_al_summary
    names = read_results_json(summary, "forcefield_al", required=("final_models",))["final_models"]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ResultsFileError(f"{summary}: 'final_models' must be a non-empty list of paths; {repair_hint('forcefield_al')}")
    manifest = run.manifest
    return [manifest.verified(run.root / name) for name in names]  # an absolute name stays absolute (and is refused)
