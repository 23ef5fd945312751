"""The DeepH-dock per-structure folder layout <-> :class:`HamiltonianSample`.

One folder per structure, as DeepH-dock (``deepx_dock``) and the current
DeepH-pack read and write it::

    POSCAR          the structure (VASP format), atoms in the order of the blocks
    info.json       atoms_quantity, orbits_quantity, orthogonal_basis, spinful,
                    fermi_energy_eV, elements_orbital_map ({"Ga": [0, 1, 2]}: the
                    l of each shell per element); this package adds n_electrons,
                    metadata, provenance
    hamiltonian.h5  atom_pairs (N, 5) int [Rx, Ry, Rz, i, j], 0-based atoms;
                    chunk_shapes (N, 2) int, block rows and columns;
                    chunk_boundaries (N + 1,) int, offsets into entries;
                    entries (M,) float, each block row-major, in pair order; eV
    overlap.h5      the same datasets and atom pairs, dimensionless

Blocks use the Wikipedia real spherical-harmonic order (m = -l..l; p: y, z, x)
and are converted to the package order (:mod:`thermodefect.data.conventions`)
on reading and back on writing; ``H_ij(R)`` couples atom ``i`` in the home
cell with atom ``j`` shifted by ``R``, as in :class:`BlockOperator`.
Spinful (spin-orbit) folders are refused: the package is spinless.
:func:`read_deeph_any` reads a folder of either layout (legacy: :mod:`thermodefect.data.deeph`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from thermodefect.data.deeph import (
    REQUIRED_FILES as LEGACY_FILES,
    DeepHFormatError,
    code_blocks,
    folder_sample,
    irreps_from_orbital_types,
    open_h5,
    operator_from_code_blocks,
    orbital_types_from_irreps,
    read_deeph,
    read_info,
    recorded_electrons,
)
from thermodefect.core.errors import describe
from thermodefect.data.operators import BlockOperator, HamiltonianSample, Structure, orbital_offsets

LEGACY_LAYOUT = "deeph"
DOCK_LAYOUT = "deeph-dock"
CONVENTION = "wikipedia"
HAMILTONIAN_FILE = "hamiltonian.h5"
OVERLAP_FILE = "overlap.h5"
REQUIRED_FILES = ("POSCAR", "info.json", HAMILTONIAN_FILE)
DATASETS = ("atom_pairs", "chunk_boundaries", "chunk_shapes", "entries")
IDENTITY_ATOL = 1e-8  # an overlap.h5 of an orthogonal basis may differ from the identity by this much

PairKey = tuple[int, int, int, int, int]  # (Rx, Ry, Rz, i, j), 0-based atoms


def deeph_layout(folder: str | Path) -> str | None:
    """``"deeph-dock"``, ``"deeph"`` (legacy) or None: the layout of a structure folder, from its files.

    A folder with ``hamiltonian.h5`` and an ``info.json`` naming
    ``elements_orbital_map`` is DeepH-dock; one with the legacy
    ``hamiltonians.h5`` or ``lat.dat`` is legacy; a lone ``POSCAR`` makes an
    (incomplete) DeepH-dock folder, so its reader can say what is missing.
    """
    folder = Path(folder)
    if (folder / HAMILTONIAN_FILE).is_file() and _names_orbital_map(folder):
        return DOCK_LAYOUT
    if any((folder / name).is_file() for name in ("hamiltonians.h5", "lat.dat")):
        return LEGACY_LAYOUT
    if (folder / "POSCAR").is_file():
        return DOCK_LAYOUT
    return None


def read_deeph_any(folder: str | Path, n_electrons: float | None = None) -> HamiltonianSample:
    """Read one structure folder of either layout: DeepH-dock (:func:`read_deeph_dock`) or legacy (:func:`read_deeph`).

    A folder of neither layout is read as legacy, whose error names the files it lacks.
    """
    if deeph_layout(folder) == DOCK_LAYOUT:
        return read_deeph_dock(folder, n_electrons)
    return read_deeph(folder, n_electrons)


def _names_orbital_map(folder: Path) -> bool:
    try:
        return "elements_orbital_map" in json.loads((folder / "info.json").read_text())
    except (OSError, ValueError, TypeError):
        return False


def read_fermi_level_ev(folder: str | Path) -> float:
    """The Fermi level (eV) recorded in a structure folder's ``info.json`` (either layout); 0.0 when absent."""
    folder = Path(folder)
    key = "fermi_energy_eV" if deeph_layout(folder) == DOCK_LAYOUT else "fermi_level"
    value = read_info(folder).get(key)
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DeepHFormatError(f"{folder / 'info.json'}: {key} must be a number of eV, got {value!r}")
    return float(value)


