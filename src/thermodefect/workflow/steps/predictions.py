"""Stage ``predictions``: model gap, band edges and levels of MD snapshots (production and transfer cells).

Per (MD set, cell size, temperature) the pristine snapshots come first: their
mean band edges and on-site energies are the host reference
(:class:`~thermodefect.electronic.levels.HostReference`) to which the defect
snapshots of the same size and temperature are aligned
(``electronic.band_edges = "aligned"``). Every snapshot is analysed with the
mean of the Hamiltonian ensemble and with each member (each member against
its own pristine reference), which gives the ensemble spread.
"""

from __future__ import annotations

from thermodefect.core.files import atomic_write_json
from thermodefect.core.results import ResultsFileError, read_results_json
from thermodefect.workflow.context import PipelineContext
from thermodefect.workflow.rundata import gap_record, md_frames, md_jobs, predict_gap_members, uses_alignment

STAGE = "predictions"


def prediction_path(ctx: PipelineContext, job):
    return ctx.run.snapshot_predictions / f"{job.n_atoms}atoms-{job.defect}-{job.temperature_k:g}K.json"


def host_references(records: list[dict]):
    """(mean-model host, [host of each member]) from pristine snapshot records."""
    from thermodefect.electronic.levels import HostReference

    host = HostReference.from_results(records)
    n_members = min((len(r.get("members") or []) for r in records), default=0)
    members = [HostReference.from_results([r["members"][k] for r in records]) for k in range(n_members)]
    return host, members


def _pristine_first(jobs):
    return sorted(jobs, key=lambda j: (j.set, j.n_atoms, j.temperature_k, j.defect != "pristine"))


def predict_snapshots(ctx: PipelineContext) -> dict:
    s = ctx.settings
    done = ctx.manifest.items_done(STAGE)
    jobs = _pristine_first([j for j in md_jobs(ctx) if j.set in ("production", "transfer")
                            and j.temperature_k in s.temperatures.production_k])
    hosts: dict[tuple, tuple] = {}
    n_total = 0
    for k, job in enumerate(jobs):
        path = prediction_path(ctx, job)
        group = (job.set, job.n_atoms, job.temperature_k)
        records = None
        if job.key in done and path.exists():
            try:
                records = read_results_json(path, STAGE, required=("snapshots",))["snapshots"]
            except ResultsFileError as exc:  # this stage wrote it: predict those snapshots again
                ctx.log(f"warning: {exc}; predicting {job.key} again")
        if records is None:
            host, member_hosts = hosts.get(group, (None, None)) if job.defect != "pristine" else (None, None)
            count = s.electronic.snapshots_per_temperature if job.set == "production" else s.electronic.transfer_snapshots_per_temperature
            frames = md_frames(ctx, job, count)
            ctx.log(f"predicting {len(frames)} snapshots {k + 1}/{len(jobs)}: {job.key}"
                    + (" (aligned to the pristine cell)" if host is not None else ""))
            records = []
            for i, frame in frames:
                result, members, seconds = predict_gap_members(ctx, frame, host, member_hosts)
                records.append(gap_record(result, members, frame=i, seconds=seconds, solver=result.solver))
            atomic_write_json(path, {"defect": job.defect, "temperature_k": job.temperature_k, "cell_atoms": job.n_atoms,
                                     "set": job.set, "host": host.to_dict() if host is not None else None,
                                     "snapshots": records})
            ctx.manifest.record_items(STAGE, [job.key])
        if job.defect == "pristine" and uses_alignment(ctx) and records:
            hosts[group] = host_references(records)
        n_total += len(records)
    return {"snapshots": n_total}
