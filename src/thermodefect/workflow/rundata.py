"""What the stages read back from a run: MD jobs and their frames, Hamiltonian keys, the predictors.

Stages, the accuracy check and the figure data all go through these
functions, so every path, selection rule and model choice is made once.
Paths themselves are named on :class:`~thermodefect.core.rundir.RunDirectory`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from thermodefect.core import keys
from thermodefect.core.results import ResultsFileError, read_results_json, repair_hint
from thermodefect.workflow.context import PipelineContext
from thermodefect.workflow.snapshots import electron_count, load_cells, tag_frame, uniform_picks, valence_electrons

MD_SETS = ("production", "test", "transfer")


def cell_names(ctx: PipelineContext) -> list[str]:
    """``pristine`` (when included) and the configured defects, in config order."""
    s = ctx.settings
    return (["pristine"] if s.defects.include_pristine else []) + list(s.defects.names)


def cell_sizes(ctx: PipelineContext) -> list[int]:
    """Atom counts of every supercell the run builds (training, production, transfer), no repeats."""
    s = ctx.settings.supercells
    return list(dict.fromkeys([s.training_atoms, s.production_atoms, *s.transfer_atoms]))


# --------------------------------------------------------------------------- MD
@dataclass(frozen=True)
class MdJob:
    """One NVT trajectory of the run."""

    set: str  # "production" (pool and predictions), "test" (held-out snapshots), "transfer" (larger cells)
    n_atoms: int  # atoms of the pristine cell of this size
    defect: str
    temperature_k: float
    steps: int  # production steps after equilibration
    path: Path  # trajectory file (extended XYZ)

    @property
    def key(self) -> str:
        """Manifest item of the job, e.g. ``production/64atoms/As_Ga/300K``."""
        return f"{self.set}/{self.n_atoms}atoms/{self.defect}/{self.temperature_k:g}K"


def md_jobs(ctx: PipelineContext) -> list[MdJob]:
    """Every trajectory of the run: production, independent test MD, transfer cells."""
    from thermodefect.dynamics.nvt import trajectory_name

    s = ctx.settings
    production_t = sorted(set(s.temperatures.training_k) | set(s.temperatures.production_k))
    specs = []
    for name in cell_names(ctx):
        specs += [("production", s.supercells.production_atoms, name, t, s.md.production_steps) for t in production_t]
        specs += [("test", s.supercells.production_atoms, name, t, s.md.test_production_steps) for t in s.temperatures.test_k]
        specs += [("transfer", n, name, t, s.md.transfer_production_steps)
                  for n in s.supercells.transfer_atoms for t in s.temperatures.production_k]
    return [MdJob(kind, n, name, t, steps, ctx.run.md / f"{kind}-{n}atoms" / trajectory_name(name, t))
            for kind, n, name, t, steps in specs]


def _cell_and_bond(ctx: PipelineContext, job: MdJob):
    from ase.neighborlist import neighbor_list

    cell = load_cells(ctx.run.structures, job.n_atoms, [job.defect])[job.defect]
    return cell, float(neighbor_list("d", cell, 4.0).min())


def count_collapsed(ctx: PipelineContext, jobs: list[MdJob]) -> int:
    """MD frames in which the force field let atoms collapse (see :func:`~thermodefect.dynamics.is_physical`)."""
    from thermodefect.dynamics import is_physical
    from thermodefect.dynamics.nvt import read_frames

    count = 0
    for job in jobs:
        _, bond = _cell_and_bond(ctx, job)
        count += sum(not is_physical(f, bond) for f in read_frames(job.path))
    return count


def md_frames(ctx: PipelineContext, job: MdJob, count: int):
    """``(frame index, atoms)`` of ``count`` frames spread uniformly over a trajectory, tagged with the defect."""
    from thermodefect.dynamics import is_physical
    from thermodefect.dynamics.nvt import checkpoint_path, read_frames

    cell, bond = _cell_and_bond(ctx, job)
    # run_nvt writes its checkpoint even when no frame was sampled: both gone = the MD never ran or was deleted.
    if not job.path.is_file() and not checkpoint_path(job.path).is_file():
        raise ResultsFileError(f"{job.path}: missing trajectory; {repair_hint('production_md')}")
    frames = read_frames(job.path)
    # Frames where the force field let atoms collapse are not the material at
    # this temperature: they are counted (production_md) and never used.
    good = [i for i, f in enumerate(frames) if is_physical(f, bond)]
    picks = [good[k] for k in uniform_picks(len(good), count)]
    return [(i, tag_frame(frames[i], cell)) for i in picks]


def frames_at(ctx: PipelineContext, job: MdJob, indices: list[int]):
    """The frames of ``job``'s trajectory with these indices, tagged with the defect."""
    from thermodefect.dynamics.nvt import read_frames

    cell, _ = _cell_and_bond(ctx, job)
    frames = read_frames(job.path)
    return [tag_frame(frames[i], cell) for i in indices]


