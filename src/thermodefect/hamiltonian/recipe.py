"""The one recipe from labelled samples to the models that predict H and S.

``thermodefect run`` (every active-learning round and the overlap stage) and
``thermodefect ham train`` both call :class:`HamiltonianRecipe`, so the same
config and labels give the same model whichever way it was trained. The
recipe, in order:

1. **sample preparation** — the sample in the basis the model learns:
   as labelled, or Löwdin-orthogonalized (``orthogonalization = "lowdin"``);
2. **overlap** — the exact two-center form, fitted once per run to reference
   calculations of atom pairs in vacuum (a reference that cannot compute new
   geometries falls back to the labelled Γ overlaps), or, with
   ``overlap_model = "equivariant"``, a network trained on the labels;
3. **baseline** — with ``two_center_baseline``: the overlap-scaled two-center
   Hamiltonian ``F(d)·S`` (Slater–Koster form for an orthogonal basis), fitted
   to the training labels;
4. **network** — ``ensemble_size`` members, each on the same seeded
   train/validation split, learning reference minus baseline;
5. **prediction** — the mean of the members (:class:`MeanEnsemble`).

Every seed derives from ``run.seed`` and the role of the random choice
(:func:`~thermodefect.core.seeds.derived_seed`), never from a round index.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from thermodefect.core.errors import UserInputError
from thermodefect.core.seeds import derived_seed
from thermodefect.hamiltonian.checkpoint import CONFIG_FILE, load_model
from thermodefect.hamiltonian.two_center import (
    ScaledTwoCenterModel,
    TwoCenterModel,
    atoms_per_sample_for,
    fit_overlap_from_pairs,
)

BASELINE_FILE = "two_center_hamiltonian.json"  # the baseline of one ensemble, next to its members


def _quiet(message: str) -> None:
    pass


# --------------------------------------------------------------------------- sample preparation
def lowdin_sample(sample):
    """The sample at Γ in its Löwdin-orthogonalized basis: H' = S^(-1/2) H S^(-1/2), S' = 1.

    A similarity transform of the generalized eigenproblem: the eigenvalues are
    unchanged. S^(-1/2) of a rotation-covariant S is rotation-covariant, so the
    blocks of H' rotate like those of H (equivariance is kept).
    """
    import scipy.linalg

    from thermodefect.data.operators import KSpaceMatrices
    from thermodefect.electronic.bloch import bloch_pair, kspace_pair

    if sample.kspace is not None:
        h, s = kspace_pair(sample.kspace, 0)
        if len(sample.kspace.kpts_frac) != 1 or np.any(np.asarray(sample.kspace.kpts_frac[0]) != 0):
            raise UserInputError("Löwdin orthogonalization needs Γ-only k-space data; set hamiltonian.orthogonalization = \"none\"")
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
    """A labelled sample in the form the model learns; ``settings``: ``HamiltonianModelSettings``."""
    return lowdin_sample(sample) if settings.orthogonalization == "lowdin" else sample


def has_overlap(sample) -> bool:
    """Whether a labelled sample carries an overlap matrix (a non-orthogonal basis)."""
    if sample.kspace is not None:
        return sample.kspace.overlap is not None
    return sample.realspace is not None and sample.realspace[1] is not None


def split_train_valid(keys: Sequence[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Random validation split of sorted ``keys``; at least one validation sample when 4 or more."""
    keys = sorted(keys)
    n_valid = int(round(fraction * len(keys)))
    if len(keys) >= 4:
        n_valid = max(n_valid, 1)
    order = np.random.default_rng(seed).permutation(len(keys))
    valid = [keys[i] for i in order[:n_valid]]
    train = [keys[i] for i in order[n_valid:]]
    return train, valid


# --------------------------------------------------------------------------- prediction
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
        self.two_center = getattr(first, "two_center", None)  # members of one ensemble share it

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


def load_members(directory: str | Path, device: str = "cpu") -> list:
    """Every complete ``member-K`` checkpoint in ``directory``, in order; a corrupt one is an error."""
    from thermodefect.hamiltonian.train import load_ensemble

    return load_ensemble(directory, device)


def load_predictor(path: str | Path, device: str = "cpu"):
    """The model that predicts with a checkpoint or an ensemble directory: one model, or the mean of the members."""
    path = Path(path)
    if (path / CONFIG_FILE).is_file():
        return load_model(path, device)
    return MeanEnsemble(load_members(path, device))


def load_overlap(path: str | Path, device: str = "cpu"):
    """The overlap model at ``path``: a two-center JSON file or a network checkpoint directory."""
    from thermodefect.hamiltonian.checkpoint import load_overlap_model

    return load_overlap_model(path, device)


