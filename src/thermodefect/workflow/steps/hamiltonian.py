"""Stages ``hamiltonian_al`` and ``overlap_model``: the Hamiltonian loop wired to the reference, dataset and recipe."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from thermodefect.active.hamiltonian import Candidate
from thermodefect.core import keys
from thermodefect.core.files import atomic_write_json
from thermodefect.core.seeds import derived_seed
from thermodefect.workflow.context import PipelineContext
from thermodefect.workflow.rundata import md_frames, md_jobs, recipe, training_keys


def hamiltonian_pool_and_test(ctx: PipelineContext) -> tuple[list[Candidate], list[Candidate]]:
    """Pool (production MD at the training temperatures) and held-out test candidates (test MD)."""
    s = ctx.settings
    pool, test = [], []
    for job in md_jobs(ctx):
        if job.set == "production" and job.temperature_k in s.temperatures.training_k:
            target, count = pool, s.hamiltonian_al.pool_per_stratum
        elif job.set == "test":
            target, count = test, s.hamiltonian_al.test_snapshots_per_stratum
        else:
            continue
        for i, frame in md_frames(ctx, job, count):
            target.append(Candidate(f"{job.key}/frame-{i:05d}", frame, job.defect, job.temperature_k))
    return pool, test


class PipelineHamiltonianHooks:
    """:class:`~thermodefect.active.hamiltonian.HamiltonianALHooks` for a real run."""

    def __init__(self, ctx: PipelineContext):
        self.ctx = ctx
        self.recipe = recipe(ctx)

    def _dataset(self):
        from thermodefect.data.hamiltonians import HamiltonianDataset

        return HamiltonianDataset(self.ctx.run.hamiltonian_dataset)

    def label(self, candidates: Sequence[Candidate]) -> dict[str, str]:
        from thermodefect.core.executors import get_executor
        from thermodefect.core.keys import structure_key
        from thermodefect.reference.labelling import label_structures

        s = self.ctx.settings
        same = s.reference.forces.model_dump() == s.reference.hamiltonian.model_dump()
        # One calculation serves both datasets when the references are the same.
        what = ("forces", "hamiltonian") if same else ("hamiltonian",)
        metadata = [
            {keys.DEFECT: c.defect, keys.TEMPERATURE_K: c.temperature_k, keys.CONFIG_TYPE: "md", keys.POOL_KEY: c.key,
             **{k: c.atoms.info[k] for k in (keys.DEFECT_SITE, keys.DEFECT_INDEX) if k in c.atoms.info}}
            for c in candidates
        ]
        executor = get_executor(s.compute, self.ctx.run.parsl_logs)
        try:
            label_structures([c.atoms for c in candidates], s.reference, self.ctx.run, what=what, executor=executor, metadata=metadata)
        finally:
            executor.close()
        have = set(self._dataset().keys())
        return {c.key: structure_key(c.atoms) for c in candidates if structure_key(c.atoms) in have}

    def train(self, dataset_keys, round_dir: Path, round_index: int):
        from thermodefect.hamiltonian.recipe import BASELINE_FILE

        members = self.recipe.train_hamiltonian(self._dataset(), dataset_keys, round_dir, self.ctx.run.two_center_overlap)
        # What this round trained, by name: a file planted in the folder is not recorded (and then refused at load).
        manifest = self.ctx.manifest
        for k in range(len(members)):
            manifest.record_folder(round_dir / f"member-{k}")
        manifest.record_files(p for p in (round_dir / BASELINE_FILE, self.ctx.run.two_center_overlap) if p.is_file())
        return members

    def evaluate(self, ensemble, test_dataset_keys) -> dict:
        from thermodefect.hamiltonian import evaluate
        from thermodefect.hamiltonian.recipe import MeanEnsemble

        samples = self.recipe.samples(self._dataset(), test_dataset_keys)
        metrics = evaluate(MeanEnsemble(ensemble), samples, bands_near_gap=self.ctx.settings.electronic.bands_near_gap)
        return {
            "hamiltonian_mae_mev": metrics["mae"],
            "onsite_mae_mev": metrics["mae_onsite"],
            "hopping_mae_mev": metrics["mae_hopping"],
            "eigenvalue_mae_mev": metrics["eigenvalue_mae"],
            "eigenvalue_mae_aligned_mev": metrics["eigenvalue_mae_aligned"],
            "per_defect_hamiltonian_mae_mev": metrics["per_defect"],
            "per_defect_eigenvalue_mae_mev": metrics.get("eigenvalue_mae_per_defect", {}),
            "n_test": metrics["n_samples"],
        }

    def uncertainty(self, ensemble, atoms):
        from thermodefect.hamiltonian import ensemble_uncertainty

        spread = ensemble_uncertainty(ensemble, list(atoms))
        return np.array([x["max_std"] for x in spread]), np.array([x["rmsd"] for x in spread])

    def features(self, atoms):
        from thermodefect.active.selection import radial_fingerprint

        return np.stack([radial_fingerprint(a) for a in atoms])


def hamiltonian_active_learning(ctx: PipelineContext) -> dict:
    from thermodefect.active.hamiltonian import run_hamiltonian_active_learning

    pool, test = hamiltonian_pool_and_test(ctx)
    ctx.log(f"Hamiltonian pool: {len(pool)} configurations; test set: {len(test)}")
    result = run_hamiltonian_active_learning(
        pool, test, PipelineHamiltonianHooks(ctx), ctx.settings.hamiltonian_al, ctx.run.hamiltonian_models,
        ctx.run.hamiltonian_al_state, derived_seed(ctx.settings.run.seed, "ham-al"), ctx.manifest, ctx.log,
    )
    last = result.rounds[-1]["metrics"]
    atomic_write_json(ctx.run.training_keys, {"training": result.training_keys, "test": result.test_keys,
                                              "final_round": len(result.rounds) - 1})
    return {"rounds": len(result.rounds), "n_labels": len(result.training_keys), "converged": result.converged,
            "hamiltonian_mae_mev": last["hamiltonian_mae_mev"], "eigenvalue_mae_mev": last["eigenvalue_mae_mev"]}


def overlap_model(ctx: PipelineContext) -> dict:
    """The overlap of snapshots without a reference calculation comes from its own model."""
    from thermodefect.data.hamiltonians import HamiltonianDataset
    from thermodefect.hamiltonian import evaluate

    if ctx.settings.hamiltonian.orthogonalization == "lowdin":
        return {"skipped": "Löwdin-orthogonal basis: predictions need no overlap"}
    split = training_keys(ctx)
    dataset = HamiltonianDataset(ctx.run.hamiltonian_dataset)
    # Training labels only: the test snapshots stay unseen by every model.
    model = recipe(ctx).train_overlap(dataset, split["training"], ctx.run.two_center_overlap, ctx.run.overlap_models)
    if ctx.settings.hamiltonian.overlap_model == "two_center":
        ctx.manifest.record_files([ctx.run.two_center_overlap])
    else:
        ctx.manifest.record_folder(ctx.run.overlap_models / "member-0")
    test = [dataset[k] for k in split["test"]]
    if ctx.settings.hamiltonian.overlap_model == "two_center":
        metrics = two_center_overlap_metrics(model, test)
    else:
        metrics = evaluate(model, test)
    atomic_write_json(ctx.run.result("overlap_model.json"), metrics)
    return {"overlap_mae_1e-3": metrics["mae"]}


def two_center_overlap_metrics(model, samples) -> dict:
    """Γ overlap errors (1e-3) of the two-center model and its smallest eigenvalue on held-out samples."""
    from thermodefect.electronic.bloch import bloch_sum, kspace_pair

    errors, smallest = [], []
    for sample in samples:
        reference = kspace_pair(sample.kspace, 0)[1] if sample.kspace is not None else bloch_sum(sample.realspace[1], k_frac=np.zeros(3))
        predicted = np.real(bloch_sum(model.operator(sample.structure), k_frac=np.zeros(3)).toarray())
        errors.append(np.abs(predicted - np.real(reference.toarray())).ravel())
        smallest.append(float(np.linalg.eigvalsh(predicted).min()))
    values = np.concatenate(errors) if errors else np.zeros(0)
    return {"target": "overlap", "model": "two_center", "unit": "1e-3", "n_samples": len(samples),
            "mae": float(values.mean() * 1e3) if values.size else float("nan"),
            "max_abs": float(values.max() * 1e3) if values.size else float("nan"),
            "min_eigenvalue": min(smallest) if smallest else None, "fit": model.fit_info}

