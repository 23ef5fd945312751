"""The Hamiltonian active-learning loop wired to the reference, datasets and model."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from thermodefect.active.hamiltonian import Candidate
from thermodefect.workflow.snapshots import derived_seed


def lowdin_sample(sample):
    """The sample at Γ in its Löwdin-orthogonalized basis: H' = S^(-1/2) H S^(-1/2), S' = 1.

    A similarity transform of the generalized eigenproblem: the eigenvalues are
    unchanged. S^(-1/2) of a rotation-covariant S is rotation-covariant, so the
    blocks of H' rotate like those of H (equivariance is kept).
    """
    import dataclasses

    import scipy.linalg

    from thermodefect.data.operators import KSpaceMatrices
    from thermodefect.electronic.bloch import bloch_pair, kspace_pair

    if sample.kspace is not None:
        h, s = kspace_pair(sample.kspace, 0)
        if len(sample.kspace.kpts_frac) != 1 or np.any(np.asarray(sample.kspace.kpts_frac[0]) != 0):
            raise ValueError("Löwdin orthogonalization here needs Γ-only k-space data")
    else:
        h, s = bloch_pair(*sample.realspace, k_frac=np.zeros(3))
    h = h.toarray().real
    if s is None:
        return sample
    w, v = scipy.linalg.eigh(s.toarray().real)
    inv_sqrt = (v / np.sqrt(w)) @ v.T
    h_orth = inv_sqrt @ h @ inv_sqrt
    h_orth = 0.5 * (h_orth + h_orth.T)
    return dataclasses.replace(
        sample, realspace=None,
        kspace=KSpaceMatrices(kpts_frac=np.zeros((1, 3)), hamiltonian=h_orth[None], overlap=None),
    )


def model_sample(settings, sample):
    """A labelled sample in the form the Hamiltonian model learns (see ``orthogonalization``)."""
    return lowdin_sample(sample) if settings.hamiltonian.orthogonalization == "lowdin" else sample


class MeanEnsemble:
    """Ensemble members behind the single-model interface: blocks = mean over members.

    ``predict``/``evaluate`` of :mod:`thermodefect.hamiltonian` accept it in
    place of one model (they use ``config``, ``layout``, ``device``, ``dtype``
    and call it on a batch).
    """

    def __init__(self, members: Sequence):
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = list(members)
        first = self.members[0]
        self.config, self.layout = first.config, first.layout
        self.two_center = getattr(first, "two_center", None)  # members of one round share it

    @property
    def device(self):
        return self.members[0].device

    @property
    def dtype(self):
        return self.members[0].dtype

    def eval(self):
        for m in self.members:
            m.eval()
        return self

    @property
    def uses_potentials(self) -> bool:
        return bool(getattr(self.members[0], "uses_potentials", False))

    def __call__(self, batch):
        return self.forward_with_potentials(batch)[0]

    def forward_with_potentials(self, batch):
        blocks, potentials = self.members[0].forward_with_potentials(batch)
        for m in self.members[1:]:
            b, u = m.forward_with_potentials(batch)
            blocks, potentials = blocks + b, potentials + u
        return blocks / len(self.members), potentials / len(self.members)


def split_train_valid(keys: Sequence[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Random validation split; at least one validation sample when 4 or more samples."""
    keys = sorted(keys)
    n_valid = int(round(fraction * len(keys)))
    if len(keys) >= 4:
        n_valid = max(n_valid, 1)
    order = np.random.default_rng(seed).permutation(len(keys))
    valid = [keys[i] for i in order[:n_valid]]
    train = [keys[i] for i in order[n_valid:]]
    return train, valid


def two_center_overlap_path(ctx) -> Path:
    return ctx.run.root / "models" / "ham" / "overlap" / "two_center_overlap.json"


def _load_two_center(path: Path):
    from thermodefect.errors import UserInputError
    from thermodefect.hamiltonian.two_center import TwoCenterModel

    if path.exists():
        try:
            return TwoCenterModel.load(path)
        except UserInputError:
            pass  # from another version of the package: fit again
    return None


def two_center_overlap(ctx, basis: dict[int, str]):
    """The run's two-center overlap: fitted once to reference calculations of atom pairs in vacuum.

    Pairs give the real-space blocks themselves (no periodic images folded in),
    so the fit is exact up to the spline: ~1,200 pair calculations, seconds with
    tblite. A reference that cannot compute new geometries (DeepH folders) falls
    back to a fit on the labelled structures' Γ overlaps.
    """
    from thermodefect.errors import UserInputError
    from thermodefect.hamiltonian.two_center import TwoCenterModel, atoms_per_sample_for, fit_overlap_from_pairs
    from thermodefect.reference.base import CalculationFailed
    from thermodefect.reference.registry import get_reference

    path = two_center_overlap_path(ctx)
    model = _load_two_center(path)
    if model is not None:
        return model
    settings = ctx.settings
    cutoff = settings.hamiltonian.two_center_cutoff_angstrom
    reference = get_reference(settings.reference.hamiltonian)
    ctx.log(f"fitting the two-center overlap to {settings.reference.hamiltonian.name} calculations of atom pairs up to {cutoff:g} Å")
    try:
        model = fit_overlap_from_pairs(reference, basis, cutoff, seed=derived_seed(settings.run.seed, "overlap-pairs"))
        source = f"{model.fit_info['pairs']} atom pairs"
    except (UserInputError, CalculationFailed) as exc:
        from thermodefect.data.hamiltonians import HamiltonianDataset

        ctx.log(f"warning: the reference cannot compute atom pairs ({str(exc).splitlines()[0]}); fitting the labelled overlaps at Γ")
        dataset = HamiltonianDataset(ctx.run.hamiltonian_dataset)
        samples = [dataset[k] for k in dataset.keys()]
        model = TwoCenterModel(basis, cutoff, target="overlap")
        model.fit(samples, atoms_per_sample=atoms_per_sample_for(len(samples)))
        source = f"{len(samples)} labelled structures"
    ctx.log(f"two-center overlap fitted on {source}: residual MAE {model.fit_info['mae']:.2g}, max {model.fit_info['max_abs']:.2g}")
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return model


