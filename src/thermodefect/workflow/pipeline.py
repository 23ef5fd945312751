"""The end-to-end pipeline: an ordered list of resumable stages.

Each stage is a function ``stage(ctx) -> dict`` registered with
:func:`stage`; it reads what earlier stages wrote to the run directory and
writes its own outputs there. The runner skips stages the manifest marks
done, marks a stage running before it starts (so a killed stage resumes,
using the work items it recorded) and done, with the stage's headline
numbers, when it returns.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from thermodefect.settings import Settings, settings_to_toml
from thermodefect.workflow.rundir import Manifest, RunDirectory

StageFunction = Callable[["PipelineContext"], dict]


@dataclass
class PipelineContext:
    """What every stage gets: settings, run directory, manifest, logging."""

    settings: Settings
    run: RunDirectory
    manifest: Manifest
    log: Callable[[str], None]
    # Objects a stage hands to later stages within one process (never relied
    # upon across a resume: stages reload from the run directory when absent).
    cache: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    name: str
    title: str
    function: StageFunction


STAGES: list[Stage] = []


def stage(name: str, title: str) -> Callable[[StageFunction], StageFunction]:
    """Register a pipeline stage; stages run in registration order."""

    def decorate(fn: StageFunction) -> StageFunction:
        if any(s.name == name for s in STAGES):
            raise ValueError(f"stage {name!r} registered twice")
        STAGES.append(Stage(name, title, fn))
        return fn

    return decorate


def _stderr_log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def open_run(settings: Settings) -> RunDirectory:
    """Create or reopen the run directory of a config."""
    return RunDirectory.create(settings.run.directory, settings_to_toml(settings))


def run_pipeline(
    settings: Settings,
    only: list[str] | None = None,
    until: str | None = None,
    log: Callable[[str], None] = _stderr_log,
) -> RunDirectory:
    """Run every stage not yet done (or just ``only``), in order.

    ``until`` stops after the named stage. Returns the run directory.
    """
    from thermodefect.workflow import stages as _stages  # noqa: F401  registers the stages
    from thermodefect._compat import configure_cpu_threads

    configure_cpu_threads()
    _set_torch_threads(settings.compute.torch_threads)
    run = open_run(settings)
    ctx = PipelineContext(settings=settings, run=run, manifest=run.manifest, log=log)
    names = [s.name for s in STAGES]
    for name in (only or []) + ([until] if until else []):
        if name not in names:
            from thermodefect.errors import UserInputError

            raise UserInputError(f"unknown stage {name!r}; stages are: {', '.join(names)}")
    t_start = time.perf_counter()
    for st in STAGES:
        if only and st.name not in only:
            continue
        if ctx.manifest.is_done(st.name) and not only:
            log(f"{st.title}: done (skipped)")
        else:
            resumed = ctx.manifest.status(st.name) == "running"
            log(f"{st.title}: {'resuming' if resumed else 'starting'}")
            ctx.manifest.start(st.name)
            t0 = time.perf_counter()
            info = st.function(ctx) or {}
            info["wall_time_s"] = round(time.perf_counter() - t0, 2) + ctx.manifest.info(st.name).get("wall_time_s", 0.0) * resumed
            ctx.manifest.complete(st.name, **info)
            log(f"{st.title}: done in {time.perf_counter() - t0:.1f} s")
        if until and st.name == until:
            break
    log(f"pipeline finished in {time.perf_counter() - t_start:.1f} s; report: {run.report / 'index.html'}")
    return run


def _set_torch_threads(n: int) -> None:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    torch.set_num_threads(n)


def stage_status(run_dir: Path) -> list[dict[str, Any]]:
    """Rows of (stage, status, headline info) for ``thermodefect status``."""
    from thermodefect.workflow import stages as _stages  # noqa: F401

    run = RunDirectory(run_dir)
    manifest = run.manifest
    rows = []
    for st in STAGES:
        rows.append({"stage": st.name, "title": st.title, "status": manifest.status(st.name), "info": manifest.info(st.name)})
    return rows