# -- writing -------------------------------------------------------------------
def write_deeph_dock(sample: HamiltonianSample, folder: str | Path, fermi_level_ev: float = 0.0) -> Path:
    """Write a real-space sample as one DeepH-dock structure folder; returns the folder.

    ``hamiltonian.h5`` and ``overlap.h5`` share one list of atom pairs (the
    layout requires it): the union of the pairs of H and S, a block one of
    them lacks stored as zeros. Blocks of the same pair listed twice are
    summed, as a Bloch sum would. An orthogonal sample (S None) gets the
    identity overlap and ``orthogonal_basis: true``.
    """
    from ase.data import chemical_symbols
    from ase.io import write

    if sample.realspace is None:
        raise ValueError("the DeepH-dock layout holds real-space blocks; this sample has only k-space matrices")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    st = sample.structure
    h, s = sample.realspace
    sizes = np.diff(orbital_offsets(st.numbers, sample.basis))
    h_blocks = _pair_blocks(h)
    s_blocks = _pair_blocks(s) if s is not None else {(0, 0, 0, a, a): np.eye(int(n)) for a, n in enumerate(sizes)}
    pairs = list(dict.fromkeys([*h_blocks, *s_blocks]))
    write(folder / "POSCAR", st.to_atoms(), format="vasp", direct=False, sort=False)
    species = dict.fromkeys(int(z) for z in st.numbers)
    info = {
        "atoms_quantity": int(len(st.numbers)),
        "orbits_quantity": int(sizes.sum()),
        "orthogonal_basis": s is None,
        "spinful": False,
        "fermi_energy_eV": float(fermi_level_ev),
        "elements_orbital_map": {chemical_symbols[z]: orbital_types_from_irreps(sample.basis[z]) for z in species},
        "n_electrons": float(sample.n_electrons),
        "metadata": sample.metadata,
        "provenance": sample.provenance,
    }
    (folder / "info.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
    _write_pairs(folder / HAMILTONIAN_FILE, pairs, h_blocks, sizes)
    _write_pairs(folder / OVERLAP_FILE, pairs, s_blocks, sizes)
    return folder


def _pair_blocks(op: BlockOperator) -> dict[PairKey, np.ndarray]:
    """``{(Rx, Ry, Rz, i, j): block}`` in the Wikipedia order, edges of the same pair summed."""
    blocks: dict[PairKey, np.ndarray] = {}
    for shift, i, j, block in code_blocks(op, CONVENTION):
        key = (*shift, i, j)
        blocks[key] = blocks[key] + block if key in blocks else block
    return blocks


def _write_pairs(path: Path, pairs: list[PairKey], blocks: dict[PairKey, np.ndarray], sizes: np.ndarray) -> None:
    import h5py

    shapes = np.array([(sizes[key[3]], sizes[key[4]]) for key in pairs], dtype=np.int64).reshape(-1, 2)
    boundaries = np.concatenate([[0], np.cumsum(shapes[:, 0] * shapes[:, 1])]).astype(np.int64)
    flat = [blocks[key].ravel() if key in blocks else np.zeros(int(n_i * n_j)) for key, (n_i, n_j) in zip(pairs, shapes)]
    with h5py.File(path, "w") as f:
        f.create_dataset("atom_pairs", data=np.asarray(pairs, dtype=np.int64).reshape(-1, 5))
        f.create_dataset("chunk_boundaries", data=boundaries)
        f.create_dataset("chunk_shapes", data=shapes)
        f.create_dataset("entries", data=np.concatenate(flat) if flat else np.zeros(0))


# -- reading -------------------------------------------------------------------
def read_deeph_dock(folder: str | Path, n_electrons: float | None = None) -> HamiltonianSample:
    """Read one DeepH-dock structure folder into a real-space sample (package order).

    ``n_electrons`` is needed when ``info.json`` does not record it (folders
    written by DeepH-dock do not). With ``orthogonal_basis: true`` the sample
    has no overlap (S None); an ``overlap.h5`` there must be the identity.
    """
    folder = Path(folder)
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        legacy = " (this looks like the legacy DeepH layout)" if all((folder / name).is_file() for name in LEGACY_FILES) else ""
        raise DeepHFormatError(f"{folder}: not a DeepH-dock structure folder (missing {', '.join(missing)}){legacy}")
    info = read_info(folder)
    if info.get("spinful"):
        raise DeepHFormatError(f"{folder}: info.json says spinful; spinful (spin-orbit) Hamiltonians are not supported")
    structure = _read_poscar(folder / "POSCAR")
    basis = _basis_from_orbital_map(folder, info, structure.numbers)
    _check_counts(folder, info, structure, basis)
    electrons = recorded_electrons(folder, info, n_electrons)
    h = _read_pairs(folder / HAMILTONIAN_FILE, structure, basis)
    orthogonal = bool(info.get("orthogonal_basis", False))
    overlap_path = folder / OVERLAP_FILE
    if orthogonal:
        if overlap_path.is_file():
            _check_identity(overlap_path, _read_pairs(overlap_path, structure, basis))
        s = None
    elif overlap_path.is_file():
        s = _read_pairs(overlap_path, structure, basis)
    else:
        raise DeepHFormatError(f"{folder}: missing {OVERLAP_FILE} (info.json says orthogonal_basis is false)")
    return folder_sample(folder, info, structure, basis, (h, s), electrons, DOCK_LAYOUT)


def _read_poscar(path: Path) -> Structure:
    from ase.io import read

    try:
        atoms = read(path, format="vasp")
    except Exception as exc:  # ASE raises many types for malformed files
        raise DeepHFormatError(f"{path}: not a readable VASP structure ({describe(exc)})") from None
    return Structure.from_atoms(atoms)


def _basis_from_orbital_map(folder: Path, info: dict, numbers: np.ndarray) -> dict[int, str]:
    """``{Z: irreps}`` of the elements in the structure, from ``elements_orbital_map``."""
    from ase.data import chemical_symbols

    orbital_map = info.get("elements_orbital_map")
    if not isinstance(orbital_map, dict):
        raise DeepHFormatError(f"{folder / 'info.json'}: elements_orbital_map must map element symbols to lists of l, got {orbital_map!r}")
    basis = {}
    for z in dict.fromkeys(int(z) for z in numbers):
        symbol = chemical_symbols[z]
        ls = orbital_map.get(symbol)
        if ls is None:
            raise DeepHFormatError(f"{folder / 'info.json'}: elements_orbital_map has no entry for {symbol} (POSCAR has it)")
        if not isinstance(ls, list) or not ls or not all(isinstance(l, int) and not isinstance(l, bool) and l >= 0 for l in ls):
            raise DeepHFormatError(f"{folder / 'info.json'}: elements_orbital_map[{symbol!r}] must be a non-empty list of l >= 0, got {ls!r}")
        basis[z] = irreps_from_orbital_types(ls)
    return basis


def _check_counts(folder: Path, info: dict, structure: Structure, basis: dict[int, str]) -> None:
    """``atoms_quantity`` and ``orbits_quantity``, where recorded, must match POSCAR and the orbital map."""
    n_orbitals = int(orbital_offsets(structure.numbers, basis)[-1])
    for key, actual, source in (("atoms_quantity", len(structure.numbers), "POSCAR"), ("orbits_quantity", n_orbitals, "elements_orbital_map")):
        if key in info and info[key] != actual:
            raise DeepHFormatError(f"{folder / 'info.json'}: {key} is {info[key]!r}, {source} gives {actual}")


def _read_pairs(path: Path, structure: Structure, basis: dict[int, str]) -> BlockOperator:
    with open_h5(path) as f:
        missing = [name for name in DATASETS if name not in f]
        if missing:
            raise DeepHFormatError(f"{path}: missing dataset(s) {', '.join(missing)}")
        pairs, boundaries, shapes, entries = (np.asarray(f[name][()]) for name in DATASETS)
    n_pairs = len(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 5 or not np.issubdtype(pairs.dtype, np.integer):
        raise DeepHFormatError(f"{path}: atom_pairs must be integers of shape (N, 5), got {pairs.dtype} {pairs.shape}")
    if n_pairs == 0:
        raise DeepHFormatError(f"{path}: holds no atom pairs")
    if shapes.shape != (n_pairs, 2) or boundaries.shape != (n_pairs + 1,) or entries.ndim != 1:
        raise DeepHFormatError(
            f"{path}: {n_pairs} atom pairs need chunk_shapes ({n_pairs}, 2), chunk_boundaries ({n_pairs + 1},) and 1-D entries; "
            f"got {shapes.shape}, {boundaries.shape}, {entries.shape}"
        )
    if not (np.issubdtype(shapes.dtype, np.integer) and np.issubdtype(boundaries.dtype, np.integer)) or np.any(shapes < 0):
        raise DeepHFormatError(f"{path}: chunk_shapes and chunk_boundaries must be non-negative integers")
    if boundaries[0] != 0 or np.any(np.diff(boundaries) != shapes[:, 0] * shapes[:, 1]) or boundaries[-1] != entries.size:
        raise DeepHFormatError(f"{path}: chunk_boundaries do not match chunk_shapes and the {entries.size} entries")

    def blocks():
        for e, (key, (start, stop), shape) in enumerate(zip(pairs.tolist(), zip(boundaries[:-1], boundaries[1:]), shapes)):
            label = f"#{e} {key}"
            yield label, tuple(key[:3]), key[3], key[4], entries[start:stop].reshape(tuple(int(n) for n in shape))

    return operator_from_code_blocks(structure, basis, blocks(), CONVENTION, path)


def _check_identity(path: Path, overlap: BlockOperator) -> None:
    for e in range(overlap.n_edges):
        i, j = overlap.edge_index[:, e]
        block = overlap.block(e)
        expected = np.eye(len(block)) if i == j and not overlap.cell_shift[e].any() else np.zeros_like(block)
        if not np.allclose(block, expected, rtol=0.0, atol=IDENTITY_ATOL):
            raise DeepHFormatError(
                f"{path}: info.json says orthogonal_basis but this overlap is not the identity "
                f"(atom pair {e}); set orthogonal_basis to false to use it"
            )
