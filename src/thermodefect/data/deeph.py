"""The DeepH per-structure folder layout <-> :class:`HamiltonianSample`.

One folder per structure (as written by the DeepH tools from OpenMX/ABACUS)::

    lat.dat             3x3, lattice vectors as COLUMNS, Å
    rlat.dat            3x3, reciprocal vectors (2π/a) as columns, 1/Å (written, not read)
    element.dat         atomic number per atom, one per line
    site_positions.dat  3 x n_atoms, Cartesian positions as columns, Å
    orbital_types.dat   per atom one line: the l of each shell (e.g. "0 0 1 1 2")
    info.json           nsites, isorthogonal, isspinful, norbits, fermi_level (eV);
                        this package adds n_electrons, metadata, provenance
    hamiltonians.h5     datasets "[Rx, Ry, Rz, i, j]" (1-based atoms), eV
    overlaps.h5         same keys, dimensionless

Blocks in these files use OpenMX's orbital order; they are converted to the
package order (:mod:`thermodefect.data.conventions`) on reading and back on
writing. ``H_ij(R) = <phi_i(r - r_i)|H|phi_j(r - r_j - R)>``, the same
convention as :class:`BlockOperator`.

The current DeepH-dock layout (``POSCAR``, ``hamiltonian.h5``, ...) is
:mod:`thermodefect.data.deeph_dock`, whose ``read_deeph_any`` reads either layout.
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from itertools import groupby
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from thermodefect.data.conventions import block_from_package, block_to_package
from thermodefect.data.operators import BlockOperator, HamiltonianSample, Structure, orbital_offsets
from thermodefect.core.errors import UserInputError, describe
from thermodefect.orbitals import parse_basis

KEY_PATTERN = re.compile(r"^\[\s*(-?\d+),\s*(-?\d+),\s*(-?\d+),\s*(\d+),\s*(\d+)\s*\]$")
REQUIRED_FILES = ("lat.dat", "element.dat", "site_positions.dat", "orbital_types.dat", "info.json", "hamiltonians.h5")


class DeepHFormatError(UserInputError):
    """A folder that is not a readable DeepH structure; one-line message."""


def irreps_from_orbital_types(ls: list[int]) -> str:
    """``[0, 0, 1, 2]`` -> ``"2x0e+1x1o+1x2e"`` (shell order kept)."""
    parts = [f"{len(list(run))}x{l}{'e' if l % 2 == 0 else 'o'}" for l, run in groupby(ls)]
    return "+".join(parts)


def orbital_types_from_irreps(irreps: str) -> list[int]:
    return [l for l, _ in parse_basis(irreps)]


def deeph_key(cell_shift, i: int, j: int) -> str:
    """DeepH dataset name of block (R, i, j) with 0-based atoms ``i, j``."""
    rx, ry, rz = (int(x) for x in cell_shift)
    return f"[{rx}, {ry}, {rz}, {i + 1}, {j + 1}]"


def code_blocks(op: BlockOperator, convention: str) -> Iterator[tuple[tuple[int, int, int], int, int, np.ndarray]]:
    """Each edge of ``op`` as ``(R, i, j, block)``, the block (n_orb_i, n_orb_j) in ``convention``'s orbital order."""
    numbers = op.structure.numbers
    for e in range(op.n_edges):
        i, j = (int(x) for x in op.edge_index[:, e])
        shift = tuple(int(x) for x in op.cell_shift[e])
        yield shift, i, j, block_from_package(op.block(e), op.basis[int(numbers[i])], op.basis[int(numbers[j])], convention)


