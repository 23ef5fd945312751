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
    from thermodefect.core.keys import scalar_info, structure_key
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
                labelled.info.update(scalar_info(atoms.info))
                out.append(labelled)
        return out

    return label


def isolated_energies(settings, run: RunDirectory, symbols) -> dict[str, float]:
    """The forces reference's isolated-atom energies (eV), computed once per run into ``data/isolated_atoms.json``.

    The file names the reference and its options; another reference recomputes.
    """
    from thermodefect.core.files import atomic_write_json
    from thermodefect.reference.isolated import isolated_atom_energies
    from thermodefect.reference.registry import get_reference

    reference = settings.reference.forces
    identity = {"reference": reference.name, "options": dict(reference.options)}
    path = run.data / "isolated_atoms.json"
    stored = read_results_json(path, "forcefield_al") if path.is_file() else {}
    energies = dict(stored.get("energies_ev", {})) if stored.get("identity") == identity else {}
    missing = [s for s in symbols if s not in energies]
    if missing:
        energies.update(isolated_atom_energies(get_reference(reference), missing))
        run.data.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, {"identity": identity, "energies_ev": energies})
    return {s: float(energies[s]) for s in symbols}


def run_forcefield_al(settings, run: RunDirectory, cells: dict[str, Atoms], label_fn: LabelFn | None = None,
                      log: Callable[[str], None] = print, progress: bool = True) -> dict:
    """Run or resume the loop in ``run`` (labels from the configured reference unless ``label_fn`` is given)."""
    from thermodefect.core.executors import member_processes

    symbols = sorted({s for cell in cells.values() for s in cell.get_chemical_symbols()})
    hooks = MaceHooks(label_fn or reference_label_fn(settings, run, progress), settings.forcefield,
                      isolated_energies=lambda: isolated_energies(settings, run, symbols),
                      workers=member_processes(settings.forcefield.ensemble_size,
                                               settings.compute.workers if settings.compute.engine == "local" else 1))
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
