"""tblite GFN1-xTB / GFN2-xTB as reference: energy, forces, H(Γ) and S(Γ) from one SCF.

tblite's ``"hamiltonian-matrix"`` is only the non-self-consistent core part.
The converged Hamiltonian is rebuilt from the SCF solution,

    H = S C diag(ε) C^T S        (C: orbital coefficients, ε: orbital energies),

which satisfies ``H C = S C diag(ε)`` exactly. tblite's orbitals follow the
Wikipedia real-harmonic order (p: y, z, x); they are converted to the package
order once, here. Units out: eV, eV/Å; tblite works in Hartree and Bohr.
Periodic cells use Γ-point sampling with the volume held fixed.
"""

from __future__ import annotations

import importlib.metadata
from functools import lru_cache
from typing import Any

import numpy as np
from ase.calculators.calculator import CalculationFailed
from ase.data import atomic_numbers
from ase.units import Bohr, Hartree, kB

from thermodefect.data.conventions import matrix_to_package, structure_transform
from thermodefect.data.operators import HamiltonianSample, KSpaceMatrices, Structure
from thermodefect.core.errors import UserInputError
from thermodefect.reference.base import Reference, irreps_from_shells

METHODS = ("GFN1-xTB", "GFN2-xTB", "IPEA1-xTB")
ELECTRON_COUNT_DECIMALS = 6


@lru_cache(maxsize=None)
def tblite_basis(method: str, atomic_number: int) -> str:
    """Irreps of tblite's shells for one element (e.g. GFN1 H: "2x0e", Ga: s, p, d)."""
    from tblite.interface import Calculator as TBLite

    calc = TBLite(method, np.array([atomic_number]), np.zeros((1, 3)), uhf=atomic_number % 2)
    return irreps_from_shells(calc.get("angular-momenta"))



PAIR_ELECTRONIC_TEMPERATURE_K = 20000.0  # for pair_overlap only (see there)

class XtbReference(Reference):
    """GFN-xTB through tblite (options: see ``option_defaults``)."""

    name = "xtb"
    provides = frozenset({"energy", "forces", "hamiltonian", "overlap"})
    option_defaults = {
        "method": "GFN1-xTB",
        "accuracy": 1.0,  # tblite's SCF accuracy scale (smaller = tighter)
        "max_iterations": 250,  # SCF cycles before "SCF not converged"
        "electronic_temperature_k": 300.0,  # Fermi smearing, K
        "charge": 0.0,  # total charge, e
    }

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        if options["method"] not in METHODS:
            raise UserInputError(f"reference 'xtb': method {options['method']!r} is not one of {', '.join(METHODS)}")
        for key in ("accuracy", "electronic_temperature_k"):
            if not isinstance(options[key], (int, float)) or options[key] <= 0:
                raise UserInputError(f"reference 'xtb': {key} must be a positive number, got {options[key]!r}")
        if not isinstance(options["max_iterations"], int) or options["max_iterations"] < 1:
            raise UserInputError(f"reference 'xtb': max_iterations must be a positive integer, got {options['max_iterations']!r}")
        charge = options["charge"]
        if isinstance(charge, bool) or not isinstance(charge, (int, float)) or not abs(charge) <= 10:
            raise UserInputError(f"reference 'xtb': charge must be a number of elementary charges in [-10, 10], got {charge!r}")

    def basis(self, element: str) -> str:
        if element not in atomic_numbers:
            raise UserInputError(f"reference 'xtb': unknown element {element!r}")
        return tblite_basis(self.options["method"], atomic_numbers[element])

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "code": "tblite", "code_version": importlib.metadata.version("tblite")}

    def pair_overlap(self, atoms):
        # Stretched pairs (up to ~18 Å) have nearly degenerate levels whose SCF stalls at
        # room-temperature smearing; the overlap is geometric, so a hot electron gas is harmless.
        saved = self.options["electronic_temperature_k"]
        self.options["electronic_temperature_k"] = max(saved, PAIR_ELECTRONIC_TEMPERATURE_K)
        try:
            return super().pair_overlap(atoms)
        finally:
            self.options["electronic_temperature_k"] = saved

    def _tblite(self, atoms):
        from tblite.interface import Calculator as TBLite

        periodic = np.asarray(atoms.pbc, dtype=bool)
        lattice = atoms.cell[:] / Bohr if periodic.any() else None
        calc = TBLite(
            self.options["method"],
            atoms.numbers,
            atoms.positions / Bohr,
            charge=float(self.options["charge"]),
            lattice=lattice,
            periodic=periodic if periodic.any() else None,
        )
        calc.set("verbosity", 0)
        calc.set("accuracy", float(self.options["accuracy"]))
        calc.set("max-iter", int(self.options["max_iterations"]))
        calc.set("temperature", float(self.options["electronic_temperature_k"]) * kB / Hartree)
        if self.wants_hamiltonian:
            calc.set("save-integrals", 1)
        return calc

    def calculate(self, atoms=None, properties=("energy", "forces"), system_changes=()):
        super().calculate(atoms, properties, system_changes)
        from tblite.exceptions import TBLiteRuntimeError, TBLiteValueError

        try:
            calc = self._tblite(self.atoms)
            result = calc.singlepoint()
        except (TBLiteRuntimeError, TBLiteValueError) as exc:
            raise CalculationFailed(f"tblite {self.options['method']}: {exc}") from None
        self.results["energy"] = float(result.get("energy")) * Hartree
        self.results["free_energy"] = self.results["energy"]
        self.results["forces"] = -np.asarray(result.get("gradient")) * Hartree / Bohr
        if self.wants_hamiltonian:
            self.results["hamiltonian_sample"] = self._sample(self.atoms, result)

    def _sample(self, atoms, result) -> HamiltonianSample:
        overlap = np.asarray(result.get("overlap-matrix"))
        coefficients = np.asarray(result.get("orbital-coefficients"))
        energies_ev = np.asarray(result.get("orbital-energies")) * Hartree
        sc = overlap @ coefficients
        hamiltonian_ev = (sc * energies_ev) @ sc.T
        hamiltonian_ev = 0.5 * (hamiltonian_ev + hamiltonian_ev.T)
        basis = {int(z): tblite_basis(self.options["method"], int(z)) for z in set(atoms.numbers.tolist())}
        transform = structure_transform(atoms.numbers, basis, "tblite")
        if transform.shape[0] != overlap.shape[0]:
            raise CalculationFailed(f"tblite returned {overlap.shape[0]} orbitals, the basis has {transform.shape[0]}")
        electrons = float(np.sum(result.get("orbital-occupations")))
        if abs(electrons - round(electrons)) < 10.0**-ELECTRON_COUNT_DECIMALS:
            electrons = float(round(electrons))
        return HamiltonianSample(
            structure=Structure.from_atoms(atoms),
            basis=basis,
            n_electrons=electrons,
            kspace=KSpaceMatrices(
                kpts_frac=np.zeros((1, 3)),
                hamiltonian=matrix_to_package(hamiltonian_ev, transform)[None],
                overlap=matrix_to_package(overlap, transform)[None],
            ),
        )
