"""Defect sets from doped: its names and its neutral supercells, without doped installed.

doped (and pymatgen-analysis-defects, ShakeNBreak) name defects ``v_Ga``
(vacancy), ``As_Ga`` (antisite), ``Ga_i_Td_As2.45`` (interstitial: point
group of the site, then the species and distance in Å of its nearest
neighbours where doped needs them to tell sites apart), with the charge
appended to entry names (``v_Ga_-1``, ``v_Ga_0``). This package names them
``V_Ga``, ``As_Ga`` and ``Ga_i``; a tetrahedral (``Td``) interstitial's
``interstitial_site`` is the species of its 4 nearest neighbours (``"As"``).
Other interstitial sites keep doped's site label as ``interstitial_site``
(``"C3v"``, the hexagonal site of zincblende): their cells can be imported
and used, but the package does not build them itself.

:func:`read_doped` reads a ``DefectsGenerator.to_json()`` file (monty JSON,
``.json`` or compressed ``.json.gz``), a single ``DefectEntry`` (doped's or
pymatgen-analysis-defects') or a ``{name: DefectEntry}`` dict. The pymatgen
``Structure`` dicts are parsed here (lattice matrix, sites' species and
fractional coordinates). The package models neutral defects: the charge-0
entry of each defect is used and the other charge states are ignored.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols
from ase.geometry import get_distances

from thermodefect.core import keys
from thermodefect.structures.checks import StructureError, check_structure
from thermodefect.structures.defects import check_defect_name, parse_defect

SITE_TOLERANCE_ANGSTROM = 0.5  # an atom this close to the recorded defect site is the defect atom
TETRAHEDRAL_SPREAD_ANGSTROM = 0.1  # a site is tetrahedral when its 4 nearest neighbours are this equidistant
_ELEMENT = re.compile(r"^[A-Z][a-z]?$")
_CHARGE = re.compile(r"^[+-]?\d+$")
_NEIGHBOUR = re.compile(r"^([A-Z][a-z]?)\d+\.\d+[a-z]*$")  # "As2.45", "As2.45b"
_DEFECT_CLASSES = {"Vacancy": "vacancy", "Substitution": "antisite", "Interstitial": "interstitial"}
_MAGIC = ((b"\x1f\x8b", gzip.decompress), (b"BZh", bz2.decompress), (b"\xfd7zXZ\x00", lzma.decompress))


@dataclass(frozen=True)
class DopedName:
    name: str  # this package's name: "V_Ga", "As_Ga", "Ga_i"
    point_group: str | None  # of an interstitial site, when the name gives it: "Td", "C3v"
    interstitial_site: str | None  # neighbour species of a Td site, doped's label of another site, or None
    charge: int | None  # the charge suffix of an entry name, None without one


@dataclass(frozen=True)
class DopedSet:
    pristine: Atoms | None  # the bulk supercell, when the file has one
    defects: dict[str, Atoms]  # doped name without the charge -> neutral defect supercell, in file order


def parse_doped_name(doped_name: str) -> DopedName:
    """This package's name of a doped name (``"Ga_i_Td_As2.45_0"`` -> ``Ga_i``, site ``"As"``, charge 0)."""
    tokens = doped_name.split("_") if isinstance(doped_name, str) else []
    charge = int(tokens.pop()) if len(tokens) > 2 and _CHARGE.match(tokens[-1]) else None
    if len(tokens) < 2 or not all(tokens) or not (tokens[1] == "i" or _is_element(tokens[1])):
        raise StructureError(f"{doped_name!r} is not a doped defect name (v_X, X_Y or X_i..., e.g. v_Ga, As_Ga, Ga_i_Td_As2.45)")
    head, where, site_tokens = tokens[0], tokens[1], tokens[2:]
    if head != "v" and not _is_element(head):
        raise StructureError(f"{doped_name!r}: {head!r} is neither 'v' (vacancy) nor an element symbol")
    if head == "V":  # doped's V_Ga is vanadium on a Ga site; here V_Ga is the Ga vacancy
        raise StructureError(f"{doped_name!r}: a vanadium defect, which thermodefect's names cannot express (V_X is a vacancy)")
    name = f"V_{where}" if head == "v" else f"{head}_{where}"
    check_defect_name(name)
    if where != "i" or not site_tokens:
        return DopedName(name, None, None, charge)
    point_group = site_tokens[0]
    if point_group != "Td":
        return DopedName(name, point_group, "_".join(site_tokens), charge)
    neighbour = _NEIGHBOUR.match(site_tokens[1]) if len(site_tokens) > 1 else None
    return DopedName(name, point_group, neighbour.group(1) if neighbour else None, charge)


