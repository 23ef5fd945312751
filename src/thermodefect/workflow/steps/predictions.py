"""Stage ``predictions``: model gap, band edges and levels of MD snapshots (production and transfer cells).

Per (MD set, cell size, temperature) the pristine snapshots come first: their
mean band edges and on-site energies are the host reference
(:class:`~thermodefect.electronic.levels.HostReference`) to which the defect
snapshots of the same size and temperature are aligned
(``electronic.band_edges = "aligned"``). Every snapshot is analysed with the
mean of the Hamiltonian ensemble and with each member (each member against
its own pristine reference), which gives the ensemble spread. With
``compute.workers > 1`` the snapshots are predicted in that many processes.
"""

from __future__ import annotations

from thermodefect.core.files import atomic_write_json
from thermodefect.core.results import ResultsFileError, read_results_json
from thermodefect.workflow.context import PipelineContext
from thermodefect.workflow.rundata import gap_record, local_workers, md_frames, md_jobs, predict_gap_many, uses_alignment

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


def _read_done(ctx: PipelineContext, job, done: set) -> list | None:
    """The snapshot records of a finished job, or None when it must be predicted (again)."""
    path = prediction_path(ctx, job)
    if job.key not in done or not path.exists():
        return None
    try:
        return read_results_json(path, STAGE, required=("snapshots",))["snapshots"]
    except ResultsFileError as exc:  # this stage wrote it: predict those snapshots again
        ctx.log(f"warning: {exc}; predicting {job.key} again")
        return None


def predict_snapshots(ctx: PipelineContext) -> dict:
    """Pristine jobs first (their records are the hosts of the defect cells), then the defect jobs;
    within each phase every snapshot of every job is one task (:func:`predict_gap_many`)."""
    s = ctx.settings
    done = ctx.manifest.items_done(STAGE)
    jobs = [j for j in md_jobs(ctx) if j.set in ("production", "transfer") and j.temperature_k in s.temperatures.production_k]
    hosts: dict[tuple, tuple] = {}
    n_total = 0
    n_written = 0
    for phase in ("pristine", "defects"):
        todo = []
        for job in (j for j in jobs if (j.defect == "pristine") == (phase == "pristine")):
            records = _read_done(ctx, job, done)
            if records is None:
                todo.append(job)
                continue
            n_total += _use(ctx, job, records, hosts)
        tasks, owners = [], []
        for job in todo:
            host, member_hosts = hosts.get(_group(job), (None, None)) if job.defect != "pristine" else (None, None)
            count = s.electronic.snapshots_per_temperature if job.set == "production" else s.electronic.transfer_snapshots_per_temperature
            for i, frame in md_frames(ctx, job, count):
                tasks.append((frame, host, member_hosts))
                owners.append((job, i, host))
        if not tasks:
            continue
        workers = min(local_workers(ctx), len(tasks))
        ctx.log(f"predicting {len(tasks)} {phase} snapshots of {len(todo)} MD sets"
                + (f" on {workers} worker processes" if workers > 1 else ""))
        pending = {job.key: sum(1 for o in owners if o[0] is job) for job in todo}
        collected: dict[str, dict[int, dict]] = {job.key: {} for job in todo}
        for index, (result, members, seconds) in predict_gap_many(ctx, tasks):
            job, frame, host = owners[index]
            collected[job.key][index] = gap_record(result, members, frame=frame, seconds=seconds, solver=result.solver)
            if len(collected[job.key]) < pending[job.key]:
                continue
            records = [collected[job.key][k] for k in sorted(collected[job.key])]
            atomic_write_json(prediction_path(ctx, job), {"defect": job.defect, "temperature_k": job.temperature_k,
                                                          "cell_atoms": job.n_atoms, "set": job.set,
                                                          "host": host.to_dict() if host is not None else None,
                                                          "snapshots": records})
            ctx.manifest.record_items(STAGE, [job.key])
            n_written += 1
            ctx.log(f"predicted {len(records)} snapshots of {job.key} ({n_written} MD sets done)"
                    + (" (aligned to the pristine cell)" if host is not None else ""))
            n_total += _use(ctx, job, records, hosts)
    return {"snapshots": n_total}


def _group(job) -> tuple:
    return (job.set, job.n_atoms, job.temperature_k)


def _use(ctx: PipelineContext, job, records: list, hosts: dict) -> int:
    """Keep a pristine job's records as the host of its group; the number of snapshots."""
    if job.defect == "pristine" and uses_alignment(ctx) and records:
        hosts[_group(job)] = host_references(records)
    return len(records)
