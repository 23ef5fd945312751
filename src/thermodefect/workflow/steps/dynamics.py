"""Stage ``production_md``: every NVT trajectory of the run (production, test, transfer cells)."""

from __future__ import annotations

from thermodefect.core.seeds import derived_seed
from thermodefect.workflow.context import PipelineContext
from thermodefect.workflow.rundata import cell_names, count_collapsed, md_jobs
from thermodefect.workflow.snapshots import load_cells
from thermodefect.workflow.steps.forcefield import md_calculator

STAGE = "production_md"


def production_md(ctx: PipelineContext) -> dict:
    from thermodefect.dynamics.nvt import run_nvt

    s = ctx.settings
    done = ctx.manifest.items_done(STAGE)
    jobs = md_jobs(ctx)
    cells = {}
    for k, job in enumerate(jobs):
        if job.key in done:
            continue
        if job.n_atoms not in cells:
            cells[job.n_atoms] = load_cells(ctx.run.structures, job.n_atoms, cell_names(ctx))
        ctx.log(f"MD {k + 1}/{len(jobs)}: {job.key} ({job.steps} steps)")
        result = run_nvt(
            cells[job.n_atoms][job.defect], md_calculator(ctx), job.temperature_k, s.md,
            seed=derived_seed(s.run.seed, "md", job.key), trajectory_path=job.path, production_steps=job.steps,
        )
        if result.diverged:
            ctx.log(f"warning: MD {job.key} stopped early, {result.diverged}; {len(result.frames)} frames kept")
        ctx.manifest.record_items(STAGE, [job.key])
    collapsed = count_collapsed(ctx, jobs)
    if collapsed:
        ctx.log(f"warning: {collapsed} MD frames have atoms closer than 75% of the ideal bond; they are left out of every analysis")
    return {"trajectories": len(jobs), "collapsed_frames": collapsed}
