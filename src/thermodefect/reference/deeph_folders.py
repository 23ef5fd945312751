"""``deeph``: Hamiltonians a user already has, as DeepH structure folders.

``options = {directory = "path/to/deeph-data", n_electrons_per_element = {Ga = 13, As = 15}}``.
Every sub-folder holding ``hamiltonians.h5`` (legacy DeepH layout) or
``hamiltonian.h5`` with ``info.json`` (DeepH-dock layout) is indexed by its
structure's content key; labelling a structure returns the folder with the same atoms
(Hamiltonian and overlap only; no energy or forces).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from ase.calculators.calculator import CalculationFailed

from thermodefect.data.deeph_dock import DOCK_LAYOUT, deeph_layout, read_deeph_any
from thermodefect.core.keys import structure_key
from thermodefect.core.errors import UserInputError
from thermodefect.reference.base import Reference


class DeepHReference(Reference):
    name = "deeph"
    provides = frozenset({"hamiltonian", "overlap"})
    implemented_properties: list[str] = []
    option_defaults = {"directory": None, "n_electrons_per_element": {}}

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        if not options["directory"] or not Path(options["directory"]).is_dir():
            raise UserInputError(f"reference 'deeph': options.directory must be an existing folder, got {options['directory']!r}")

    @cached_property
    def _folders(self) -> dict[str, Path]:
        index = {}
        root = Path(self.options["directory"])
        folders = {h5.parent for h5 in root.rglob("hamiltonians.h5")}
        folders |= {h5.parent for h5 in root.rglob("hamiltonian.h5") if deeph_layout(h5.parent) == DOCK_LAYOUT}
        for folder in sorted(folders):
            sample = self._read(folder)
            index[structure_key(sample.structure.to_atoms())] = folder
        return index

    def _read(self, folder: Path):
        from ase.data import chemical_symbols

        sample = read_deeph_any(folder, n_electrons=0.0)
        per_element = self.options["n_electrons_per_element"]
        if sample.n_electrons == 0.0 and per_element:
            sample.n_electrons = float(sum(per_element[chemical_symbols[int(z)]] for z in sample.structure.numbers))
        return sample

    def basis(self, element: str) -> str:
        from ase.data import atomic_numbers

        for folder in self._folders.values():
            sample = self._read(folder)
            if atomic_numbers[element] in sample.basis:
                return sample.basis[atomic_numbers[element]]
        raise UserInputError(f"reference 'deeph': no folder contains element {element}")

    def calculate(self, atoms=None, properties=(), system_changes=()):
        super().calculate(atoms, properties, system_changes)
        folder = self._folders.get(structure_key(self.atoms))
        if folder is None:
            raise CalculationFailed(f"deeph: no folder under {self.options['directory']} holds this structure")
        if self.wants_hamiltonian:
            self.results["hamiltonian_sample"] = self._read(folder)
