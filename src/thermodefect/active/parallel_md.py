"""NVT trajectories of one force field in worker processes (MD of the loop and of production).

A :class:`MdTask` names the model files rather than holding a calculator, so
it can be sent to a worker; each worker builds the calculator once and keeps
it for the next task of the same models. With one worker the tasks run in
this process with the given calculator. Results come back in completion
order; a failing task raises its error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ase import Atoms


@dataclass(frozen=True)
class ForceFieldFiles:
    """The MACE files of an ensemble and how to run them (:class:`~thermodefect.forcefield.ensemble.ForceFieldEnsemble`)."""

    paths: tuple[Path, ...]
    device: str = "cpu"
    default_dtype: str = "float32"
    baseline: str = "none"

    def calculator(self):
        """Model 0's calculator (the one MD runs with; the spread is evaluated on the sampled frames)."""
        from thermodefect.forcefield.ensemble import ForceFieldEnsemble

        return ForceFieldEnsemble(list(self.paths), self.device, self.default_dtype, self.baseline).calculator("first")


@dataclass(frozen=True)
class MdTask:
    """One trajectory: :func:`~thermodefect.dynamics.nvt.run_nvt` arguments; ``None`` keeps ``md``'s step counts."""

    start: Atoms
    temperature_k: float
    md: Any  # thermodefect.settings.MDSettings
    seed: int
    path: Path
    production_steps: int | None = None
    equilibration_steps: int | None = None
    sample_interval: int | None = None


@dataclass(frozen=True)
class MdOutcome:
    frames: int
    diverged: str | None


_WORKER_CALCULATOR: dict = {}  # in a worker process: the calculator of the files it was last given


def _run(task: MdTask, calculator, progress: bool) -> MdOutcome:
    from thermodefect.dynamics.nvt import run_nvt

    result = run_nvt(task.start, calculator, task.temperature_k, task.md, seed=task.seed, trajectory_path=task.path,
                     progress=progress, production_steps=task.production_steps,
                     equilibration_steps=task.equilibration_steps, sample_interval=task.sample_interval)
    return MdOutcome(len(result.frames), result.diverged)


def _in_worker(item: tuple[ForceFieldFiles, MdTask]) -> MdOutcome:
    files, task = item
    if files not in _WORKER_CALCULATOR:
        _WORKER_CALCULATOR.clear()
        _WORKER_CALCULATOR[files] = files.calculator()
    return _run(task, _WORKER_CALCULATOR[files], progress=False)


def run_md_tasks(files: ForceFieldFiles, tasks: list[MdTask], workers: int = 1, calculator=None,
                 progress: bool = True) -> Iterator[tuple[MdTask, MdOutcome]]:
    """Run ``tasks``; ``workers > 1``: that many at once, one process of one thread each.

    ``calculator`` (in-process runs only) reuses one the caller already has;
    without it the first in-process task builds it from ``files``.
    """
    from thermodefect.core.executors import LocalExecutor

    workers = max(1, min(workers, len(tasks)))
    if workers == 1:
        calculator = calculator if calculator is not None else (files.calculator() if tasks else None)
        for task in tasks:
            yield task, _run(task, calculator, progress)
        return
    with LocalExecutor(workers) as executor:
        for (_, task), outcome in executor.map(_in_worker, [(files, task) for task in tasks]):
            if isinstance(outcome, BaseException):
                raise outcome
            yield task, outcome
