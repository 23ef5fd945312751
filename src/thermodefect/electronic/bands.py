"""Band structures of a supercell along a high-symmetry path, and the data of their figure.

The path uses the special points of the *supercell's own* Bravais lattice
(ASE's tables, e.g. "LGXK" for an fcc-shaped primitive supercell). A
supercell's Brillouin zone is smaller than the primitive cell's, so the host
bands are folded: many primitive-cell k-points land on each supercell k.
``points_per_segment`` points per segment (the end point of a segment is
the start of the next); ``n_segments * points_per_segment + 1`` in all.
:func:`band_figure_data` turns a band structure into the JSON that
``thermodefect.report.figures.band_structure_figure`` draws (no matplotlib here).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from thermodefect.data.operators import BlockOperator
from thermodefect.electronic.analysis import choose_solver, defect_atoms_of, solve_states
from thermodefect.electronic.bloch import bloch_pair, cartesian_to_fractional, fractional_to_cartesian
from thermodefect.electronic.kpoints import BandPathError
from thermodefect.electronic.levels import GapResult, atom_weights, highest_occupied_index
from thermodefect.settings import ElectronicSettings


@dataclass
class BandPath:
    kpts_frac: np.ndarray  # (n_k, 3) fractional k-points of the supercell
    distance: np.ndarray  # (n_k,) cumulative path length, 1/Å
    label_positions: list[int]  # index into kpts of each special point
    labels: list[str]  # special point names, "G" written as "Γ"


def _split_labels(path: str) -> list[str]:
    labels, k = [], 0
    while k < len(path):
        if k + 1 < len(path) and path[k + 1].isdigit():
            labels.append(path[k : k + 2])
            k += 2
        else:
            labels.append(path[k])
            k += 1
    return labels


def zincblende_primitive_cell(atoms) -> np.ndarray:
    """(3, 3) Å: the fcc primitive cell of the zincblende lattice ``atoms`` is a supercell of.

    Its lattice constant comes from the volume per host atom pair,
    a = (8 V / N_host)^(1/3), with N_host = 2·round(N/2): a vacancy or an
    interstitial changes N by one, an antisite not at all. The axes are the
    cubic axes, as in the supercells this package builds.
    """
    n_host = 2 * round(len(atoms) / 2)
    a = (8.0 * abs(atoms.get_volume()) / n_host) ** (1.0 / 3.0)
    return 0.5 * a * np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])


def band_path(cell, path: str = "LGXK", points_per_segment: int = 15, special_cell=None) -> BandPath:
    """High-symmetry path through the special points of ``cell``'s lattice (ASE).

    With ``special_cell`` (e.g. the zincblende primitive cell of the
    material) the special points are that lattice's, at the same Cartesian k
    in the supercell's reciprocal coordinates: the supercell's bands along the
    primitive cell's path, folded.
    """
    from ase.cell import Cell

    cell = Cell(np.asarray(cell, float))
    source = cell if special_cell is None else Cell(np.asarray(special_cell, float))
    try:
        special = source.bandpath(npoints=0).special_points
    except Exception as exc:  # ASE raises several types for odd cells
        raise BandPathError(f"cannot identify the Bravais lattice of the cell ({exc})") from None
    if special_cell is not None:
        special = {name: cartesian_to_fractional(fractional_to_cartesian(np.asarray(k, float), source[:]), cell[:])
                   for name, k in special.items()}
    labels = _split_labels(path)
    missing = [name for name in labels if name not in special]
    if len(labels) < 2 or missing:
        raise BandPathError(
            f"band path {path!r}: points {missing or labels} not available for this "
            f"{source.get_bravais_lattice().name} cell; choose from {''.join(sorted(special))}"
        )
    kpts = []
    for start, end in zip(labels[:-1], labels[1:]):
        for t in np.arange(points_per_segment) / points_per_segment:
            kpts.append((1 - t) * np.asarray(special[start]) + t * np.asarray(special[end]))
    kpts.append(np.asarray(special[labels[-1]]))
    kpts = np.array(kpts)
    steps = np.linalg.norm(np.diff(fractional_to_cartesian(kpts, cell[:]), axis=0), axis=1)
    distance = np.concatenate([[0.0], np.cumsum(steps)])
    positions = [k * points_per_segment for k in range(len(labels))]
    return BandPath(kpts, distance, positions, ["Γ" if name == "G" else name for name in labels])


@dataclass
class BandStructure:
    path: BandPath
    energies_ev: np.ndarray  # (n_k, n_bands) bands nearest the gap, eV
    defect_weight: np.ndarray  # (n_k, n_bands) weight on the defect site + neighbours (0 for pristine)
    band_indices: np.ndarray  # (n_k, n_bands) global index of each band
    metadata: dict = field(default_factory=dict)


def band_structure(
    hamiltonian: BlockOperator,
    overlap: BlockOperator | None,
    n_electrons: float,
    atoms=None,
    settings: ElectronicSettings | None = None,
    solver: str | None = None,
    special_cell=None,
) -> BandStructure:
    """The ``bands_near_gap`` bands around the Fermi level along ``settings.band_path``.

    ``special_cell``: take the path's special points from this cell (see :func:`band_path`).
    """
    settings = settings or ElectronicSettings()
    path = band_path(hamiltonian.structure.cell, settings.band_path, settings.points_per_segment, special_cell)
    n_atoms = len(hamiltonian.structure.numbers)
    defect_atoms = defect_atoms_of(atoms)
    offsets = hamiltonian.offsets()
    top = highest_occupied_index(n_electrons)
    n_bands = min(settings.bands_near_gap, int(offsets[-1]))
    first = int(np.clip(top + 1 - n_bands // 2, 0, int(offsets[-1]) - n_bands))
    energies, weights, indices = [], [], []
    for k in path.kpts_frac:
        h, s = bloch_pair(hamiltonian, overlap, k_frac=k)
        chosen = choose_solver(n_atoms, settings, solver, h)
        states = solve_states(h, s, n_electrons, chosen, settings, n_states=n_bands + 4)
        keep = np.nonzero((states.indices >= first) & (states.indices < first + n_bands))[0]
        keep = keep if len(keep) == n_bands else np.arange(n_bands)
        w = atom_weights(states.vectors[:, keep], s, offsets)
        energies.append(states.energies_ev[keep])
        weights.append(w[defect_atoms].sum(axis=0) if defect_atoms else np.zeros(len(keep)))
        indices.append(states.indices[keep])
    return BandStructure(path, np.array(energies), np.array(weights), np.array(indices), {"solver": chosen})


def band_figure_data(bands: BandStructure, gap: GapResult | None = None, title: str = "", **extra) -> dict:
    """The JSON-able data of a band-structure figure (drawn by :mod:`thermodefect.report.figures`).

    Energies are relative to the VBM of ``gap`` (``energy_zero`` "VBM"), or
    absolute without one. Keys: ``title``, ``energy_zero``, ``labels``,
    ``label_positions``, ``distance_per_angstrom``, ``energies_ev``
    (n_k x n_bands), ``defect_weight`` (same shape), ``vbm_ev`` (absolute, or
    None), ``cbm_above_vbm_ev`` and ``levels`` ``[{above_vbm_ev, degeneracy}]``
    (empty without ``gap``), then ``extra``.
    """
    zero = gap.vbm_ev if gap is not None else 0.0
    return {
        "title": title,
        "energy_zero": "VBM" if gap is not None else "absolute",
        "labels": list(bands.path.labels),
        "label_positions": [int(p) for p in bands.path.label_positions],
        "distance_per_angstrom": np.asarray(bands.path.distance, float).tolist(),
        "energies_ev": (np.asarray(bands.energies_ev, float) - zero).tolist(),
        "defect_weight": np.asarray(bands.defect_weight, float).tolist(),
        "vbm_ev": None if gap is None else float(gap.vbm_ev),
        "cbm_above_vbm_ev": None if gap is None else float(gap.cbm_ev - gap.vbm_ev),
        "levels": [] if gap is None else [{"above_vbm_ev": float(lv.above_vbm_ev), "degeneracy": int(lv.degeneracy)}
                                          for lv in sorted(gap.levels, key=lambda lv: lv.energy_ev)],
        **extra,
    }
