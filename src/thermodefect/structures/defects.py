"""Native point defects of a binary compound and randomly displaced copies.

Names: ``V_X`` vacancy of X, ``X_Y`` atom X on a Y site (antisite), ``X_i``
interstitial X at a tetrahedral site. Each defect cell records in
``atoms.info``: ``defect`` (name), ``defect_site`` (Cartesian position of the
defect centre, Å), ``defect_index`` (index of the defect atom, -1 for a
vacancy) and, for interstitials, ``interstitial_site`` (the species of its 4
nearest neighbours).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

from thermodefect.core import keys
from thermodefect.structures.supercells import StructureError


@dataclass(frozen=True)
class DefectSpec:
    name: str
    kind: str  # "vacancy", "antisite", "interstitial"
    species: str | None  # atom added or substituted (None for a vacancy)
    site_species: str  # species removed/replaced, or the neighbours of an interstitial


# The grammar of defect names, declared once (settings validation uses it too):
# V_X vacancy, X_Y antisite, X_i interstitial; X, Y element symbols.
DEFECT_NAME = re.compile(r"^(V_[A-Z][a-z]?|[A-Z][a-z]?_[A-Z][a-z]?|[A-Z][a-z]?_i)$")


def check_defect_name(name: str) -> tuple[str, str]:
    """The two parts of a well-formed defect name, or a one-line error (compound not checked)."""
    if not isinstance(name, str) or not DEFECT_NAME.match(name):
        raise StructureError(f"defect name {name!r} is not of the form X_i, V_X or X_Y (e.g. As_i, V_Ga, As_Ga)")
    a, b = name.split("_")
    return a, b


def parse_defect(name: str, cation: str, anion: str, interstitial_site: str | None = None) -> DefectSpec:
    """Interpret a defect name for the compound ``cation``-``anion``."""
    species = {cation, anion}
    a, b = check_defect_name(name)
    if a == "V":
        if b not in species:
            raise StructureError(f"defect {name!r}: {b} is not in the compound")
        return DefectSpec(name, "vacancy", None, b)
    if a not in species:
        raise StructureError(f"defect {name!r}: {a} is not in the compound")
    if b == "i":
        other = anion if a == cation else cation
        site = interstitial_site or other
        if site not in species:
            raise StructureError(f"defect {name!r}: interstitial site species {site!r} is not in the compound")
        return DefectSpec(name, "interstitial", a, site)
    if b not in species or a == b:
        raise StructureError(f"defect {name!r}: antisite needs two different species of the compound")
    return DefectSpec(name, "antisite", a, b)


def _index_nearest_centre(atoms: Atoms, symbol: str) -> int:
    centre = atoms.cell.sum(axis=0) / 2
    idx = [k for k, s in enumerate(atoms.get_chemical_symbols()) if s == symbol]
    d = np.linalg.norm(atoms.positions[idx] - centre, axis=1)
    return idx[int(np.argmin(np.round(d, 6)))]


def tetrahedral_site(atoms: Atoms, neighbour_species: str) -> np.ndarray:
    """Empty tetrahedral site whose 4 nearest neighbours are ``neighbour_species``.

    In zincblende each X atom bonds to four Y atoms; the empty tetrahedral
    site surrounded by X lies opposite a bond: ``x - (y - x)``. The X atom
    nearest the cell centre is used.
    """
    x = _index_nearest_centre(atoms, neighbour_species)
    i, j, D = neighbor_list("ijD", atoms, 3.5)
    bonds = D[(i == x)]
    lengths = np.linalg.norm(bonds, axis=1)
    if len(bonds) == 0:
        raise StructureError("no bonds found within 3.5 Å; is this a zincblende cell?")
    shortest = bonds[np.isclose(lengths, lengths.min(), atol=1e-3)]
    # Deterministic choice among equivalent bonds: the one pointing most along +(1,1,1).
    bond = shortest[int(np.argmax(shortest @ np.array([1.0, 1.0, 1.0]) + 1e-6 * shortest[:, 0]))]
    return atoms.positions[x] - bond


def make_defect(pristine: Atoms, spec: DefectSpec) -> Atoms:
    """Defect supercell from a pristine one (site nearest the cell centre)."""
    atoms = pristine.copy()
    info = dict(pristine.info)
    if spec.kind == "vacancy":
        k = _index_nearest_centre(atoms, spec.site_species)
        site = atoms.positions[k].copy()
        del atoms[k]
        index = -1
    elif spec.kind == "antisite":
        k = _index_nearest_centre(atoms, spec.site_species)
        site = atoms.positions[k].copy()
        atoms[k].symbol = spec.species
        index = k
    else:
        site = tetrahedral_site(atoms, spec.site_species)
        atoms.append(spec.species)
        atoms.positions[-1] = site
        index = len(atoms) - 1
        info[keys.INTERSTITIAL_SITE] = spec.site_species
    info.update({keys.DEFECT: spec.name, keys.DEFECT_SITE: np.asarray(site, float), keys.DEFECT_INDEX: index})
    atoms.info = info
    atoms.wrap()
    return atoms


def defect_neighbours(atoms: Atoms, cutoff_angstrom: float | None = None) -> list[int]:
    """Indices of the atoms at the defect: the defect atom and its first shell.

    For a vacancy, the atoms around the empty site. ``cutoff_angstrom``
    defaults to 1.2 x the larger of the shortest distance from the site and
    the cell's bond length (median nearest-neighbour distance). The bond
    length keeps the shell whole in an MD frame where one neighbour has moved
    close to the site.
    """
    site = np.asarray(atoms.info[keys.DEFECT_SITE], float)
    probe = atoms.copy()
    probe.append("H")
    probe.positions[-1] = site
    i, j, d = neighbor_list("ijd", probe, 6.0)
    marker = len(probe) - 1
    mask = (i == marker) & (j != marker)  # in a cell under 6 Å the marker sees its own periodic images
    host = (i != marker) & (j != marker)
    nearest = np.full(len(atoms), np.inf)
    np.minimum.at(nearest, i[host], d[host])
    j, d = j[mask], d[mask]
    centre = int(atoms.info.get(keys.DEFECT_INDEX, -1))
    if centre >= 0:
        keep = j != centre
        j, d = j[keep], d[keep]
    finite = nearest[np.isfinite(nearest)]
    bond = float(np.median(finite)) if finite.size else 0.0
    cut = cutoff_angstrom if cutoff_angstrom is not None else 1.2 * max(d.min(), bond)
    shell = sorted(set(int(x) for x in j[d <= cut]))
    return ([centre] if centre >= 0 else []) + shell


def rattle(atoms: Atoms, count: int, stdev_angstrom: float, seed: int) -> list[Atoms]:
    """``count`` copies with Gaussian displacements (σ per Cartesian component).

    Copy ``k`` uses the random stream ``(seed, k)``, so the set is reproducible
    and extending ``count`` keeps the earlier copies unchanged.
    """
    out = []
    for k in range(count):
        rng = np.random.default_rng([seed, k])
        copy = atoms.copy()
        copy.positions += rng.normal(0.0, stdev_angstrom, size=copy.positions.shape)
        copy.info = dict(atoms.info)
        copy.info["rattle_seed"] = f"{seed}:{k}"
        copy.info["rattle_stdev_angstrom"] = stdev_angstrom
        out.append(copy)
    return out
