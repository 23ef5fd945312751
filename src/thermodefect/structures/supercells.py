"""Pristine zincblende supercells of a binary compound."""

from __future__ import annotations

from pathlib import Path

from ase import Atoms
from ase.build import bulk

from thermodefect.core import keys
from thermodefect.structures.checks import StructureError, check_structure


def repeat_for_atoms(n_atoms: int, kind: str, atoms_per_cell: int) -> int:
    """Repeat n such that ``atoms_per_cell * n^3 == n_atoms``."""
    if n_atoms % atoms_per_cell == 0:
        n = round((n_atoms // atoms_per_cell) ** (1 / 3))
        for m in (n - 1, n, n + 1):
            if m >= 1 and atoms_per_cell * m**3 == n_atoms:
                return m
    raise StructureError(
        f"{n_atoms} atoms is not a {kind} supercell of a {atoms_per_cell}-atom cell (need {atoms_per_cell}*n^3)"
    )


def unit_cell(cation: str, anion: str, a_angstrom: float, kind: str = "cubic") -> Atoms:
    """Zincblende cell: cation at the origin, anion at (1/4, 1/4, 1/4) a.

    ``kind="cubic"`` gives the 8-atom conventional cell, ``"primitive"`` the
    2-atom fcc primitive cell.
    """
    if kind not in ("cubic", "primitive"):
        raise StructureError(f"supercell kind {kind!r}: expected 'cubic' or 'primitive'")
    return bulk(cation + anion, "zincblende", a=a_angstrom, cubic=(kind == "cubic"))


def read_unit_cell(path: Path, cation: str, anion: str) -> Atoms:
    """Read a user's unit cell (any ASE format) and check its species."""
    from ase.io import read

    try:
        atoms = read(str(path))
    except FileNotFoundError:
        raise StructureError(f"{path}: structure file not found") from None
    except Exception as exc:  # ASE raises many types for malformed files
        raise StructureError(f"{path}: cannot read structure ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'malformed'})") from None
    if isinstance(atoms, list):
        atoms = atoms[0]
    species = set(atoms.get_chemical_symbols())
    if species != {cation, anion}:
        raise StructureError(f"{path}: species {sorted(species)} do not match material cation/anion {[cation, anion]}")
    check_structure(atoms, source=str(path))
    return atoms


def pristine_supercell(
    cation: str,
    anion: str,
    a_angstrom: float,
    n_atoms: int,
    kind: str = "cubic",
    unit: Atoms | None = None,
) -> Atoms:
    """Pristine supercell with ``n_atoms`` atoms (cubic 8n^3 or primitive 2n^3).

    ``unit`` replaces the built-in zincblende cell (e.g. read from a file).
    """
    cell = unit if unit is not None else unit_cell(cation, anion, a_angstrom, kind)
    n = repeat_for_atoms(n_atoms, kind, len(cell))
    atoms = cell.repeat((n, n, n))
    atoms.info["supercell"] = f"{kind} {n}x{n}x{n}"
    atoms.info[keys.DEFECT] = "pristine"
    return atoms