def operator_from_code_blocks(
    structure: Structure,
    basis: dict[int, str],
    blocks: Iterable[tuple[str, tuple[int, int, int], int, int, np.ndarray]],
    convention: str,
    source: Path,
) -> BlockOperator:
    """A :class:`BlockOperator` (package order) from ``(label, R, i, j, block)`` in ``convention``'s order.

    ``i, j`` are 0-based atoms; ``label`` names the block in error messages
    (as the file names it). Atoms outside the structure and blocks whose
    shape is not (n_orb_i, n_orb_j) raise :class:`DeepHFormatError`.
    """
    sizes = np.diff(orbital_offsets(structure.numbers, basis))
    width = int(sizes.max())
    edges, shifts, padded_blocks = [], [], []
    for label, shift, i, j, block in blocks:
        if not (0 <= i < len(sizes) and 0 <= j < len(sizes)):
            raise DeepHFormatError(f"{source}: block {label} names an atom outside the structure's {len(sizes)} atoms")
        if block.shape != (sizes[i], sizes[j]):
            raise DeepHFormatError(
                f"{source}: block {label} has shape {block.shape}, the orbital basis of its atoms needs {(int(sizes[i]), int(sizes[j]))}"
            )
        z_i, z_j = int(structure.numbers[i]), int(structure.numbers[j])
        padded = np.zeros((width, width), dtype=block.dtype)
        padded[: sizes[i], : sizes[j]] = block_to_package(block, basis[z_i], basis[z_j], convention)
        edges.append((i, j))
        shifts.append(shift)
        padded_blocks.append(padded)
    return BlockOperator(
        structure=structure,
        basis=basis,
        edge_index=np.asarray(edges, dtype=np.int64).reshape(-1, 2).T,
        cell_shift=np.asarray(shifts, dtype=np.int64).reshape(-1, 3),
        blocks=np.asarray(padded_blocks).reshape(-1, width, width),
    )


def _write_blocks(path: Path, op: BlockOperator) -> None:
    import h5py

    with h5py.File(path, "w") as f:
        for shift, i, j, block in code_blocks(op, "openmx"):
            f.create_dataset(deeph_key(shift, i, j), data=block)


def _read_blocks(path: Path, structure: Structure, basis: dict[int, str]) -> BlockOperator:
    def named_blocks(f):
        for name in f.keys():
            match = KEY_PATTERN.match(name)
            if match is None:
                raise DeepHFormatError(f"{path}: dataset {name!r} is not of the form '[Rx, Ry, Rz, i, j]'")
            rx, ry, rz, i, j = (int(x) for x in match.groups())
            yield name, (rx, ry, rz), i - 1, j - 1, f[name][()]

    with open_h5(path) as f:
        return operator_from_code_blocks(structure, basis, named_blocks(f), "openmx", path)


