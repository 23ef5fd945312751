"""A MACE ensemble: mean predictions, force uncertainty, and an ASE calculator for MD.

Force uncertainty of atom i (eV/Å)::

    u_i = sqrt( sum_{a in x,y,z} std_k(F_{k,i,a})^2 )

where ``std_k`` is the population standard deviation (ddof = 0) over the N
models k of the Cartesian component a: the Euclidean norm of the
per-component standard deviation. A structure's uncertainty is
``max_i u_i`` (as published; a defect shows up through its few atoms) and
``mean_i u_i`` is recorded too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms

from thermodefect.forcefield.training import ForceFieldError


@dataclass(frozen=True)
class EnsemblePrediction:
    """Ensemble predictions for one structure."""

    energies_ev: np.ndarray  # (n_models,) total energy per model
    forces_ev_per_angstrom: np.ndarray  # (n_models, n_atoms, 3) per-model forces

    @property
    def mean_energy_ev(self) -> float:
        return float(self.energies_ev.mean())

    @property
    def mean_forces_ev_per_angstrom(self) -> np.ndarray:  # (n_atoms, 3)
        return self.forces_ev_per_angstrom.mean(axis=0)

    @property
    def atom_force_uncertainty_ev_per_angstrom(self) -> np.ndarray:  # (n_atoms,)
        return np.linalg.norm(self.forces_ev_per_angstrom.std(axis=0, ddof=0), axis=1)

    @property
    def max_force_uncertainty_ev_per_angstrom(self) -> float:
        return float(self.atom_force_uncertainty_ev_per_angstrom.max())

    @property
    def mean_force_uncertainty_ev_per_angstrom(self) -> float:
        return float(self.atom_force_uncertainty_ev_per_angstrom.mean())


class ForceFieldEnsemble:
    """N MACE models (``.model`` files from :func:`train_ensemble`) evaluated together.

    All models run on every structure through one
    :class:`mace.calculators.MACECalculator` committee (one neighbour list,
    one graph per structure, one forward pass per model). The files are read
    by :func:`~thermodefect.forcefield.model_files.read_mace_model`, which
    never runs code from them; paths out of a run directory must first pass
    :meth:`~thermodefect.core.rundir.Manifest.verified`.
    """

    def __init__(self, model_paths: Sequence[str | Path], device: str = "cpu", default_dtype: str = "float32",
                 baseline: str = "none"):
        from thermodefect.forcefield.baseline import baseline_calculator
        from thermodefect.forcefield.model_files import read_mace_model

        # Δ-learned models (forcefield.baseline): every energy and force is baseline + MACE.
        self.baseline = baseline
        baseline_calculator(baseline)  # an unknown name fails here, before any model is read

        self.model_paths = [Path(p) for p in model_paths]
        missing = [str(p) for p in self.model_paths if not p.is_file()]
        if not self.model_paths or missing:
            raise ForceFieldError(f"MACE model file(s) not found: {', '.join(missing) or '(none given)'}")
        self.device = device
        self.default_dtype = default_dtype
        models = [read_mace_model(p) for p in self.model_paths]
        self._models = [m.double() if default_dtype == "float64" else m.float() for m in models]
        self._committee = self._calculator(self._models)

    def _calculator(self, models: list):
        from mace.calculators import MACECalculator

        try:
            return MACECalculator(models=models, device=self.device, default_dtype=self.default_dtype)
        except Exception as exc:  # a device mace-torch cannot use, ...
            raise ForceFieldError(f"cannot run MACE model(s) {[str(p) for p in self.model_paths]} on {self.device}: {type(exc).__name__}: {exc}".splitlines()[0]) from None

    def __len__(self) -> int:
        return len(self.model_paths)

    def predict(self, atoms: Atoms) -> EnsemblePrediction:
        """Per-model energy and forces of one structure."""
        probe = atoms.copy()
        probe.calc = self._committee
        probe.get_potential_energy()
        results = self._committee.results
        if len(self) == 1:
            energies, forces = np.array([results["energy"]]), results["forces"][None].copy()
        else:
            energies, forces = np.asarray(results["energy_comm"]).reshape(-1), np.asarray(results["forces_comm"]).copy()
        if self.baseline != "none":
            from thermodefect.forcefield.baseline import baseline_energy_forces

            base_energy, base_forces = baseline_energy_forces(atoms, self.baseline)
            energies, forces = energies + base_energy, forces + base_forces[None]
        return EnsemblePrediction(energies, forces)

    def predict_many(self, structures: Sequence[Atoms], progress: bool = False) -> list[EnsemblePrediction]:
        from tqdm.auto import tqdm

        return [self.predict(a) for a in tqdm(structures, desc="ensemble", disable=not progress, leave=False)]

    def force_uncertainty(self, structures: Sequence[Atoms]) -> dict[str, np.ndarray]:
        """Uncertainty of many structures.

        Returns ``{"max": (n_structures,), "mean": (n_structures,)}`` in eV/Å
        (max and mean over atoms of ``u_i``, see the module docstring).
        """
        predictions = self.predict_many(structures)
        return {
            "max": np.array([p.max_force_uncertainty_ev_per_angstrom for p in predictions]),
            "mean": np.array([p.mean_force_uncertainty_ev_per_angstrom for p in predictions]),
        }

    def calculator(self, mode: str = "first"):
        """An ASE calculator for MD.

        ``"first"`` (default): model 0 alone — N times cheaper, and the
        ensemble spread is evaluated afterwards on the sampled frames.
        ``"mean"``: the committee, whose energy and forces are the ensemble
        mean (the per-model results stay in ``calc.results["forces_comm"]``).
        With a baseline, an :class:`ase.calculators.mixing.SumCalculator` of
        the baseline and the MACE calculator.
        """
        if mode == "mean":
            mace = self._committee
        elif mode == "first":
            mace = self._calculator(self._models[:1])
        else:
            raise ValueError(f"calculator mode must be 'first' or 'mean', got {mode!r}")
        if self.baseline == "none":
            return mace
        from ase.calculators.mixing import SumCalculator

        from thermodefect.forcefield.baseline import baseline_calculator

        return SumCalculator([baseline_calculator(self.baseline), mace])