# --------------------------------------------------------------------------- Hamiltonian data and models
def training_keys(ctx: PipelineContext) -> dict:
    """``{"training": [...], "test": [...], "final_round": K}`` written by the Hamiltonian AL stage."""
    path = ctx.run.training_keys
    data = read_results_json(path, "hamiltonian_al")
    if not all(isinstance(data.get(k), list) for k in ("training", "test")) or not isinstance(data.get("final_round"), int):
        raise ResultsFileError(f"{path}: expected lists 'training', 'test' and an integer 'final_round'; {repair_hint('hamiltonian_al')}")
    return data


def local_workers(ctx: PipelineContext) -> int:
    """Processes this machine may use for the run's own work (``compute.workers``; 1 with Parsl, whose
    workers serve the reference calculations)."""
    compute = ctx.settings.compute
    return compute.workers if compute.engine == "local" else 1


def recipe(ctx: PipelineContext):
    """The run's :class:`~thermodefect.hamiltonian.recipe.HamiltonianRecipe` (the one ``ham train`` uses too)."""
    from thermodefect.hamiltonian.recipe import HamiltonianRecipe
    from thermodefect.reference.registry import get_reference

    s = ctx.settings
    return HamiltonianRecipe(s.hamiltonian, s.run.seed, reference=lambda: get_reference(s.reference.hamiltonian), log=ctx.log,
                             workers=local_workers(ctx))


@dataclass(frozen=True)
class PredictorFiles:
    """What a process needs to predict a snapshot's electronic structure: the verified model files
    of the run, the device, the electronic settings and the valence electrons per atomic number."""

    hamiltonian: Path  # the final round's ensemble folder
    overlap: Path | None  # two-center JSON or overlap network folder; None for Löwdin orthogonalization
    device: str
    electronic: object  # thermodefect.settings.ElectronicSettings
    valence: dict


def predictor_files(ctx: PipelineContext) -> PredictorFiles:
    """The run's predictor files, each checked against the bytes this run wrote (manifest SHA-256)."""
    h = ctx.settings.hamiltonian
    final_round = ctx.manifest.verified_folder(ctx.run.model_round("ham", training_keys(ctx)["final_round"]))
    overlap = None
    if h.orthogonalization != "lowdin":
        if h.overlap_model == "two_center":
            overlap = ctx.manifest.verified(ctx.run.two_center_overlap)
        else:
            overlap = ctx.manifest.verified_folder(ctx.run.overlap_models / "member-0")
    return PredictorFiles(final_round, overlap, h.device, ctx.settings.electronic, electrons_per_element(ctx))


def _load_predictor_files(files: PredictorFiles):
    from thermodefect.hamiltonian.recipe import load_overlap, load_predictor

    ham = load_predictor(files.hamiltonian, files.device)
    overlap = load_overlap(files.overlap, files.device) if files.overlap is not None else None
    # The Hamiltonian's two-center baseline carries the same overlap fit: one instance, so the
    # overlap blocks of a structure are computed and held once for S, the H baseline and its
    # potential term (two copies are 1.1 GB each at 1000 atoms).
    base = getattr(getattr(ham, "two_center", None), "overlap", None)
    if overlap is not None and base is not None and type(base) is type(overlap) and base.to_dict() == overlap.to_dict():
        overlap = base
    return ham, overlap