def write_deeph(sample: HamiltonianSample, folder: str | Path, fermi_level_ev: float = 0.0) -> Path:
    """Write a real-space sample as one DeepH structure folder; returns the folder."""
    if sample.realspace is None:
        raise ValueError("the DeepH layout holds real-space blocks; this sample has only k-space matrices")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    st = sample.structure
    np.savetxt(folder / "lat.dat", st.cell.T)
    np.savetxt(folder / "rlat.dat", 2 * np.pi * np.linalg.inv(st.cell))
    np.savetxt(folder / "element.dat", st.numbers, fmt="%d")
    np.savetxt(folder / "site_positions.dat", st.positions.T)
    with open(folder / "orbital_types.dat", "w") as fh:
        for z in st.numbers:
            fh.write(" ".join(str(l) for l in orbital_types_from_irreps(sample.basis[int(z)])) + "\n")
    h, s = sample.realspace
    info = {
        "nsites": int(len(st.numbers)),
        "isorthogonal": s is None,
        "isspinful": False,
        "norbits": int(orbital_offsets(st.numbers, sample.basis)[-1]),
        "fermi_level": float(fermi_level_ev),
        "n_electrons": float(sample.n_electrons),
        "metadata": sample.metadata,
        "provenance": sample.provenance,
    }
    (folder / "info.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
    _write_blocks(folder / "hamiltonians.h5", h)
    if s is not None:
        _write_blocks(folder / "overlaps.h5", s)
    return folder


def read_info(folder: Path) -> dict:
    """``info.json`` of a structure folder as a dict (either layout)."""
    try:
        info = json.loads((folder / "info.json").read_text())
    except (OSError, ValueError) as exc:
        raise DeepHFormatError(f"{folder / 'info.json'}: not readable JSON ({describe(exc)})") from None
    if not isinstance(info, dict):
        raise DeepHFormatError(f"{folder / 'info.json'}: must hold a JSON object, got {type(info).__name__}")
    return info


def recorded_electrons(folder: Path, info: dict, n_electrons: float | None) -> float:
    """The valence electron count: ``info.json``'s ``n_electrons``, else the caller's."""
    electrons = info.get("n_electrons", n_electrons)
    if electrons is None:
        raise DeepHFormatError(f"{folder}: info.json has no n_electrons; pass the number of valence electrons")
    return float(electrons)


def folder_sample(
    folder: Path,
    info: dict,
    structure: Structure,
    basis: dict[int, str],
    operators: tuple[BlockOperator, BlockOperator | None],
    electrons: float,
    layout: str,
) -> HamiltonianSample:
    """The sample of one structure folder; ``info.json`` may carry this package's metadata and provenance."""
    return HamiltonianSample(
        structure=structure,
        basis=basis,
        n_electrons=electrons,
        realspace=operators,
        metadata=dict(info.get("metadata", {})),
        provenance=dict(info.get("provenance", {"reference": layout, "folder": str(folder)})),
    )


@contextmanager
def open_h5(path: Path):
    """``h5py.File(path, "r")`` with an unreadable file as a one-line :class:`DeepHFormatError`."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DeepHFormatError(f"{path}: not a readable HDF5 file ({describe(exc)})") from None
    with f:
        yield f


def read_deeph(folder: str | Path, n_electrons: float | None = None) -> HamiltonianSample:
    """Read one legacy DeepH structure folder into a real-space sample (package order).

    ``n_electrons`` is needed when ``info.json`` does not record it (folders
    from the DeepH tools do not). :func:`thermodefect.data.deeph_dock.read_deeph_any`
    reads either layout.
    """
    folder = Path(folder)
    missing = [name for name in REQUIRED_FILES if not (folder / name).exists()]
    if missing:
        dock = " (this looks like a DeepH-dock folder: read it with read_deeph_any)" if (folder / "hamiltonian.h5").exists() else ""
        raise DeepHFormatError(f"{folder}: not a DeepH structure folder (missing {', '.join(missing)}){dock}")
    info = read_info(folder)
    try:
        cell = np.loadtxt(folder / "lat.dat", ndmin=2).T
        numbers = np.loadtxt(folder / "element.dat", dtype=np.int64, ndmin=1)
        positions = np.loadtxt(folder / "site_positions.dat", ndmin=2).T
        orbital_lines = (folder / "orbital_types.dat").read_text().split("\n")
        orbital_types = [[int(x) for x in line.split()] for line in orbital_lines if line.strip()]
    except ValueError as exc:
        raise DeepHFormatError(f"{folder}: malformed DeepH text files ({exc})") from None
    if cell.shape != (3, 3) or positions.shape != (len(numbers), 3) or len(orbital_types) != len(numbers):
        raise DeepHFormatError(f"{folder}: lat.dat, element.dat, site_positions.dat and orbital_types.dat disagree in shape")
    if info.get("isspinful"):
        raise DeepHFormatError(f"{folder}: spinful (spin-orbit) Hamiltonians are not supported")
    basis: dict[int, str] = {}
    for z, ls in zip(numbers, orbital_types):
        irreps = irreps_from_orbital_types(ls)
        if basis.setdefault(int(z), irreps) != irreps:
            raise DeepHFormatError(f"{folder}: atoms of element Z={z} have different orbital types; one basis per element is required")
    electrons = recorded_electrons(folder, info, n_electrons)
    structure = Structure(numbers=numbers, positions=positions, cell=cell)
    h = _read_blocks(folder / "hamiltonians.h5", structure, basis)
    s = _read_blocks(folder / "overlaps.h5", structure, basis) if (folder / "overlaps.h5").exists() else None
    return folder_sample(folder, info, structure, basis, (h, s), electrons, "deeph")
