"""The end-to-end pipeline: an ordered list of resumable stages.

Each stage is a function ``stage(ctx) -> dict`` listed in
:mod:`thermodefect.workflow.stages`; it reads what earlier stages wrote to the run directory and
writes its own outputs there. The runner skips stages the manifest marks
done, marks a stage running before it starts (so a killed stage resumes,
using the work items it recorded) and done, with the stage's headline
numbers, when it returns. A stage that raises is marked failed with a
one-line reason (``thermodefect status`` shows it) and the error is raised
again; an interrupted one (Ctrl-C) stays running, so the next run resumes it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable

from thermodefect.core.cpu import CpuMeter, core_count
from thermodefect.core.errors import UserInputError
from thermodefect.core.rundir import RunDirectory
from thermodefect.settings import Settings, settings_to_toml
from thermodefect.workflow.context import PipelineContext
from thermodefect.workflow.preflight import preflight
from thermodefect.workflow.stages import STAGE_NAMES, STAGES


def _stderr_log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def open_run(settings: Settings, needs: tuple[str, ...] = ("forces", "hamiltonian")) -> RunDirectory:
    """Create or reopen the run directory of a config, after its references and devices resolve (nothing created before).

    ``needs``: the roles whose reference must provide its property (see :func:`~thermodefect.workflow.preflight.preflight`).
    """
    preflight(settings, needs)
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
    from thermodefect.core.compat import configure_cpu_threads

    configure_cpu_threads()
    _set_torch_threads(settings.compute.torch_threads)
    for name in (only or []) + ([until] if until else []):  # before the run directory is created or touched
        if name not in STAGE_NAMES:
            raise UserInputError(f"unknown stage {name!r}; stages are: {', '.join(STAGE_NAMES)}")
    run = open_run(settings)
    ctx = PipelineContext(settings=settings, run=run, manifest=run.manifest, log=log)
    t_start = time.perf_counter()
    for st in STAGES:
        if only and st.name not in only:
            continue
        if ctx.manifest.is_done(st.name) and not only:
            log(f"{st.title}: done (skipped)")
        else:
            status = ctx.manifest.status(st.name)
            resumed = status == "running"
            log(f"{st.title}: {'resuming' if resumed else 'starting again (it failed before)' if status == 'failed' else 'starting'}")
            ctx.manifest.start(st.name)
            t0 = time.perf_counter()
            meter = CpuMeter()
            try:
                info = st.function(ctx) or {}
            except Exception as exc:  # recorded, then raised as it was (KeyboardInterrupt passes: the stage stays running and resumes)
                _record_failure(ctx.manifest, st.name, exc)
                raise
            info["wall_time_s"] = round(time.perf_counter() - t0, 2) + ctx.manifest.info(st.name).get("wall_time_s", 0.0) * resumed
            # Share of the machine's cores busy during the stage (every process counts; None off Linux).
            info["cpu_busy_fraction"], info["cpu_cores"] = meter.busy_fraction(), core_count()
            ctx.manifest.complete(st.name, **info)
            log(f"{st.title}: done in {time.perf_counter() - t0:.1f} s")
        if until and st.name == until:
            break
    log(f"pipeline finished in {time.perf_counter() - t_start:.1f} s; report: {run.report_index}")
    return run


def failure_reason(exc: BaseException) -> str:
    """One line saying why a stage failed: a user error's own message, else the exception's type and first line."""
    lines = str(exc).strip().splitlines()
    first = lines[0].strip() if lines else ""
    if isinstance(exc, UserInputError):
        return first or type(exc).__name__
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _record_failure(manifest, stage: str, exc: BaseException) -> None:
    """Mark ``stage`` failed with its reason; a manifest that cannot be written must not hide ``exc``."""
    try:
        manifest.fail(stage, failure_reason(exc))
    except UserInputError:  # e.g. the disk is full: the stage stays 'running' and the original error is raised
        pass


def _set_torch_threads(n: int) -> None:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    torch.set_num_threads(n)


def stage_status(run_dir: Path) -> list[dict[str, Any]]:
    """Rows of (stage, status, headline info) for ``thermodefect status``."""
    run = RunDirectory(run_dir)
    manifest = run.manifest
    rows = []
    for st in STAGES:
        rows.append({"stage": st.name, "title": st.title, "status": manifest.status(st.name), "info": manifest.info(st.name)})
    return rows
