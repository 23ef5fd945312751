"""Stage ``predictions``: model gap, band edges and levels of MD snapshots (production and transfer cells)."""

from __future__ import annotations

from thermodefect.core.files import atomic_write_json
from thermodefect.core.results import ResultsFileError, read_results_json
from thermodefect.workflow.context import PipelineContext
from thermodefect.workflow.rundata import gap_record, md_frames, md_jobs, predict_gap

STAGE = "predictions"


def predict_snapshots(ctx: PipelineContext) -> dict:
    s = ctx.settings
    done = ctx.manifest.items_done(STAGE)
    jobs = [j for j in md_jobs(ctx) if j.set in ("production", "transfer") and j.temperature_k in s.temperatures.production_k]
    n_total = 0
    for k, job in enumerate(jobs):
        path = ctx.run.snapshot_predictions / f"{job.n_atoms}atoms-{job.defect}-{job.temperature_k:g}K.json"
        if job.key in done and path.exists():
            try:
                n_total += len(read_results_json(path, STAGE, required=("snapshots",))["snapshots"])
                continue
            except ResultsFileError as exc:  # this stage wrote it: predict those snapshots again
                ctx.log(f"warning: {exc}; predicting {job.key} again")
        count = s.electronic.snapshots_per_temperature if job.set == "production" else s.electronic.transfer_snapshots_per_temperature
        frames = md_frames(ctx, job, count)
        ctx.log(f"predicting {len(frames)} snapshots {k + 1}/{len(jobs)}: {job.key}")
        records = []
        for i, frame in frames:
            result, seconds = predict_gap(ctx, frame)
            records.append(gap_record(result, frame=i, seconds=seconds, solver=result.solver))
        atomic_write_json(path, {"defect": job.defect, "temperature_k": job.temperature_k, "cell_atoms": job.n_atoms,
                                 "set": job.set, "snapshots": records})
        ctx.manifest.record_items(STAGE, [job.key])
        n_total += len(records)
    return {"snapshots": n_total}
