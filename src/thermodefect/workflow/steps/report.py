"""Stage ``report``: the summary JSON, the data behind model figures, and the HTML report drawn from files."""

from __future__ import annotations

from thermodefect.workflow.context import PipelineContext


def report_stage(ctx: PipelineContext) -> dict:
    from thermodefect.report import write_report
    from thermodefect.workflow.figures import band_structure_figures, dynamics_figures
    from thermodefect.workflow.summary import write_summary

    write_summary(ctx)
    band_structure_figures(ctx)
    dynamics_figures(ctx)
    path = write_report(ctx.run.root)
    return {"report": str(path)}
