"""Stage ``statistics``: thermal mean and broadening of gap, band edges and levels per (cell, defect, T)."""

from __future__ import annotations

from thermodefect.core.files import atomic_write_json
from thermodefect.workflow.context import PipelineContext


def thermal_statistics_stage(ctx: PipelineContext) -> dict:
    from thermodefect.workflow.summary import thermal_table

    rows = thermal_table(ctx)
    atomic_write_json(ctx.run.result("thermal.json"), rows)
    return {"rows": len(rows)}
