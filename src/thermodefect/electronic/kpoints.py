"""The k-points of the band edges: Γ, a Γ-centred grid, the cell's own band path, or both.

A Γ-point calculation of a supercell samples the primitive cell's Brillouin
zone at the supercell's reciprocal lattice vectors: a grid of spacing 2π/d_i
along reciprocal vector b_i, with d_i = 2π/|b_i| the distance between the
lattice planes spanned by the other two cell vectors. A large supercell is
therefore its own k-point sampling, and its defect levels and pristine
alignment are Γ quantities by design. A primitive (or small) cell is not: its
Γ gap is an upper bound of the gap, and the band edges need k-points.

``settings.edge_kpoints`` chooses them (:func:`resolve_edge_kpoints`); "auto"
keeps Γ for a defect cell and for a cell whose planes are all at least
``gamma_min_spacing_angstrom`` apart, and samples the grid and the band path
otherwise. k-points are fractional (reciprocal-lattice coordinates of the
cell); densities are k-points per 1/Å with the 2π included, as in ASE.
"""

from __future__ import annotations

import numpy as np

from thermodefect.core.errors import UserInputError
from thermodefect.electronic.bloch import reciprocal_cell
from thermodefect.settings import ElectronicSettings

EDGE_SAMPLINGS = ("gamma", "grid", "path", "grid+path")


class BandPathError(UserInputError):
    """A band path that does not fit the cell."""


def plane_spacings_angstrom(cell) -> np.ndarray:
    """(3,) distance d_i = 2π/|b_i| between the lattice planes normal to each reciprocal vector, Å."""
    return 2.0 * np.pi / np.linalg.norm(reciprocal_cell(np.asarray(cell, float)), axis=1)


def folds_onto_gamma(cell, settings: ElectronicSettings) -> bool:
    """True when every lattice-plane spacing is at least ``gamma_min_spacing_angstrom``: Γ samples enough."""
    return bool(plane_spacings_angstrom(cell).min() >= settings.gamma_min_spacing_angstrom)


def resolve_edge_kpoints(cell, pristine: bool, settings: ElectronicSettings, requested: str | None = None) -> str:
    """The k-sampling of one cell's band edges: "gamma", "grid", "path" or "grid+path".

    ``requested`` (default ``settings.edge_kpoints``) "auto" gives "gamma" for a
    defect cell (a supercell: its levels are Γ states) and for a cell that
    :func:`folds_onto_gamma`, "grid+path" otherwise. A defect cell whose edges are
    aligned to a pristine host (``band_edges = "aligned"``) is at Γ whatever is requested.
    """
    requested = requested or settings.edge_kpoints
    if requested != "auto" and requested not in EDGE_SAMPLINGS:
        raise ValueError(f"edge k-points must be 'auto' or one of {', '.join(EDGE_SAMPLINGS)}, got {requested!r}")
    if not pristine and (requested == "auto" or settings.band_edges == "aligned"):
        return "gamma"
    if requested == "auto":
        return "gamma" if folds_onto_gamma(cell, settings) else "grid+path"
    return requested


def grid_divisions(cell, density_angstrom: float) -> tuple[int, int, int]:
    """Points along each reciprocal vector: ``density * |b_i|`` (1/Å, 2π included) rounded up to even."""
    lengths = np.linalg.norm(reciprocal_cell(np.asarray(cell, float)), axis=1)
    return tuple(int(2 * np.ceil(density_angstrom * b / 2.0)) for b in lengths)


def gamma_centred_grid(divisions) -> np.ndarray:
    """(n1 n2 n3, 3) fractional k-points ``m_i / n_i`` of a Γ-centred grid, each in (-1/2, 1/2], Γ first."""
    axes = []
    for n in divisions:
        k = np.arange(int(n)) / int(n)
        axes.append(np.where(k > 0.5 + 1e-12, k - 1.0, k))
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)


def cell_path_kpoints(cell, density_angstrom: float) -> np.ndarray:
    """(n_k, 3) fractional k-points of ASE's band path through the special points of the cell's own lattice."""
    from ase.cell import Cell

    try:
        return np.asarray(Cell(np.asarray(cell, float)).bandpath(density=density_angstrom).kpts, float)
    except Exception as exc:  # ASE raises several types for cells it cannot classify
        raise BandPathError(f"cannot find the band path of this cell ({exc}); use edge_kpoints = \"grid\"") from None


def edge_kpoint_set(cell, sampling: str, settings: ElectronicSettings) -> np.ndarray:
    """(n_k, 3) fractional k-points of ``sampling`` (:data:`EDGE_SAMPLINGS`), duplicates removed, Γ first when present."""
    if sampling not in EDGE_SAMPLINGS:
        raise ValueError(f"edge k-point sampling must be one of {', '.join(EDGE_SAMPLINGS)}, got {sampling!r}")
    parts = [np.zeros((1, 3))] if sampling == "gamma" else []
    if sampling in ("grid", "grid+path"):
        divisions = settings.edge_grid or grid_divisions(cell, settings.edge_grid_density_angstrom)
        parts.append(gamma_centred_grid(divisions))
    if sampling in ("path", "grid+path"):
        parts.append(cell_path_kpoints(cell, settings.edge_path_density_angstrom))
    kpts = np.concatenate(parts)
    _, first = np.unique(np.round(kpts, 10), axis=0, return_index=True)
    return kpts[np.sort(first)]