def fit_or_load_hamiltonian_baseline(ctx, keys: Sequence[str], path: Path):
    """The two-center Hamiltonian baseline of one training set, saved at ``path``.

    Overlap-scaled (``F(d) · S``, on the run's two-center overlap) for a
    non-orthogonal basis; the Slater-Koster form for a Löwdin-orthogonal one.
    """
    from thermodefect.data.hamiltonians import HamiltonianDataset
    from thermodefect.hamiltonian.two_center import ScaledTwoCenterModel, TwoCenterModel, atoms_per_sample_for

    model = _load_two_center(path)
    if model is not None:
        return model
    settings = ctx.settings
    dataset = HamiltonianDataset(ctx.run.hamiltonian_dataset)
    samples = [model_sample(settings, dataset[k]) for k in sorted(keys)]
    if settings.hamiltonian.orthogonalization == "lowdin":
        model = TwoCenterModel(samples[0].basis, settings.hamiltonian.two_center_cutoff_angstrom, target="hamiltonian")
    else:
        model = ScaledTwoCenterModel(two_center_overlap(ctx, samples[0].basis))
    info = model.fit(samples, atoms_per_sample=atoms_per_sample_for(len(samples)), seed=derived_seed(settings.run.seed, "two-center", "hamiltonian"))
    ctx.log(f"two-center Hamiltonian baseline fitted on {len(samples)} structures: residual MAE {info['mae'] * 1e3:.3g} meV")
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return model


def train_or_load_ensemble(ctx, keys: Sequence[str], directory: Path, target: str, size: int, seed_label: str,
                           baseline=None):
    """Members 0..size-1 in ``directory``: loaded when saved, trained otherwise."""
    from thermodefect.data.hamiltonians import HamiltonianDataset
    from thermodefect.hamiltonian import load_model, train_model

    settings = ctx.settings
    dataset = HamiltonianDataset(ctx.run.hamiltonian_dataset)
    samples = None
    members = []
    for k in range(size):
        member_dir = directory / f"member-{k}"
        if member_dir.is_dir():
            try:
                members.append(load_model(member_dir, settings.hamiltonian.device))
                continue
            except Exception:
                pass  # killed while saving: train again
        if samples is None:
            seed = derived_seed(settings.run.seed, seed_label, "split")
            train_keys, valid_keys = split_train_valid(keys, settings.hamiltonian.valid_fraction, seed)
            samples = ([model_sample(settings, dataset[key]) for key in train_keys],
                       [model_sample(settings, dataset[key]) for key in valid_keys])
        ctx.log(f"training {target} model {k + 1}/{size} on {len(samples[0])} structures ({len(samples[1])} validation)")
        result = train_model(
            samples[0], samples[1], settings.hamiltonian, member_dir,
            seed=derived_seed(settings.run.seed, seed_label, k), target=target, baseline=baseline,
        )
        members.append(result.model)
    return members


class PipelineHamiltonianHooks:
    """:class:`~thermodefect.active.hamiltonian.HamiltonianALHooks` for a real run."""

    def __init__(self, ctx):
        self.ctx = ctx

    def label(self, candidates: Sequence[Candidate]) -> dict[str, str]:
        from thermodefect.data.hamiltonians import HamiltonianDataset
        from thermodefect.data.keys import structure_key
        from thermodefect.reference.labelling import label_structures
        from thermodefect.workflow.executors import get_executor

        s = self.ctx.settings
        same = s.reference.forces.model_dump() == s.reference.hamiltonian.model_dump()
        # One calculation serves both datasets when the references are the same.
        what = ("forces", "hamiltonian") if same else ("hamiltonian",)
        atoms = [c.atoms for c in candidates]
        metadata = [
            {"defect": c.defect, "temperature_k": c.temperature_k, "config_type": "md", "pool_key": c.key,
             **{k: c.atoms.info[k] for k in ("defect_site", "defect_index") if k in c.atoms.info}}
            for c in candidates
        ]
        executor = get_executor(s.compute, self.ctx.run.root)
        try:
            label_structures(atoms, s.reference, self.ctx.run, what=what, executor=executor, metadata=metadata)
        finally:
            executor.close()
        dataset = HamiltonianDataset(self.ctx.run.hamiltonian_dataset)
        have = set(dataset.keys())
        out = {}
        for c in candidates:
            key = structure_key(c.atoms)
            if key in have:
                out[c.key] = key
        return out

    def train(self, dataset_keys, round_dir: Path, round_index: int):
        s = self.ctx.settings
        baseline = None
        if s.hamiltonian.two_center_baseline:
            baseline = fit_or_load_hamiltonian_baseline(self.ctx, dataset_keys, Path(round_dir) / "two_center_hamiltonian.json")
        return train_or_load_ensemble(self.ctx, dataset_keys, Path(round_dir), "hamiltonian", s.hamiltonian.ensemble_size,
                                      f"ham-round-{round_index}", baseline)

    def evaluate(self, ensemble, test_dataset_keys) -> dict:
        from thermodefect.data.hamiltonians import HamiltonianDataset
        from thermodefect.hamiltonian import evaluate

        dataset = HamiltonianDataset(self.ctx.run.hamiltonian_dataset)
        samples = [model_sample(self.ctx.settings, dataset[k]) for k in test_dataset_keys]
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
