"""Reference calculators by name.

Built-in entries are import paths ("module:Class"), imported only when asked
for, so the registry works without optional codes (GPAW) installed. A class
that is a :class:`Reference` is built as ``cls(options)``; any other ASE
calculator class (``toy``, ``albe``) is built as ``cls(**options)`` and wrapped
in a :class:`CalculatorReference`; such a class may define a classmethod
``check_options(options)`` that refuses bad option values before it is built.
"""

from __future__ import annotations

from typing import Callable

from thermodefect.core.errors import UserInputError
from thermodefect.core.plugins import import_object
from thermodefect.reference.base import Reference

_REGISTRY: dict[str, str | type] = {
    "xtb": "thermodefect.reference.xtb:XtbReference",
    "gpaw": "thermodefect.reference.gpaw:GpawReference",
    "ase": "thermodefect.reference.ase_calculator:AseReference",
    "deeph": "thermodefect.reference.deeph_folders:DeepHReference",
    "toy": "thermodefect.reference.toy:ToyTightBinding",
    "albe": "thermodefect.potentials.albe:AlbeGaAs",
    "faulty": "thermodefect.reference.faults:FaultyReference",
}


def register_reference(name: str) -> Callable[[type], type]:
    """Class decorator adding a reference (a :class:`Reference` or ASE calculator class)."""

    def decorate(cls: type) -> type:
        _REGISTRY[name] = cls
        return cls

    return decorate


def known_references() -> list[str]:
    return sorted(_REGISTRY)


def reference_class(name: str) -> type:
    if name not in _REGISTRY:
        raise UserInputError(f"unknown reference {name!r}; known references: {', '.join(known_references())}")
    entry = _REGISTRY[name]
    return import_object(entry) if isinstance(entry, str) else entry


def get_reference(settings) -> Reference:
    """Build the reference a :class:`thermodefect.settings.ReferenceSettings` names."""
    cls = reference_class(settings.name)
    options = dict(settings.options)
    if isinstance(cls, type) and issubclass(cls, Reference):
        return cls(options)
    from thermodefect.reference.ase_calculator import CalculatorReference

    check_options = getattr(cls, "check_options", None)
    if callable(check_options):  # ASE calculators take any keyword: check types before building
        check_options(options)
    return CalculatorReference.from_class(settings.name, cls, options)
