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
"""

from __future__ import annotations

import json
import re
from itertools import groupby
from pathlib import Path

import numpy as np

from thermodefect.data.conventions import block_from_package, block_to_package
from thermodefect.data.operators import BlockOperator, HamiltonianSample, Structure, orbital_offsets
from thermodefect.core.errors import UserInputError
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


def _write_blocks(path: Path, op: BlockOperator) -> None:
    import h5py

    numbers = op.structure.numbers
    with h5py.File(path, "w") as f:
        for e in range(op.n_edges):
            i, j = (int(x) for x in op.edge_index[:, e])
            irreps_i, irreps_j = op.basis[int(numbers[i])], op.basis[int(numbers[j])]
            f.create_dataset(deeph_key(op.cell_shift[e], i, j), data=block_from_package(op.block(e), irreps_i, irreps_j, "openmx"))


def _read_blocks(path: Path, structure: Structure, basis: dict[int, str]) -> BlockOperator:
    import h5py

    offsets = orbital_offsets(structure.numbers, basis)
    sizes = np.diff(offsets)
    width = int(sizes.max())
    edges, shifts, blocks = [], [], []
    with h5py.File(path, "r") as f:
        for name in f.keys():
            match = KEY_PATTERN.match(name)
            if match is None:
                raise DeepHFormatError(f"{path}: dataset {name!r} is not of the form '[Rx, Ry, Rz, i, j]'")
            rx, ry, rz, i, j = (int(x) for x in match.groups())
            i, j = i - 1, j - 1
            if not (0 <= i < len(sizes) and 0 <= j < len(sizes)):
                raise DeepHFormatError(f"{path}: block {name} names an atom outside 1..{len(sizes)}")
            block = f[name][()]
            if block.shape != (sizes[i], sizes[j]):
                raise DeepHFormatError(f"{path}: block {name} has shape {block.shape}, orbital_types.dat says {(sizes[i], sizes[j])}")
            z_i, z_j = int(structure.numbers[i]), int(structure.numbers[j])
            padded = np.zeros((width, width), dtype=block.dtype)
            padded[: sizes[i], : sizes[j]] = block_to_package(block, basis[z_i], basis[z_j], "openmx")
            edges.append((i, j))
            shifts.append((rx, ry, rz))
            blocks.append(padded)
    return BlockOperator(
        structure=structure,
        basis=basis,
        edge_index=np.asarray(edges, dtype=np.int64).reshape(-1, 2).T,
        cell_shift=np.asarray(shifts, dtype=np.int64).reshape(-1, 3),
        blocks=np.asarray(blocks).reshape(-1, width, width),
    )


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


def read_deeph(folder: str | Path, n_electrons: float | None = None) -> HamiltonianSample:
    """Read one DeepH structure folder into a real-space sample (package order).

    ``n_electrons`` is needed when ``info.json`` does not record it (folders
    from the DeepH tools do not).
    """
    folder = Path(folder)
    missing = [name for name in REQUIRED_FILES if not (folder / name).exists()]
    if missing:
        raise DeepHFormatError(f"{folder}: not a DeepH structure folder (missing {', '.join(missing)})")
    try:
        cell = np.loadtxt(folder / "lat.dat", ndmin=2).T
        numbers = np.loadtxt(folder / "element.dat", dtype=np.int64, ndmin=1)
        positions = np.loadtxt(folder / "site_positions.dat", ndmin=2).T
        orbital_lines = (folder / "orbital_types.dat").read_text().split("\n")
        orbital_types = [[int(x) for x in line.split()] for line in orbital_lines if line.strip()]
        info = json.loads((folder / "info.json").read_text())
    except (ValueError, json.JSONDecodeError) as exc:
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
    electrons = info.get("n_electrons", n_electrons)
    if electrons is None:
        raise DeepHFormatError(f"{folder}: info.json has no n_electrons; pass the number of valence electrons")
    structure = Structure(numbers=numbers, positions=positions, cell=cell)
    h = _read_blocks(folder / "hamiltonians.h5", structure, basis)
    s = _read_blocks(folder / "overlaps.h5", structure, basis) if (folder / "overlaps.h5").exists() else None
    return HamiltonianSample(
        structure=structure,
        basis=basis,
        n_electrons=float(electrons),
        realspace=(h, s),
        metadata=dict(info.get("metadata", {})),
        provenance=dict(info.get("provenance", {"reference": "deeph", "folder": str(folder)})),
    )
