"""Stage ``production_md``: every NVT trajectory of the run (production, test, transfer cells), in parallel processes."""

from __future__ import annotations

from thermodefect.core.seeds import derived_seed
from thermodefect.workflow.context import PipelineContext
from thermodefect.workflow.rundata import cell_names, count_collapsed, local_workers, md_jobs
from thermodefect.workflow.snapshots import load_cells
from thermodefect.workflow.steps.forcefield import md_calculator

STAGE = "production_md"


def production_md(ctx: PipelineContext) -> dict:
    """Every trajectory not yet done; with ``compute.workers > 1`` that many at once, one process each."""
    from thermodefect.active.parallel_md import ForceFieldFiles, MdTask, run_md_tasks
    from thermodefect.workflow.forcefield_hooks import final_models

    s = ctx.settings
    done = ctx.manifest.items_done(STAGE)
    jobs = md_jobs(ctx)
    todo = [job for job in jobs if job.key not in done]
    cells: dict[int, dict] = {}
    tasks = {}
    for job in todo:
        if job.n_atoms not in cells:
            cells[job.n_atoms] = load_cells(ctx.run.structures, job.n_atoms, cell_names(ctx))
        task = MdTask(cells[job.n_atoms][job.defect], job.temperature_k, s.md, derived_seed(s.run.seed, "md", job.key),
                      job.path, production_steps=job.steps)
        tasks[task.path] = (job, task)
    workers = min(local_workers(ctx), len(todo))
    if todo:
        ctx.log(f"MD: {len(todo)} trajectories" + (f", {workers} at once (one process each)" if workers > 1 else ""))
    ff = s.forcefield
    files = ForceFieldFiles(tuple(final_models(ctx.run)), ff.device, ff.default_dtype, ff.baseline) if todo else None
    in_process = md_calculator(ctx) if todo and workers <= 1 else None
    for n_done, (task, outcome) in enumerate(run_md_tasks(files, [t for _, t in tasks.values()], workers, in_process), start=1):
        job = tasks[task.path][0]
        ctx.log(f"MD {n_done}/{len(todo)} done: {job.key} ({job.steps} steps)")
        if outcome.diverged:
            ctx.log(f"warning: MD {job.key} stopped early, {outcome.diverged}; {outcome.frames} frames kept")
        ctx.manifest.record_items(STAGE, [job.key])
    collapsed = count_collapsed(ctx, jobs)
    if collapsed:
        ctx.log(f"warning: {collapsed} MD frames have atoms closer than 75% of the ideal bond; they are left out of every analysis")
    return {"trajectories": len(jobs), "collapsed_frames": collapsed}