def to_doped_name(name: str, interstitial_site: str | None = None, nearest_angstrom: float | None = None) -> str:
    """The name doped gives a native defect of a zincblende host (``V_Ga`` -> ``v_Ga``).

    A tetrahedral interstitial (``interstitial_site`` an element) needs the
    distance to its nearest neighbours, which doped writes into the name
    (``Ga_i``, ``"As"``, 2.447 -> ``Ga_i_Td_As2.45``); another site label is
    appended as it is (``Ga_i_C3v``).
    """
    a, b = check_defect_name(name)
    if a == "V":
        return f"v_{b}"
    if b != "i" or interstitial_site is None:
        return name
    if not _is_element(interstitial_site):
        return f"{name}_{interstitial_site}"
    if nearest_angstrom is None:
        raise StructureError(
            f"{name} in the site surrounded by {interstitial_site}: doped's name needs the nearest-neighbour distance (Å)"
        )
    return f"{name}_Td_{interstitial_site}{nearest_angstrom:.2f}"


def read_doped(path: str | Path, cation: str, anion: str) -> DopedSet:
    """Neutral defect supercells of a doped JSON file, with this package's ``atoms.info``.

    Each cell records ``defect``, ``defect_site`` (Cartesian, Å),
    ``defect_index`` (-1 for a vacancy) and, for interstitials,
    ``interstitial_site``. Raises :class:`StructureError` (one line) for a
    missing or unreadable file, a file that is not a doped defect set, a
    defect of another compound or a defect without a neutral entry.
    """
    path = Path(path)
    data = _load_json(path)
    entries, bulk = _entries_and_bulk(data, path)
    host = {cation, anion}
    pristine = None
    if bulk is not None:
        pristine = _atoms(bulk, f"{path}: bulk supercell")
        found = set(pristine.get_chemical_symbols())
        if found != host:
            raise StructureError(
                f"{path}: a defect set of a {'-'.join(sorted(found))} host, not of {cation}{anion} (material.cation, material.anion)"
            )
        pristine.info[keys.DEFECT] = "pristine"
    by_defect: dict[str, dict[int, dict]] = {}
    for key, entry in entries.items():
        base, charge = _entry_name_and_charge(key, entry, path)
        by_defect.setdefault(base, {})[charge] = entry
    defects = {}
    for base, charges in by_defect.items():
        if 0 not in charges:
            listed = ", ".join(f"{q:+d}" for q in sorted(charges))
            raise StructureError(f"{path}: {base} has no neutral entry (only charge {listed}); thermodefect models neutral defects")
        defects[base] = _defect_cell(base, charges[0], cation, anion, f"{path}: {base}")
    if not defects:
        raise StructureError(f"{path}: holds no defect entries")
    return DopedSet(pristine, defects)


def _is_element(symbol: str) -> bool:
    return bool(_ELEMENT.match(symbol)) and symbol in chemical_symbols


def _load_json(path: Path) -> dict:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise StructureError(f"{path}: file not found") from None
    except OSError as exc:
        raise StructureError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        for magic, decompress in _MAGIC:
            if raw.startswith(magic):
                raw = decompress(raw)
                break
        data = json.loads(raw)
    except (OSError, EOFError, lzma.LZMAError, ValueError):  # corrupt archive, not UTF-8, not JSON
        raise StructureError(f"{path}: not a JSON file (doped writes DefectsGenerator.to_json() as .json or .json.gz)") from None
    if not isinstance(data, dict):
        raise StructureError(f"{path}: not a doped DefectsGenerator or DefectEntry JSON (top level is not an object)")
    return data


