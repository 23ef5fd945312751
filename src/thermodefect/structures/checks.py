"""The one check of a structure handed to thermodefect (labelling, prediction, MD).

Every command that takes a user's structure calls :func:`check_structure`
before it computes or stores anything, so a structure is either refused with
one line naming the problem or used as it is.
"""

from __future__ import annotations

from typing import Collection

import numpy as np
from ase import Atoms

from thermodefect.core.errors import UserInputError


class StructureError(UserInputError):
    """A structure that cannot be used; one-line message."""


# A cell whose volume is below this fraction of |a||b||c| has (numerically) coplanar lattice vectors.
MIN_NORMALIZED_VOLUME = 1e-6
MIN_DISTANCE_FRACTION = 0.5  # default: atoms closer than half the sum of their covalent radii overlap


def _symbols(elements: Collection[int | str]) -> set[str]:
    from ase.data import chemical_symbols

    return {chemical_symbols[e] if isinstance(e, (int, np.integer)) else str(e) for e in elements}


def common_elements(knowers, elements: Collection[int | str]) -> tuple[set[str] | None, str]:
    """What every knower knows, and who to name when ``elements`` are not all known.

    ``knowers``: ``[(known elements or None for "cannot tell", name)]``, e.g.
    a reference and a model. Returns ``(known, known_by)`` for
    :func:`check_structure`: the intersection of the known sets (``None`` when
    no knower can tell) and the names of the knowers lacking one of
    ``elements`` (all names when none lacks any).
    """
    known, names, lacking = None, [], []
    present = _symbols(elements)
    for theirs, name in knowers:
        if theirs is None:
            continue
        theirs = _symbols(theirs)
        known = theirs if known is None else known & theirs
        names.append(name)
        if present - theirs:
            lacking.append(name)
    return known, " and ".join(lacking or names)


def check_structure(
    atoms: Atoms,
    *,
    source: str,
    known_elements: Collection[int | str] | None = None,
    min_distance_fraction: float = MIN_DISTANCE_FRACTION,
    known_by: str = "the model",
) -> None:
    """Refuse a structure thermodefect cannot use, with one line starting with ``source``.

    Checks, in order: at least one atom; finite positions and cell; periodic
    in all three directions with a cell of positive volume; every element in
    ``known_elements`` (symbols or atomic numbers; ``None`` skips this check;
    ``known_by`` names who knows them in the message, e.g. ``"reference
    'toy'"``); no two atoms (an atom and its own periodic images included)
    closer than ``min_distance_fraction`` times the sum of their covalent radii
    (``ase.data.covalent_radii``, Å). Raises :class:`StructureError`.
    """
    if len(atoms) == 0:
        raise StructureError(f"{source}: has no atoms")
    if not np.all(np.isfinite(atoms.positions)) or not np.all(np.isfinite(atoms.cell[:])):
        raise StructureError(f"{source}: positions and cell must be finite numbers")
    if not np.all(atoms.pbc):
        raise StructureError(
            f"{source}: not periodic (pbc = {''.join('T' if p else 'F' for p in atoms.pbc)}); "
            "thermodefect needs a crystal: a 3D cell with periodic boundaries in all three directions"
        )
    cell = np.asarray(atoms.cell[:], float)
    lengths = np.linalg.norm(cell, axis=1)
    volume = abs(float(np.linalg.det(cell)))
    if not np.all(lengths > 0) or volume <= MIN_NORMALIZED_VOLUME * float(np.prod(lengths)):
        raise StructureError(
            f"{source}: the cell has volume {volume:.3g} Å³; a periodic cell needs three independent lattice vectors"
        )
    if known_elements is not None:
        known = _symbols(known_elements)
        unknown = sorted(set(atoms.get_chemical_symbols()) - known)
        if unknown:
            raise StructureError(
                f"{source}: element{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} not known to {known_by} "
                f"(it knows {', '.join(sorted(known)) or 'none'})"
            )
    check_distances(atoms, source=source, min_distance_fraction=min_distance_fraction)


def check_distances(atoms: Atoms, *, source: str, min_distance_fraction: float = MIN_DISTANCE_FRACTION) -> None:
    """Refuse atoms closer than ``min_distance_fraction`` × (sum of covalent radii); periodic 3D cell assumed."""
    from ase.data import covalent_radii
    from ase.geometry import minkowski_reduce
    from ase.neighborlist import neighbor_list

    if not min_distance_fraction > 0:
        return
    radii = covalent_radii[atoms.numbers]
    # The same lattice on its shortest basis: the neighbour search then needs few cell images.
    reduced_cell, _ = minkowski_reduce(np.asarray(atoms.cell[:], float))
    shortest = float(np.linalg.norm(reduced_cell, axis=1).min())
    self_limit = 2 * min_distance_fraction * radii
    k = int(np.argmin(shortest - self_limit))
    if shortest < self_limit[k]:
        raise StructureError(_too_close(source, atoms, k, k, shortest, self_limit[k], min_distance_fraction))
    reduced = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=reduced_cell, pbc=True)
    cutoff = 2 * min_distance_fraction * float(radii.max())
    i, j, d = neighbor_list("ijd", reduced, cutoff, self_interaction=False)
    limit = min_distance_fraction * (radii[i] + radii[j])
    close = np.flatnonzero(d < limit)
    if close.size:
        worst = close[int(np.argmin(d[close] / limit[close]))]
        raise StructureError(_too_close(source, atoms, int(i[worst]), int(j[worst]), float(d[worst]), float(limit[worst]),
                                        min_distance_fraction))


def _too_close(source: str, atoms: Atoms, i: int, j: int, d: float, limit: float, fraction: float) -> str:
    symbols = atoms.get_chemical_symbols()
    pair = (f"atom {i} ({symbols[i]}) and its own periodic image" if i == j
            else f"atoms {min(i, j)} ({symbols[min(i, j)]}) and {max(i, j)} ({symbols[max(i, j)]})")
    return (f"{source}: {pair} are {d:.3f} Å apart, closer than {fraction:g} × the sum of their covalent radii "
            f"({limit:.3f} Å); check the positions and the cell (units are Å)")
