"""What every stage gets, and what a stage is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from thermodefect.core.rundir import Manifest, RunDirectory


@dataclass
class PipelineContext:
    """Settings, run directory, manifest and the log of one run."""

    settings: Any  # thermodefect.settings.Settings
    run: RunDirectory
    manifest: Manifest
    log: Callable[[str], None]
    # Objects a stage hands to later stages within one process (never relied
    # upon across a resume: stages reload from the run directory when absent).
    cache: dict[str, Any] = field(default_factory=dict)


StageFunction = Callable[[PipelineContext], dict]


@dataclass(frozen=True)
class Stage:
    """A resumable step of ``thermodefect run``: ``function(ctx)`` returns its headline numbers."""

    name: str
    title: str
    function: StageFunction