def load_predictors(ctx: PipelineContext):
    """(mean Hamiltonian ensemble of the final round, overlap model or ``None``), cached per process."""
    if "predictors" not in ctx.cache:
        ctx.cache["predictors"] = _load_predictor_files(predictor_files(ctx))
    return ctx.cache["predictors"]


def electrons_per_element(ctx: PipelineContext) -> dict[int, float]:
    """Valence electrons per atomic number, as the reference counts them (from the labelled samples)."""
    if "valence" not in ctx.cache:
        from thermodefect.data.hamiltonians import HamiltonianDataset

        dataset = HamiltonianDataset(ctx.run.hamiltonian_dataset)
        split = training_keys(ctx)
        # One sample per composition is enough to fix the per-element counts.
        by_formula = {}
        for k in split["training"] + split["test"]:
            by_formula.setdefault(dataset.metadata(k)["formula"], k)
        ctx.cache["valence"] = valence_electrons([dataset[k] for k in by_formula.values()])
    return ctx.cache["valence"]


def uses_alignment(ctx: PipelineContext) -> bool:
    """Defect cells take pristine-aligned band edges (``electronic.band_edges``; needs the pristine cell)."""
    return ctx.settings.electronic.band_edges == "aligned" and ctx.settings.defects.include_pristine


def predict_gap(ctx: PipelineContext, atoms, host=None):
    """Model band edges, gap and defect levels of one structure (``host``: pristine-aligned edges), and the seconds it took."""
    result, _, seconds = predict_gap_members(ctx, atoms, host, members=False)
    return result, seconds


def predict_gap_members(ctx: PipelineContext, atoms, host=None, member_hosts=None, members: bool = True):
    """``(mean-model result, [result of each ensemble member], seconds)`` of one structure.

    The mean model is the one production uses; the members' results give the
    ensemble spread of every number (``member_hosts[k]``: member k's own
    pristine reference). The overlap is predicted once and shared.
    """
    ham, overlap = load_predictors(ctx)
    return _gap_members(ham, overlap, atoms, host, member_hosts, members, electrons_per_element(ctx), ctx.settings.electronic)


def _gap_members(ham, overlap, atoms, host, member_hosts, members: bool, valence: dict, settings):
    from thermodefect.electronic.analysis import analyze_operators, choose_solver
    from thermodefect.hamiltonian import KPointOperators, predict, predict_members

    t0 = time.perf_counter()
    if KPointOperators.applies(ham, overlap):
        # Solved densely (every cell up to electronic.sparse_above_atoms, and long-ranged operators of
        # larger ones): H(Γ) and S(Γ) are assembled directly, without the real-space blocks.
        operators = KPointOperators(ham, overlap, atoms, members=members)
        if choose_solver(len(atoms), settings, None, operators) == "dense":
            return _gap_members_assembled(operators, atoms, host, member_hosts, valence, settings, t0)
    if members:
        mean_op, member_ops = predict_members(ham, [atoms])[0]
    else:
        mean_op, member_ops = predict(ham, [atoms])[0], []
    s = predict(overlap, [atoms])[0] if overlap is not None else None
    n_electrons = electron_count(atoms, valence)
    result = analyze_operators(mean_op, s, n_electrons, atoms, settings, host=host)
    seconds = time.perf_counter() - t0
    hosts = member_hosts or [None] * len(member_ops)
    member_results = [analyze_operators(op, s, n_electrons, atoms, settings, host=h) for op, h in zip(member_ops, hosts)]
    return result, member_results, seconds


