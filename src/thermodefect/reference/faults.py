"""Fault injection: a reference that wraps another and makes some calculations fail.

For testing the labelling machinery (retries, timeouts, failures.jsonl,
dataset integrity), never for results. Config::

    [reference.forces]
    name = "faulty"
    options = { reference = "toy", options = {}, fault_rate = 0.2, seed = 0,
                kinds = ["raise", "hang", "nan_forces", "scf"] }

Whether a calculation fails, and how, is a pure function of
``(seed, structure key, attempt)``: the same structure fails the same way on
the same attempt in every process and every rerun, and a retry (attempt + 1)
draws again, so it can succeed. Fault kinds:

* ``raise``       the calculation raises :class:`CalculationFailed`;
* ``hang``        the calculation sleeps ``hang_s`` seconds (past the task
                  timeout, so the executor stops it);
* ``nan_forces``  the wrapped calculation runs, then one force is NaN
                  (the base class refuses the label);
* ``scf``         the calculation reports SCF non-convergence;
* ``kill_worker`` the worker process exits at once (``os._exit``), as a node
                  lost mid-task; only meaningful with a process pool or Parsl
                  (with ``compute.workers = 1`` it would end the run itself).

``delay_s`` adds a sleep to every calculation (a slow reference, to kill a
run mid-labelling).
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

from ase.calculators.calculator import CalculationFailed, all_changes

from thermodefect.core.errors import UserInputError
from thermodefect.reference.base import Reference

FAULT_KINDS = ("raise", "hang", "nan_forces", "scf", "kill_worker")
_UNIT_SCALE = float(2**64)


def injected_fault(seed: int, key: str, attempt: int, fault_rate: float, kinds: tuple[str, ...]) -> str | None:
    """The fault (one of ``kinds``) for this structure key and attempt, or None.

    Deterministic: a hash of ``(seed, key, attempt)`` gives a uniform number
    in [0, 1); below ``fault_rate`` it is a fault, whose kind comes from a
    second part of the same hash.
    """
    digest = hashlib.sha256(f"{seed}:{key}:{attempt}".encode()).digest()
    uniform = int.from_bytes(digest[:8], "big") / _UNIT_SCALE
    if uniform >= fault_rate or not kinds:
        return None
    return kinds[int.from_bytes(digest[8:16], "big") % len(kinds)]


class FaultyReference(Reference):
    """Wraps the reference ``options.reference`` and injects faults (see the module docstring)."""

    name = "faulty"
    option_defaults = {
        "reference": "toy",  # registry name of the wrapped reference
        "options": {},  # its options
        "fault_rate": 0.2,  # probability of a fault per calculation attempt
        "seed": 0,
        "kinds": ["raise", "hang", "nan_forces", "scf"],
        "hang_s": 3600.0,  # s; how long a "hang" sleeps
        "delay_s": 0.0,  # s; added to every calculation
    }

    def __init__(self, options: dict[str, Any] | None = None, **kwargs: Any):
        super().__init__(options, **kwargs)
        from thermodefect.reference.registry import get_reference
        from thermodefect.settings import ReferenceSettings

        self.inner = get_reference(ReferenceSettings(name=self.options["reference"], options=self.options["options"]))
        self.provides = self.inner.provides
        self.implemented_properties = list(self.inner.implemented_properties)
        self.attempt = 1  # set by the labelling worker before each calculation

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        if options["reference"] == cls.name or not isinstance(options["reference"], str):
            raise UserInputError("reference 'faulty': options.reference must name another reference, e.g. \"toy\"")
        if not isinstance(options["options"], dict):
            raise UserInputError("reference 'faulty': options.options must be a table")
        rate = options["fault_rate"]
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
            raise UserInputError(f"reference 'faulty': fault_rate must be a number in [0, 1], got {rate!r}")
        if isinstance(options["seed"], bool) or not isinstance(options["seed"], int):
            raise UserInputError(f"reference 'faulty': seed must be an integer, got {options['seed']!r}")
        kinds = options["kinds"]
        if not isinstance(kinds, list) or not kinds or any(k not in FAULT_KINDS for k in kinds):
            raise UserInputError(f"reference 'faulty': kinds must be a non-empty list from {', '.join(FAULT_KINDS)}; got {kinds!r}")
        for key in ("hang_s", "delay_s"):
            value = options[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise UserInputError(f"reference 'faulty': {key} must be a number >= 0 (seconds), got {value!r}")

    def basis(self, element: str) -> str:
        return self.inner.basis(element)

    def provenance(self) -> dict[str, Any]:
        return self.inner.provenance()

    def fault_for(self, atoms) -> str | None:
        from thermodefect.core.keys import structure_key

        o = self.options
        return injected_fault(o["seed"], structure_key(atoms), self.attempt, float(o["fault_rate"]), tuple(o["kinds"]))

    def calculate(self, atoms=None, properties=("energy", "forces"), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        fault = self.fault_for(self.atoms)
        if self.options["delay_s"]:
            time.sleep(self.options["delay_s"])
        if fault == "raise":
            raise CalculationFailed(f"faulty({self.inner.name}): injected crash")
        if fault == "scf":
            raise CalculationFailed(f"faulty({self.inner.name}): SCF not converged (injected)")
        if fault == "kill_worker":
            os._exit(3)
        if fault == "hang":
            time.sleep(self.options["hang_s"])
            raise CalculationFailed(f"faulty({self.inner.name}): injected hang ended without a timeout")
        self.inner.reset()
        self.inner.wants_hamiltonian = self.wants_hamiltonian
        try:
            self.inner.calculate(self.atoms.copy(), properties, all_changes)
        finally:
            self.inner.wants_hamiltonian = False
        self.results = dict(self.inner.results)
        if fault == "nan_forces":
            forces = self.results["forces"].copy()
            forces[0, 0] = float("nan")
            self.results["forces"] = forces