# --------------------------------------------------------------------------- training
@dataclasses.dataclass
class HamiltonianRecipe:
    """Trains the models of one config: ``settings`` is ``HamiltonianModelSettings``, ``seed`` is ``run.seed``.

    ``reference`` builds the Hamiltonian reference on demand (for the atom-pair
    overlap fit); ``None`` means only the labelled overlaps can be used.
    """

    settings: object
    seed: int
    reference: Callable[[], object] | None = None
    log: Callable[[str], None] = _quiet
    progress: bool = False
    workers: int = 1  # members trained at once, in processes of one thread (see core.executors.member_processes)

    # -- samples ----------------------------------------------------------
    def samples(self, dataset, keys: Sequence[str]) -> list:
        return [model_sample(self.settings, dataset[k]) for k in sorted(keys)]

    def split(self, keys: Sequence[str], target: str) -> tuple[list[str], list[str]]:
        return split_train_valid(keys, self.settings.valid_fraction, derived_seed(self.seed, target, "split"))

    # -- overlap ----------------------------------------------------------
    def two_center_overlap(self, path: str | Path, basis: dict[int, str], labelled=()) -> TwoCenterModel:
        """The run's two-center overlap at ``path``: loaded when saved, else fitted once and saved.

        Fitted to reference calculations of atom pairs in vacuum: pairs give the
        real-space blocks themselves (no periodic images folded in), so the fit
        is exact up to the spline. A reference that cannot compute new
        geometries (DeepH folders) falls back to a fit on ``labelled`` samples'
        Γ overlaps.
        """
        from ase.calculators.calculator import CalculationFailed

        path = Path(path)
        if path.exists():
            return _load_saved(path, TwoCenterModel.load)
        cutoff = self.settings.two_center_cutoff_angstrom
        labelled = list(labelled)
        try:
            if self.reference is None:
                raise UserInputError("no reference to compute atom pairs with")
            reference = self.reference()
            sources = {sample.provenance.get("reference") for sample in labelled}
            if labelled and sources != {reference.name}:
                # Pairs from another reference would not match these labels' basis functions.
                raise UserInputError(f"the labels come from {', '.join(sorted(map(str, sources)))}, "
                                     f"not from the configured reference {reference.name!r}")
            self.log(f"fitting the two-center overlap to {getattr(reference, 'name', 'reference')} calculations of atom pairs up to {cutoff:g} Å")
            model = fit_overlap_from_pairs(reference, basis, cutoff, seed=derived_seed(self.seed, "overlap-pairs"),
                                           workers=self.workers)
            source = f"{model.fit_info['pairs']} atom pairs"
        except (UserInputError, CalculationFailed) as exc:
            if not labelled:
                raise UserInputError(f"cannot fit the two-center overlap: {str(exc).splitlines()[0]}, and no labelled overlaps were given") from None
            self.log(f"warning: the reference cannot compute atom pairs ({str(exc).splitlines()[0]}); fitting the labelled overlaps at Γ")
            model = TwoCenterModel(basis, cutoff, target="overlap")
            model.fit(labelled, atoms_per_sample=atoms_per_sample_for(len(labelled)))
            source = f"{len(labelled)} labelled structures"
        self.log(f"two-center overlap fitted on {source}: residual MAE {model.fit_info['mae']:.2g}, max {model.fit_info['max_abs']:.2g}")
        model.save(path)
        return model

    # -- baseline ---------------------------------------------------------
    def baseline(self, samples: Sequence, path: str | Path, overlap: Callable[[], TwoCenterModel]):
        """The two-center Hamiltonian baseline of one training set, saved at ``path`` (``None`` when off).

        Overlap-scaled (``F(d) · S`` on the run's two-center overlap) for a
        non-orthogonal basis; the Slater–Koster form for an orthogonal one
        (Löwdin-orthogonalized, or labels without an overlap).
        """
        if not self.settings.two_center_baseline:
            return None
        path = Path(path)
        if path.exists():
            return _load_saved(path, TwoCenterModel.load)
        if self.settings.orthogonalization == "lowdin" or not has_overlap(samples[0]):
            model = TwoCenterModel(samples[0].basis, self.settings.two_center_cutoff_angstrom, target="hamiltonian")
        else:
            model = ScaledTwoCenterModel(overlap())
        info = model.fit(samples, atoms_per_sample=atoms_per_sample_for(len(samples)),
                         seed=derived_seed(self.seed, "two-center", "hamiltonian"))
        self.log(f"two-center Hamiltonian baseline fitted on {len(samples)} structures: residual MAE {info['mae'] * 1e3:.3g} meV")
        model.save(path)
        return model

    # -- network ensemble -------------------------------------------------
    def ensemble(self, dataset, keys: Sequence[str], directory: str | Path, target: str = "hamiltonian",
                 size: int | None = None, baseline=None) -> list:
        """Members ``member-0 .. member-(size-1)`` in ``directory``: loaded when complete, trained otherwise.

        A member whose checkpoint was never finished (no ``model.json``: the
        process was killed while training or saving) is trained again; a
        finished checkpoint that does not load is reported, never retrained over.
        """
        from thermodefect.core.executors import member_processes

        directory = Path(directory)
        size = size or self.settings.ensemble_size
        missing = [k for k in range(size) if not (directory / f"member-{k}" / CONFIG_FILE).is_file()]
        if missing:
            train_keys, valid_keys = self.split(keys, target)
            jobs = [(self.settings, dataset.path, train_keys, valid_keys, directory / f"member-{k}",
                     derived_seed(self.seed, target, k), target, baseline) for k in missing]
            processes = member_processes(len(jobs), self.workers) if hasattr(dataset, "path") else 1
            if processes > 1:
                self._train_in_processes(jobs, processes, size)
            else:
                split = (self.samples(dataset, train_keys), self.samples(dataset, valid_keys))
                for k, job in zip(missing, jobs):
                    self.log(f"training {target} model {k + 1}/{size} on {len(train_keys)} structures ({len(valid_keys)} validation)")
                    _train_member(job, split, self.progress)
        return [load_model(directory / f"member-{k}", self.settings.device) for k in range(size)]

    def _train_in_processes(self, jobs: list, processes: int, size: int) -> None:
        from thermodefect.core.executors import LocalExecutor

        _, _, train_keys, valid_keys, _, _, target, _ = jobs[0]
        names = ", ".join(job[4].name for job in jobs)
        self.log(f"training {target} models {names} of {size} at once in {processes} processes (one thread each) "
                 f"on {len(train_keys)} structures ({len(valid_keys)} validation)")
        with LocalExecutor(processes) as executor:
            for job, result in executor.map(_train_member, jobs):
                if isinstance(result, BaseException):
                    if isinstance(result, UserInputError):
                        raise result
                    raise UserInputError(f"training {target} {job[4].name} failed ({type(result).__name__}: "
                                         f"{str(result).splitlines()[0] if str(result) else 'no message'})") from None
                self.log(f"trained {target} {job[4].name}")

    def train_hamiltonian(self, dataset, keys: Sequence[str], directory: str | Path, overlap_path: str | Path,
                          size: int | None = None) -> list:
        """The Hamiltonian ensemble of ``keys`` in ``directory`` (baseline, then members); see the module docstring."""
        if not keys:
            raise UserInputError("no labelled structures to train the Hamiltonian model on")
        directory = Path(directory)
        samples = self.samples(dataset, keys)
        baseline = self.baseline(
            samples, directory / BASELINE_FILE,
            lambda: self.two_center_overlap(overlap_path, samples[0].basis, [dataset[k] for k in sorted(keys)]))
        return self.ensemble(dataset, keys, directory, "hamiltonian", size, baseline)

    def train_overlap(self, dataset, keys: Sequence[str], overlap_path: str | Path, network_directory: str | Path):
        """The overlap model: the two-center form at ``overlap_path``, or a network in ``network_directory``."""
        if self.settings.overlap_model == "two_center":
            labelled = [dataset[k] for k in sorted(keys)]
            if not labelled:
                raise UserInputError("no labelled structures: the overlap model needs the basis of one")
            return self.two_center_overlap(overlap_path, labelled[0].basis, labelled)
        return self.ensemble(dataset, keys, network_directory, "overlap", 1)[0]


def _train_member(job: tuple, split: tuple | None = None, progress: bool = False) -> str:
    """Train one ensemble member into its folder (module level: it is sent to worker processes, which
    read their samples from the dataset file themselves)."""
    from thermodefect.data.hamiltonians import HamiltonianDataset
    from thermodefect.hamiltonian.train import train_model

    settings, dataset_path, train_keys, valid_keys, member_dir, seed, target, baseline = job
    if split is None:
        dataset = HamiltonianDataset(dataset_path)
        split = tuple([model_sample(settings, dataset[k]) for k in sorted(keys)] for keys in (train_keys, valid_keys))
    train_model(split[0], split[1], settings, member_dir, seed=seed, target=target, progress=progress, baseline=baseline)
    return str(member_dir)


def _load_saved(path: Path, load):
    """A saved model of the recipe, or a one-line error naming the file (never a silent refit)."""
    try:
        return load(path)
    except UserInputError as exc:
        raise UserInputError(f"{str(exc).splitlines()[0]}; delete {path} to fit it again") from None
