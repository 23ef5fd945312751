"""Force labels as extended XYZ, in the keys mace-torch reads.

Each frame stores the reference energy in ``atoms.info["REF_energy"]`` (eV)
and forces in ``atoms.arrays["REF_forces"]`` (eV/Å) -- pass
``--energy_key REF_energy --forces_key REF_forces`` to mace-torch (the
forcefield stage does). Further info keys: ``config_type``, ``defect``,
``temperature_k`` (K) and ``structure_key`` (content hash, see
:mod:`thermodefect.core.keys`).

Appending rewrites the file through a temporary copy and an atomic rename, so
a crash never leaves half a frame behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np

from thermodefect.core.keys import CONFIG_TYPE, DEFECT, TEMPERATURE_K
from thermodefect.core.keys import structure_key
from thermodefect.core.errors import UserInputError

ENERGY_KEY = "REF_energy"  # float, eV
FORCES_KEY = "REF_forces"  # (n_atoms, 3) float, eV/Å
KEY_INFO = "structure_key"  # str, content hash
METADATA_KEYS = (CONFIG_TYPE, DEFECT, TEMPERATURE_K)


def labelled_atoms(atoms, energy_ev: float, forces_ev_per_angstrom: np.ndarray, metadata: dict[str, Any] | None = None):
    """A copy of ``atoms`` carrying its labels under the mace-torch keys."""
    out = atoms.copy()
    out.calc = None
    for key in (ENERGY_KEY, FORCES_KEY):
        out.info.pop(key, None)
        out.arrays.pop(key, None)
    out.info[ENERGY_KEY] = float(energy_ev)
    out.arrays[FORCES_KEY] = np.asarray(forces_ev_per_angstrom, dtype=np.float64).reshape(len(atoms), 3)
    for key, value in (metadata or {}).items():
        if value is not None:
            out.info[key] = value
    out.info.setdefault(CONFIG_TYPE, "Default")
    out.info[KEY_INFO] = structure_key(atoms)
    return out


class ForcesDataset:
    """Labelled frames in one extended-XYZ file (``run/data/forces.extxyz``)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._keys: list[str] | None = None

    def read(self) -> list:
        """All frames as ``ase.Atoms`` with ``REF_energy``/``REF_forces``."""
        from ase.io import read

        if not self.path.exists():
            return []
        try:
            frames = read(str(self.path), index=":", format="extxyz")
        except Exception as exc:  # ASE raises many types on malformed files
            raise UserInputError(f"{self.path}: not a readable extended XYZ force dataset ({exc})") from None
        for atoms in frames:
            if KEY_INFO not in atoms.info:
                atoms.info[KEY_INFO] = structure_key(atoms)
        return frames

    def keys(self) -> list[str]:
        if self._keys is None:
            self._keys = [atoms.info[KEY_INFO] for atoms in self.read()]
        return list(self._keys)

    def __contains__(self, key: str) -> bool:
        return key in set(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def append(self, frames: Iterable) -> list[str]:
        """Append labelled frames (from :func:`labelled_atoms`); returns their keys."""
        import io

        from ase.io import write

        from thermodefect.core.files import atomic_write_bytes

        frames = list(frames)
        for atoms in frames:
            if ENERGY_KEY not in atoms.info or FORCES_KEY not in atoms.arrays:
                raise ValueError(f"frame lacks {ENERGY_KEY}/{FORCES_KEY}; build it with labelled_atoms()")
        buffer = io.StringIO()
        write(buffer, frames, format="extxyz")
        old = self.path.read_bytes() if self.path.exists() else b""
        atomic_write_bytes(self.path, old + buffer.getvalue().encode())
        keys = [atoms.info[KEY_INFO] for atoms in frames]
        if self._keys is not None:
            self._keys.extend(keys)
        return keys
