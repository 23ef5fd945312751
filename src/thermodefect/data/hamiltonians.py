"""Many :class:`HamiltonianSample` entries in HDF5, appended crash-safely.

Layout (``run/data/hamiltonians.h5`` plus the folder ``hamiltonians.h5.d/``)::

    hamiltonians.h5              index: attrs format, version
      samples/<key>              one group per committed sample (attrs only):
                                   shard     relative path of its data file
                                   metadata  JSON (defect, temperature_k, ...)
                                   n_atoms, formula
    hamiltonians.h5.d/<key>.h5   one sample:
      numbers (n_atoms,) int; positions (n_atoms, 3) Å; cell (3, 3) Å; pbc (3,)
      attrs: basis (JSON {Z: irreps}), n_electrons, energy_ev, metadata (JSON),
             provenance (JSON)
      forces_ev_per_angstrom (n_atoms, 3)                 optional
      kspace/    kpts_frac (n_k, 3); hamiltonian (n_k, n, n) eV; overlap (n_k, n, n)
      realspace/hamiltonian/ and realspace/overlap/:
                 edge_index (2, n_edges); cell_shift (n_edges, 3); blocks (n_edges, m, m)

Why shards: an append writes the sample's own file (temporary name, then
``os.replace``) and then replaces the small index the same way. A crash at
any point leaves the previous index, which names only complete samples; an
orphaned shard is simply overwritten by the next append of that key. Copying
one growing file on each append would cost O(dataset) per label instead.

Keys are :func:`thermodefect.core.keys.structure_key` of the structure.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from thermodefect.core.keys import structure_key
from thermodefect.data.operators import BlockOperator, HamiltonianSample, KSpaceMatrices, Structure
from thermodefect.core.errors import UserInputError
from thermodefect.core.files import replace_atomically, to_json

FORMAT_NAME = "thermodefect-hamiltonians"
FORMAT_VERSION = 1


class DatasetError(UserInputError):
    """A Hamiltonian dataset that cannot be read; one-line message."""


def sample_key(sample: HamiltonianSample) -> str:
    return structure_key(sample.structure.to_atoms())


def _write_operator(group, op: BlockOperator) -> None:
    group.create_dataset("edge_index", data=op.edge_index)
    group.create_dataset("cell_shift", data=op.cell_shift)
    group.create_dataset("blocks", data=op.blocks)


def _read_operator(group, structure: Structure, basis: dict[int, str]) -> BlockOperator:
    return BlockOperator(
        structure=structure,
        basis=basis,
        edge_index=group["edge_index"][()],
        cell_shift=group["cell_shift"][()],
        blocks=group["blocks"][()],
    )


def write_sample_file(path: Path, sample: HamiltonianSample) -> None:
    """Write one sample to its own HDF5 file (not atomic by itself)."""
    import h5py

    with h5py.File(path, "w") as f:
        st = sample.structure
        f.create_dataset("numbers", data=st.numbers)
        f.create_dataset("positions", data=st.positions)
        f.create_dataset("cell", data=st.cell)
        f.create_dataset("pbc", data=np.asarray(st.pbc, dtype=np.int8))
        f.attrs["basis"] = to_json({str(z): irreps for z, irreps in sample.basis.items()})
        f.attrs["n_electrons"] = float(sample.n_electrons)
        if sample.energy_ev is not None:
            f.attrs["energy_ev"] = float(sample.energy_ev)
        f.attrs["metadata"] = to_json(sample.metadata)
        f.attrs["provenance"] = to_json(sample.provenance)
        if sample.forces_ev_per_angstrom is not None:
            f.create_dataset("forces_ev_per_angstrom", data=np.asarray(sample.forces_ev_per_angstrom))
        if sample.kspace is not None:
            g = f.create_group("kspace")
            g.create_dataset("kpts_frac", data=sample.kspace.kpts_frac)
            g.create_dataset("hamiltonian", data=sample.kspace.hamiltonian)
            if sample.kspace.overlap is not None:
                g.create_dataset("overlap", data=sample.kspace.overlap)
        else:
            h, s = sample.realspace
            _write_operator(f.create_group("realspace/hamiltonian"), h)
            if s is not None:
                _write_operator(f.create_group("realspace/overlap"), s)


def read_sample_file(path: Path) -> HamiltonianSample:
    import h5py

    with h5py.File(path, "r") as f:
        structure = Structure(
            numbers=f["numbers"][()],
            positions=f["positions"][()],
            cell=f["cell"][()],
            pbc=tuple(bool(p) for p in f["pbc"][()]),
        )
        basis = {int(z): irreps for z, irreps in json.loads(f.attrs["basis"]).items()}
        kspace = realspace = None
        if "kspace" in f:
            g = f["kspace"]
            kspace = KSpaceMatrices(
                kpts_frac=g["kpts_frac"][()],
                hamiltonian=g["hamiltonian"][()],
                overlap=g["overlap"][()] if "overlap" in g else None,
            )
        else:
            h = _read_operator(f["realspace/hamiltonian"], structure, basis)
            s = _read_operator(f["realspace/overlap"], structure, basis) if "realspace/overlap" in f else None
            realspace = (h, s)
        return HamiltonianSample(
            structure=structure,
            basis=basis,
            n_electrons=float(f.attrs["n_electrons"]),
            realspace=realspace,
            kspace=kspace,
            energy_ev=float(f.attrs["energy_ev"]) if "energy_ev" in f.attrs else None,
            forces_ev_per_angstrom=f["forces_ev_per_angstrom"][()] if "forces_ev_per_angstrom" in f else None,
            metadata=json.loads(f.attrs["metadata"]),
            provenance=json.loads(f.attrs["provenance"]),
        )


class HamiltonianDataset:
    """Labelled Hamiltonian samples keyed by structure content hash.

    ``append(sample) -> key``; ``key in dataset``; ``keys()``;
    ``dataset[key] -> HamiltonianSample``; ``len(dataset)``;
    ``metadata(key) -> dict`` (without reading the matrices).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.shard_dir = self.path.with_name(self.path.name + ".d")

    # -- reading ---------------------------------------------------------
    def _index(self) -> dict[str, dict[str, Any]]:
        import h5py

        if not self.path.exists():
            return {}
        try:
            with h5py.File(self.path, "r") as f:
                if f.attrs.get("format") != FORMAT_NAME:
                    raise DatasetError(f"{self.path}: not a thermodefect Hamiltonian dataset")
                return {
                    key: {
                        "shard": str(g.attrs["shard"]),
                        "metadata": json.loads(g.attrs["metadata"]),
                        "n_atoms": int(g.attrs["n_atoms"]),
                        "formula": str(g.attrs["formula"]),
                    }
                    for key, g in f.get("samples", {}).items()
                }
        except OSError as exc:
            raise DatasetError(f"{self.path}: cannot read the Hamiltonian dataset ({exc})") from None

    def keys(self) -> list[str]:
        return list(self._index())

    def __contains__(self, key: object) -> bool:
        return key in self._index()

    def __len__(self) -> int:
        return len(self._index())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def metadata(self, key: str) -> dict[str, Any]:
        try:
            entry = self._index()[key]
        except KeyError:
            raise KeyError(f"{self.path}: no sample {key!r}") from None
        return dict(entry["metadata"], n_atoms=entry["n_atoms"], formula=entry["formula"])

    def __getitem__(self, key: str) -> HamiltonianSample:
        index = self._index()
        if key not in index:
            raise KeyError(f"{self.path}: no sample {key!r}")
        shard = self.path.parent / index[key]["shard"]
        # The index is data: a shard path that leaves the shard folder (``../``, absolute) is never read.
        if self.shard_dir.resolve() not in shard.resolve().parents:
            raise DatasetError(f"{self.path}: sample {key} points outside {self.shard_dir.name}/ ({index[key]['shard']}); refused")
        try:
            return read_sample_file(shard)
        except (OSError, KeyError, ValueError, json.JSONDecodeError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DatasetError(f"{shard}: sample {key} is missing or unreadable ({first})") from None

    # -- writing ---------------------------------------------------------
    def append(self, sample: HamiltonianSample) -> str:
        """Store ``sample`` (replacing an entry with the same key); return its key."""
        key = sample_key(sample)
        shard = self.shard_dir / f"{key}.h5"
        replace_atomically(shard, lambda tmp: write_sample_file(tmp, sample))
        atoms = sample.structure.to_atoms()
        entry = {
            "shard": os.path.relpath(shard, self.path.parent),
            "metadata": sample.metadata,
            "n_atoms": len(atoms),
            "formula": atoms.get_chemical_formula(),
        }
        replace_atomically(self.path, lambda tmp: self._write_index_with(tmp, key, entry))
        return key

    def _write_index_with(self, tmp: Path, key: str, entry: dict[str, Any]) -> None:
        import h5py

        if self.path.exists():
            shutil.copyfile(self.path, tmp)
        with h5py.File(tmp, "a") as f:
            f.attrs["format"] = FORMAT_NAME
            f.attrs["version"] = FORMAT_VERSION
            samples = f.require_group("samples")
            if key in samples:
                del samples[key]
            g = samples.create_group(key)
            g.attrs["shard"] = entry["shard"]
            g.attrs["metadata"] = to_json(entry["metadata"])
            g.attrs["n_atoms"] = entry["n_atoms"]
            g.attrs["formula"] = entry["formula"]