def _entries_and_bulk(data: dict, path: Path) -> tuple[dict[str, dict], dict | None]:
    """``{key: DefectEntry dict}`` and the bulk supercell ``Structure`` dict (or None) of a file."""
    kind = data.get("@class")
    if kind == "DefectsGenerator":
        entries = data.get("defect_entries")
        if not isinstance(entries, dict) or not all(_is_entry(e) for e in entries.values()):
            raise StructureError(f"{path}: a DefectsGenerator without readable defect_entries")
        bulk = data.get("bulk_supercell")
    elif _is_entry(data):
        entries, bulk = {data.get("name") or "": data}, None
    elif kind in _DEFECT_CLASSES or kind == "Defect":
        raise StructureError(f"{path}: a single {kind} without a supercell; save the DefectsGenerator (to_json) or a DefectEntry")
    elif data and "@class" not in data and all(_is_entry(e) for e in data.values()):
        entries, bulk = data, None
    else:
        what = f"@class {kind!r}" if kind else "no @class"
        raise StructureError(f"{path}: not a doped DefectsGenerator or DefectEntry JSON ({what})")
    if bulk is None:
        first = next(iter(entries.values()), {})
        bulk = first.get("bulk_supercell") or (first.get("bulk_entry") or {}).get("structure")
    return entries, bulk


def _is_entry(value) -> bool:
    return isinstance(value, dict) and value.get("@class") == "DefectEntry"


def _entry_name_and_charge(key: str, entry: dict, path: Path) -> tuple[str, int]:
    """doped's name of an entry without the charge, and its charge."""
    charge = entry.get("charge_state")
    if isinstance(charge, float) and charge.is_integer():
        charge = int(charge)
    if not isinstance(charge, int) or isinstance(charge, bool):
        raise StructureError(f"{path}: entry {key!r} has no integer charge_state")
    name = entry.get("name") or key
    if name:
        tokens = name.split("_")
        if len(tokens) > 2 and _CHARGE.match(tokens[-1]):
            name = "_".join(tokens[:-1])
        return name, charge
    return _pymatgen_name(entry.get("defect"), path), charge


def _pymatgen_name(defect, path: Path) -> str:
    """pymatgen-analysis-defects' name (``v_Ga``, ``As_Ga``, ``Ga_i``) of a Defect dict."""
    kind = _DEFECT_CLASSES.get(defect.get("@class")) if isinstance(defect, dict) else None
    if kind is None:
        raise StructureError(f"{path}: a DefectEntry without a name or a Vacancy/Substitution/Interstitial defect")
    site = _site(defect.get("site"), f"{path}: defect site")
    if kind == "interstitial":
        return f"{site[0]}_i"
    structure = _atoms(defect.get("structure"), f"{path}: defect structure")
    d = get_distances(site[1] @ structure.cell[:], structure.positions, structure.cell, pbc=True)[1][0]
    host = structure.get_chemical_symbols()[int(np.argmin(d))]
    return f"v_{host}" if kind == "vacancy" else f"{site[0]}_{host}"


def _defect_cell(doped_name: str, entry: dict, cation: str, anion: str, source: str) -> Atoms:
    """One neutral defect supercell with the package's defect info."""
    try:
        parsed = parse_doped_name(doped_name)
    except StructureError as exc:
        raise StructureError(f"{source}: {exc}") from None
    supercell = entry.get("defect_supercell") or (entry.get("sc_entry") or {}).get("structure")
    if supercell is None:
        raise StructureError(f"{source}: the entry has no defect supercell")
    atoms = _atoms(supercell, source)
    foreign = sorted(set(atoms.get_chemical_symbols()) - {cation, anion})
    if foreign:
        raise StructureError(
            f"{source}: holds {', '.join(foreign)}, not in {cation}{anion} (material.cation, material.anion); "
            "thermodefect models native defects"
        )
    try:
        spec = parse_defect(parsed.name, cation, anion)
    except StructureError as exc:
        raise StructureError(f"{source}: {exc}") from None
    frac = entry.get("sc_defect_frac_coords")
    frac = _array(frac) if frac is not None else _array((entry.get("defect_supercell_site") or {}).get("abc"))
    if frac is None or frac.shape != (3,) or not np.all(np.isfinite(frac)):
        raise StructureError(f"{source}: the entry has no defect position in its supercell")
    atoms.wrap()
    site = np.mod(frac, 1.0) @ atoms.cell[:]
    distances = get_distances(site, atoms.positions, atoms.cell, pbc=True)[1][0]
    info = {keys.DEFECT: parsed.name}
    if spec.kind == "vacancy":
        if distances.min() < SITE_TOLERANCE_ANGSTROM:
            raise StructureError(f"{source}: an atom sits on the vacancy site")
        index = -1
    else:
        index = int(np.argmin(distances))
        if distances[index] > SITE_TOLERANCE_ANGSTROM or atoms[index].symbol != spec.species:
            raise StructureError(f"{source}: no {spec.species} atom at the recorded defect site")
        site = atoms.positions[index].copy()
    if spec.kind == "interstitial":
        info[keys.INTERSTITIAL_SITE] = _interstitial_site(atoms, index, distances, parsed, source)
    info.update({keys.DEFECT_SITE: np.asarray(site, float), keys.DEFECT_INDEX: index})
    atoms.info = info
    check_structure(atoms, source=source)
    return atoms


