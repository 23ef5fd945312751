"""Hamiltonians between the DeepH folder layouts and the package's HDF5 dataset.

:func:`convert_hamiltonians` recognises what ``source`` is:

* a structure folder of either DeepH layout (legacy or DeepH-dock) -> one sample;
* a folder holding such structure folders, at any depth (a DeepH-dock ``dft/``
  tree) -> every one, named by its path below ``source``;
* a :class:`HamiltonianDataset` file -> every sample, named by its key.

and writes ``target`` as ``"deeph"`` or ``"deeph-dock"`` folders (one folder
for a single structure folder, else ``target/<name>/`` per sample) or as a
``"hdf5"`` dataset file (with its ``.h5.d/`` folder). Everything is written
into a hidden folder next to ``target`` and renamed into place at the end, so
bad input or a crash leaves no half-written target; ``target`` must not exist.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from thermodefect.core.errors import RunDirectoryError, UserInputError, describe
from thermodefect.core.files import explain_os_error
from thermodefect.data.deeph import write_deeph
from thermodefect.data.deeph_dock import deeph_layout, read_deeph_any, read_fermi_level_ev, write_deeph_dock
from thermodefect.data.hamiltonians import HamiltonianDataset, sample_key
from thermodefect.data.operators import HamiltonianSample

HDF5 = "hdf5"
FOLDER_WRITERS = {"deeph": write_deeph, "deeph-dock": write_deeph_dock}
TARGETS = (*FOLDER_WRITERS, HDF5)


@dataclass
class SourceEntry:
    """One sample of a source: its name below the target (None: the target itself), how to read it, its Fermi level (eV)."""

    name: str | None
    load: Callable[[], HamiltonianSample]
    fermi_level_ev: float


@dataclass
class ConversionReport:
    n_samples: int
    source_kind: str  # "deeph folder", "deeph-dock folders", "hdf5 dataset", ...
    target: Path


def convert_hamiltonians(
    source: str | Path,
    target: str | Path,
    to: str,
    valence_electrons: dict[str, float] | None = None,
) -> ConversionReport:
    """Convert every sample of ``source`` into ``target`` in the ``to`` form (see the module docstring).

    ``valence_electrons`` (element symbol -> electrons) sets the electron count
    of folders whose ``info.json`` does not record ``n_electrons``; a dataset
    target needs it for those, folder targets record 0 (unknown) otherwise.
    The Fermi level of a source folder carries over to a folder target.
    """
    if to not in TARGETS:
        raise UserInputError(f"unknown target form {to!r}; choose one of {', '.join(TARGETS)}")
    source, target = Path(source), Path(target)
    entries, kind = _source_entries(source, valence_electrons or {})
    if target.exists() or (to == HDF5 and HamiltonianDataset(target).shard_dir.exists()):
        raise UserInputError(f"{target}: already exists; choose a new target (nothing was written)")
    staging = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
    try:
        staging.mkdir(parents=True)
        if to == HDF5:
            _write_dataset(entries, staging, target, source)
        else:
            _write_folders(entries, staging, FOLDER_WRITERS[to], source)
            os.replace(staging, target)
    except OSError as exc:
        raise RunDirectoryError(explain_os_error(exc, target)) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ConversionReport(n_samples=len(entries), source_kind=kind, target=target)


# -- sources -------------------------------------------------------------------
def _source_entries(source: Path, valence: dict[str, float]) -> tuple[list[SourceEntry], str]:
    if source.is_file():
        return _dataset_entries(source), "hdf5 dataset"
    if not source.is_dir():
        raise UserInputError(f"{source}: not found")
    layout = deeph_layout(source)
    if layout is not None:
        return [_folder_entry(None, source, valence)], f"{layout} folder"
    folders = sorted({path.parent for path in source.rglob("info.json") if deeph_layout(path.parent)})
    if not folders:
        raise UserInputError(f"{source}: neither a DeepH structure folder (legacy or DeepH-dock) nor a folder holding any")
    layouts = " and ".join(sorted({deeph_layout(folder) for folder in folders}))
    return [_folder_entry(folder.relative_to(source).as_posix(), folder, valence) for folder in folders], f"{layouts} folders"


def _folder_entry(name: str | None, folder: Path, valence: dict[str, float]) -> SourceEntry:
    def load() -> HamiltonianSample:
        return _with_electrons(read_deeph_any(folder, n_electrons=0.0), valence, folder)

    return SourceEntry(name=name, load=load, fermi_level_ev=read_fermi_level_ev(folder))


def _with_electrons(sample: HamiltonianSample, valence: dict[str, float], folder: Path) -> HamiltonianSample:
    """``n_electrons`` from the valence electrons per element where the folder records none (0 = unknown)."""
    from ase.data import chemical_symbols

    if sample.n_electrons == 0.0 and valence:
        symbols = [chemical_symbols[int(z)] for z in sample.structure.numbers]
        missing = sorted(set(symbols) - set(valence))
        if missing:
            raise UserInputError(f"{folder}: no valence electrons given for {', '.join(missing)} (given for {', '.join(sorted(valence))})")
        sample.n_electrons = float(sum(valence[symbol] for symbol in symbols))
    return sample


def _dataset_entries(path: Path) -> list[SourceEntry]:
    dataset = HamiltonianDataset(path)
    try:
        keys = dataset.keys()
    except UserInputError as exc:
        hint = "; give the structure folder that holds it" if path.name in ("hamiltonian.h5", "hamiltonians.h5", "overlap.h5", "overlaps.h5") else ""
        raise UserInputError(f"{describe(exc)}{hint}") from None
    if not keys:
        raise UserInputError(f"{path}: the Hamiltonian dataset holds no samples")
    return [SourceEntry(name=key, load=lambda key=key: dataset[key], fermi_level_ev=0.0) for key in keys]


def _where(source: Path, name: str | None) -> Path:
    """The source path of one entry, for messages (a dataset key reads as ``dataset.h5/<key>``)."""
    return source if name is None else source / name


def _realspace(sample: HamiltonianSample, name: str | None, source: Path) -> HamiltonianSample:
    if sample.realspace is None:
        raise UserInputError(f"{_where(source, name)}: holds k-space matrices only; the DeepH layouts hold real-space blocks H(R)")
    return sample


# -- targets -------------------------------------------------------------------
def _write_folders(entries: list[SourceEntry], staging: Path, write: Callable, source: Path) -> None:
    for entry in entries:
        sample = _realspace(entry.load(), entry.name, source)
        folder = staging if entry.name is None else staging / entry.name
        try:
            write(sample, folder, fermi_level_ev=entry.fermi_level_ev)
        except UserInputError:
            raise
        except ValueError as exc:  # a basis the target's orbital convention does not cover (OpenMX: l <= 3)
            raise UserInputError(f"{_where(source, entry.name)}: {describe(exc)}") from None


def _write_dataset(entries: list[SourceEntry], staging: Path, target: Path, source: Path) -> None:
    dataset = HamiltonianDataset(staging / target.name)
    names: dict[str, str | None] = {}
    for entry in entries:
        sample = entry.load()
        if sample.n_electrons <= 0.0:
            raise UserInputError(
                f"{_where(source, entry.name)}: the number of valence electrons is not recorded (info.json has no n_electrons); "
                "give the valence electrons per element (e.g. Ga=13,As=15)"
            )
        key = sample_key(sample)
        if key in names:
            raise UserInputError(f"{source}: {names[key]} and {entry.name} hold the same structure; a dataset keeps one sample per structure")
        names[key] = entry.name
        dataset.append(sample)
    shards = target.parent / dataset.shard_dir.name
    os.replace(dataset.shard_dir, shards)
    try:
        os.replace(dataset.path, target)
    except OSError:
        shutil.rmtree(shards, ignore_errors=True)
        raise