def _gap_members_assembled(operators, atoms, host, member_hosts, valence: dict, settings, t0: float):
    from thermodefect.electronic.analysis import analyze_assembled

    s = operators.overlap_matrix
    common = (operators.structure.numbers, operators.offsets, electron_count(atoms, valence), atoms, settings)
    matrices = operators.hamiltonians()
    result = analyze_assembled(next(matrices), s, *common, host=host)
    seconds = time.perf_counter() - t0
    hosts = list(member_hosts or [None] * len(getattr(operators.model, "members", None) or []))
    member_results = [analyze_assembled(h, s, *common, host=member_host) for h, member_host in zip(matrices, hosts)]
    return result, member_results, seconds


_WORKER_PREDICTORS: dict = {}  # in a worker process: the models of the files it was last asked for


def _predict_in_worker(task):
    files, atoms, host, member_hosts = task
    key = (files.hamiltonian, files.overlap, files.device)
    if key not in _WORKER_PREDICTORS:
        _WORKER_PREDICTORS.clear()
        _WORKER_PREDICTORS[key] = _load_predictor_files(files)
    ham, overlap = _WORKER_PREDICTORS[key]
    return _gap_members(ham, overlap, atoms, host, member_hosts, True, files.valence, files.electronic)


def predict_gap_many(ctx: PipelineContext, tasks: list[tuple]):
    """:func:`predict_gap_members` of many ``(atoms, host, member_hosts)``; yields ``(index, result)``
    in completion order. With ``compute.workers > 1`` (local engine) the structures are spread over
    that many processes of one thread each, every one loading the models once; a failure is raised."""
    from thermodefect.core.executors import LocalExecutor

    workers = min(local_workers(ctx), len(tasks))
    if workers <= 1:
        for index, (atoms, host, member_hosts) in enumerate(tasks):
            yield index, predict_gap_members(ctx, atoms, host, member_hosts)
        return
    files = predictor_files(ctx)
    items = [(index, (files, *task)) for index, task in enumerate(tasks)]
    with LocalExecutor(workers) as executor:
        for (index, _), result in executor.map(_predict_item, items):
            if isinstance(result, BaseException):
                raise result
            yield index, result


def _predict_item(item):
    return _predict_in_worker(item[1])


def level_record(level) -> dict:
    return {"energy_ev": level.energy_ev, "above_vbm_ev": level.above_vbm_ev, "below_cbm_ev": level.below_cbm_ev,
            "degeneracy": level.degeneracy, "electrons": level.electrons, "defect_weight": level.defect_weight, "ipr": level.ipr}


def gap_record(result, members=(), keep_states: bool = True, **extra) -> dict:
    """A :class:`~thermodefect.electronic.analysis.GapResult` as the JSON the results files hold.

    ``keep_states`` keeps the solved states nearest the gap and the on-site
    summary (so the snapshot can be aligned again to another host reference);
    ``members``: the ensemble members' results, stored without states.
    """
    record = {
        **extra,
        "edges": result.edges,
        "gap_ev": result.gap_ev, "vbm_ev": result.vbm_ev, "cbm_ev": result.cbm_ev,
        "cell_gap_ev": result.cell_gap_ev, "cell_vbm_ev": result.cell_vbm_ev, "cell_cbm_ev": result.cell_cbm_ev,
        "alignment_ev": result.alignment_ev,
        "conduction_electrons": result.conduction_electrons, "valence_holes": result.valence_holes,
        "levels": [level_record(lv) for lv in sorted(result.levels, key=lambda lv: lv.energy_ev)],
        "onsite": result.onsite,
    }
    if keep_states:
        record["window"] = result.window
    if members:
        record["members"] = [gap_record(m, keep_states=False) for m in members]
    return record


def atoms_of_sample(sample):
    """The sample's structure as ASE atoms, carrying its defect label and site for the analysis."""
    import numpy as np

    atoms = sample.structure.to_atoms()
    for key in (keys.DEFECT, keys.DEFECT_SITE, keys.DEFECT_INDEX):
        if key in sample.metadata:
            value = sample.metadata[key]
            atoms.info[key] = np.asarray(value) if key == keys.DEFECT_SITE else value
    return atoms
