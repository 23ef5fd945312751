"""The reference-calculator interface.

A reference is an ASE calculator (``implemented_properties``, ``calculate()``
filling ``results``, :class:`ase.calculators.calculator.CalculationFailed` on
failure) that also declares what it provides and labels one structure:

* ``provides``: subset of ``{"energy", "forces", "hamiltonian", "overlap"}``;
* ``basis(element) -> str``: e3nn irreps of the element's orbitals;
* ``label(atoms) -> Label``: energy (eV), forces (eV/Å) and, when it provides
  one, a :class:`HamiltonianSample` already in the package orbital convention.

Implementations put the sample in ``results["hamiltonian_sample"]`` when
``self.wants_hamiltonian`` is set, so one calculation yields all labels.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from ase.calculators.calculator import CalculationFailed, Calculator, all_changes

from thermodefect.data.operators import HamiltonianSample
from thermodefect.core.errors import UserInputError

PROPERTIES = frozenset({"energy", "forces", "hamiltonian", "overlap"})


@dataclass
class Label:
    """What one reference calculation produced for one structure."""

    energy_ev: float | None
    forces_ev_per_angstrom: np.ndarray | None  # (n_atoms, 3) eV/Å
    sample: HamiltonianSample | None  # package orbital convention; None if not asked/provided
    seconds: float  # wall time of the calculation


class Reference(Calculator):
    """Base class of reference calculators; subclasses set the class attributes."""

    name: ClassVar[str] = ""
    provides: ClassVar[frozenset[str]] = frozenset({"energy", "forces"})
    option_defaults: ClassVar[dict[str, Any]] = {}
    implemented_properties = ["energy", "forces"]

    def __init__(self, options: dict[str, Any] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.options = self.validate_options(dict(options or {}))
        self.wants_hamiltonian = False

    # -- options ---------------------------------------------------------
    @classmethod
    def validate_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Defaults merged with ``options``; unknown keys -> :class:`UserInputError`."""
        unknown = sorted(set(options) - set(cls.option_defaults))
        if unknown:
            known = ", ".join(sorted(cls.option_defaults)) or "none"
            raise UserInputError(f"reference {cls.name!r}: unknown option(s) {', '.join(unknown)}; known options: {known}")
        merged = {**cls.option_defaults, **options}
        cls.check_options(merged)
        return merged

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        """Check option values; raise :class:`UserInputError` with one line."""

    # -- description -----------------------------------------------------
    def basis(self, element: str) -> str:
        raise UserInputError(f"reference {self.name!r} provides no Hamiltonian, so it has no orbital basis")

    def provenance(self) -> dict[str, Any]:
        return {"reference": self.name, "options": dict(self.options)}

    # -- labelling -------------------------------------------------------
    def pair_overlap(self, atoms) -> HamiltonianSample:
        """Overlap (and Hamiltonian) of two atoms in vacuum, for the two-center overlap fit.

        The overlap only depends on the geometry; subclasses may change SCF
        settings that do not affect it so that stretched pairs converge.
        """
        return self.label(atoms, hamiltonian=True).sample

    def label(self, atoms, hamiltonian: bool | None = None) -> Label:
        """Run one calculation on ``atoms``; raise ``CalculationFailed`` on failure.

        ``hamiltonian=None`` asks for a Hamiltonian whenever the reference
        provides one.
        """
        want = ("hamiltonian" in self.provides) if hamiltonian is None else hamiltonian
        if want and "hamiltonian" not in self.provides:
            raise UserInputError(f"reference {self.name!r} provides no Hamiltonian (it provides {', '.join(sorted(self.provides))})")
        atoms = atoms.copy()
        atoms.calc = None
        properties = [p for p in ("energy", "forces") if p in self.provides]
        self.reset()
        self.wants_hamiltonian = want
        start = time.perf_counter()
        try:
            self.calculate(atoms, properties, all_changes)
        finally:
            self.wants_hamiltonian = False
        seconds = time.perf_counter() - start
        energy = self.results.get("energy")
        forces = self.results.get("forces")
        if energy is not None and not np.isfinite(energy):
            raise CalculationFailed(f"{self.name}: energy is not finite")
        if forces is not None and not np.all(np.isfinite(forces)):
            raise CalculationFailed(f"{self.name}: forces contain NaN or inf")
        sample = self.results.get("hamiltonian_sample") if want else None
        if want and sample is None:
            raise CalculationFailed(f"{self.name}: the calculation returned no Hamiltonian")
        if sample is not None:
            if not np.all(np.isfinite(_matrices_of(sample))):
                raise CalculationFailed(f"{self.name}: Hamiltonian contains NaN or inf")
            sample.energy_ev = None if energy is None else float(energy)
            sample.forces_ev_per_angstrom = None if forces is None else np.array(forces)
            sample.provenance = {**self.provenance(), **sample.provenance}
        return Label(
            energy_ev=None if energy is None else float(energy),
            forces_ev_per_angstrom=None if forces is None else np.array(forces),
            sample=sample,
            seconds=seconds,
        )


def _matrices_of(sample: HamiltonianSample) -> np.ndarray:
    if sample.kspace is not None:
        return np.asarray(sample.kspace.hamiltonian)
    return np.asarray(sample.realspace[0].blocks)


def irreps_from_shells(angular_momenta) -> str:
    """Shell angular momenta in order -> irreps string, e.g. [0, 1, 2] -> "1x0e+1x1o+1x2e"."""
    from thermodefect.data.deeph import irreps_from_orbital_types

    return irreps_from_orbital_types([int(l) for l in angular_momenta])
