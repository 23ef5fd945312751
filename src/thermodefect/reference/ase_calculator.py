"""Any ASE calculator as a reference for energies and forces.

``[reference.forces] name = "ase"`` with
``options = { calculator = "ase.calculators.vasp.Vasp", kwargs = {...} }``
builds ``Vasp(**kwargs)``: VASP, Quantum ESPRESSO, CP2K, ... on a cluster.
A wrapped calculator that also has ``hamiltonian_sample(atoms)`` (the ``toy``
model) provides a Hamiltonian as well.
"""

from __future__ import annotations

from typing import Any

from ase.calculators.calculator import CalculationFailed

from thermodefect.core.errors import UserInputError
from thermodefect.core.plugins import import_object
from thermodefect.reference.base import Reference


class CalculatorReference(Reference):
    """Wraps one ASE calculator instance; energy and forces (+ Hamiltonian if it has one)."""

    name = "calculator"

    def __init__(self, calculator, name: str, options: dict[str, Any]):
        self.calculator = calculator
        self.name = name
        has_h = callable(getattr(calculator, "hamiltonian_sample", None))
        self.provides = frozenset({"energy", "forces"} | ({"hamiltonian", "overlap"} if has_h else set()))
        super().__init__(options)

    @classmethod
    def validate_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        return options  # the wrapped calculator's constructor has checked them

    @classmethod
    def from_class(cls, name: str, calculator_class: type, options: dict[str, Any]) -> "CalculatorReference":
        unknown = _unknown_keywords(calculator_class, options)
        if unknown:
            raise UserInputError(f"reference {name!r}: unknown option(s) {', '.join(unknown)}")
        try:
            calculator = calculator_class(**options)
        except TypeError as exc:
            raise UserInputError(f"reference {name!r}: bad options {sorted(options)} ({exc})") from None
        return cls(calculator, name, options)

    def basis(self, element: str) -> str:
        basis = getattr(self.calculator, "basis", None)
        if callable(basis):
            return basis(element)
        if isinstance(basis, dict):
            from ase.data import atomic_numbers

            return basis.get(element) or basis[atomic_numbers[element]]
        return super().basis(element)

    def calculate(self, atoms=None, properties=("energy", "forces"), system_changes=()):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms.copy()
        atoms.calc = self.calculator
        try:
            self.results["energy"] = float(atoms.get_potential_energy())
            self.results["forces"] = atoms.get_forces()
            if self.wants_hamiltonian:
                self.results["hamiltonian_sample"] = self.calculator.hamiltonian_sample(atoms)
        except CalculationFailed:
            raise
        except Exception as exc:  # codes raise anything; a failed label is recorded, not fatal
            raise CalculationFailed(f"{self.name}: {type(exc).__name__}: {exc}") from exc


def _unknown_keywords(calculator_class: type, options: dict[str, Any]) -> list[str]:
    """Options an ASE calculator class would swallow silently through ``**kwargs``.

    ``ase.calculators.calculator.Calculator`` stores any keyword as a
    parameter, so a misspelt option would be ignored without a word.
    """
    import inspect

    from ase.calculators.calculator import Calculator

    def named(function) -> tuple[set[str], bool]:
        params = inspect.signature(function).parameters.values()
        names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self"}
        return names, any(p.kind is p.VAR_KEYWORD for p in params)

    names, open_ended = named(calculator_class)
    if not open_ended:
        return []  # Python itself rejects unknown keywords
    allowed = names | named(Calculator.__init__)[0] | set(getattr(calculator_class, "default_parameters", {}) or {})
    return sorted(set(options) - allowed)


class AseReference(CalculatorReference):
    """``options = {calculator = "module.Class", kwargs = {...}}`` -> ``Class(**kwargs)``."""

    name = "ase"

    def __init__(self, options: dict[str, Any] | None = None):
        options = dict(options or {})
        unknown = sorted(set(options) - {"calculator", "kwargs"})
        if unknown:
            raise UserInputError(f"reference 'ase': unknown option(s) {', '.join(unknown)}; known options: calculator, kwargs")
        path = options.get("calculator")
        if not isinstance(path, str) or not path:
            raise UserInputError('reference \'ase\': set options.calculator to an import path, e.g. "ase.calculators.emt.EMT"')
        kwargs = options.get("kwargs", {})
        if not isinstance(kwargs, dict):
            raise UserInputError("reference 'ase': options.kwargs must be a table of keyword arguments")
        calculator_class = import_object(path)
        try:
            calculator = calculator_class(**kwargs)
        except TypeError as exc:
            raise UserInputError(f"reference 'ase': {path}({', '.join(kwargs)}) failed: {exc}") from None
        super().__init__(calculator, "ase", {"calculator": path, "kwargs": kwargs})
