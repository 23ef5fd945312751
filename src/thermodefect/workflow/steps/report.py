"""Stage ``report``: the summary JSON, the data behind the model figures, and the HTML report drawn from files."""

from __future__ import annotations

from thermodefect.workflow.context import PipelineContext


def report_stage(ctx: PipelineContext) -> dict:
    from thermodefect.report import write_report
    from thermodefect.workflow.figure_data import band_structure_data, dynamics_data
    from thermodefect.workflow.summary import write_summary

    write_summary(ctx)
    data = band_structure_data(ctx) + dynamics_data(ctx)
    path = write_report(ctx.run.root)
    return {"report": str(path), "figure_data": len(data)}