def _interstitial_site(atoms: Atoms, index: int, distances: np.ndarray, parsed: DopedName, source: str) -> str:
    """Neighbour species of a tetrahedral site (checked against the name), or doped's label of another site."""
    others = np.delete(np.arange(len(atoms)), index)
    nearest = others[np.argsort(distances[others], kind="stable")[:5]]
    near4 = {atoms[int(k)].symbol for k in nearest[:4]}
    spread = np.ptp(distances[nearest[:4]])
    gap = distances[nearest[4]] - distances[nearest[3]] if len(nearest) > 4 else np.inf
    tetrahedral = len(near4) == 1 and spread < TETRAHEDRAL_SPREAD_ANGSTROM and gap > TETRAHEDRAL_SPREAD_ANGSTROM
    label = parsed.interstitial_site
    if parsed.point_group not in (None, "Td"):
        return label
    if label is not None and near4 != {label}:
        raise StructureError(
            f"{source}: the name says a site surrounded by {label}, but its 4 nearest neighbours are {'/'.join(sorted(near4))}"
        )
    if label is None and not tetrahedral:
        raise StructureError(f"{source}: the interstitial is not at a tetrahedral site and its name gives no site label")
    return next(iter(near4))


def _array(value) -> np.ndarray | None:
    """A monty-encoded numpy array (``{"@module": "numpy", "data": ...}``) or a list, as floats."""
    if isinstance(value, dict) and value.get("@module") == "numpy":
        value = value.get("data")
    try:
        return None if value is None else np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None


def _site(site, source: str) -> tuple[str, np.ndarray]:
    """Element and fractional coordinates of a pymatgen site dict (fully occupied by one element)."""
    species = site.get("species") if isinstance(site, dict) else None
    abc = _array(site.get("abc")) if isinstance(site, dict) else None
    if not isinstance(species, list) or len(species) != 1 or not isinstance(species[0], dict) or abc is None or abc.shape != (3,):
        raise StructureError(f"{source}: a site without one species and fractional coordinates (abc)")
    element, occupancy = species[0].get("element"), species[0].get("occu", 1)
    if not isinstance(element, str) or not _is_element(element):
        raise StructureError(f"{source}: site species {element!r} is not an element")
    if not isinstance(occupancy, (int, float)) or abs(occupancy - 1) > 1e-6:
        raise StructureError(f"{source}: a partially occupied site ({element} {occupancy}); thermodefect needs ordered cells")
    return element, abc


def _atoms(structure, source: str) -> Atoms:
    """ASE ``Atoms`` of a pymatgen ``Structure`` dict (lattice rows in Å, fractional site coordinates)."""
    lattice = structure.get("lattice") if isinstance(structure, dict) else None
    matrix = _array(lattice.get("matrix")) if isinstance(lattice, dict) else None
    sites = structure.get("sites") if isinstance(structure, dict) else None
    if matrix is None or matrix.shape != (3, 3) or not isinstance(sites, list) or not sites:
        raise StructureError(f"{source}: not a pymatgen Structure (lattice matrix and sites)")
    symbols, frac = zip(*(_site(site, source) for site in sites))
    return Atoms(symbols=list(symbols), scaled_positions=np.array(frac), cell=matrix, pbc=True)
