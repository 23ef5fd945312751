"""Cells, seeds and MD snapshots shared by the pipeline stages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read

from thermodefect.core.errors import UserInputError
from thermodefect.core.keys import DEFECT_INDEX, DEFECT_INFO, DEFECT_SITE



def cell_path(structures_dir: Path, n_atoms: int, name: str) -> Path:
    """``structures/{N}atoms-{defect}.extxyz``; N is the pristine cell's atom count."""
    return structures_dir / f"{n_atoms}atoms-{name}.extxyz"


def load_cells(structures_dir: Path, n_atoms: int, names: list[str]) -> dict[str, Atoms]:
    cells = {}
    for name in names:
        path = cell_path(structures_dir, n_atoms, name)
        if not path.is_file():
            raise UserInputError(f"{path}: missing; rerun the structures stage (thermodefect run CONFIG --only structures)")
        cells[name] = read(path)
    return cells


def tag_frame(frame: Atoms, cell: Atoms) -> Atoms:
    """Copy the defect description of ``cell`` onto an MD frame of it.

    The defect site follows the defect atom (interstitial, antisite); a
    vacancy's lattice site moves with the frame's mean displacement from
    ``cell`` (the drift of the whole crystal under a Langevin thermostat).
    """
    for key in DEFECT_INFO:
        if key in cell.info:
            frame.info[key] = cell.info[key]
    index = int(cell.info.get(DEFECT_INDEX, -1))
    if index >= 0:
        frame.info[DEFECT_SITE] = frame.positions[index].copy()
    elif DEFECT_SITE in cell.info and len(frame) == len(cell):
        frame.info[DEFECT_SITE] = np.asarray(cell.info[DEFECT_SITE], float) + lattice_drift(frame, cell)
    return frame


def lattice_drift(frame: Atoms, cell: Atoms) -> np.ndarray:
    """Mean minimum-image displacement (Å) of ``frame``'s atoms from the same atoms in ``cell``."""
    from ase.geometry import find_mic

    shift, _ = find_mic(frame.positions - cell.positions, cell.cell, pbc=cell.pbc)
    return shift.mean(axis=0)


def uniform_picks(n_frames: int, count: int) -> list[int]:
    """``count`` frame indices spread uniformly in time over ``n_frames`` (all when fewer)."""
    if count >= n_frames:
        return list(range(n_frames))
    return sorted({int(round(x)) for x in np.linspace(0, n_frames - 1, count)})


def valence_electrons(samples) -> dict[int, float]:
    """Electrons per element implied by labelled samples (the reference's valence counts).

    Solves n_electrons = sum_Z count_Z * z_Z over samples of different
    compositions; needs as many distinct compositions as elements.
    """
    elements = sorted({int(z) for s in samples for z in s.structure.numbers})
    rows, rhs = {}, {}
    for s in samples:
        counts = tuple(int(np.sum(s.structure.numbers == z)) for z in elements)
        rows[counts] = counts
        rhs[counts] = s.n_electrons
    a = np.array(list(rows.values()), float)
    b = np.array([rhs[k] for k in rows])
    if np.linalg.matrix_rank(a) < len(elements):
        raise UserInputError(
            "cannot infer electrons per element: the labelled structures share one composition; include the pristine cell or another defect"
        )
    z, *_ = np.linalg.lstsq(a, b, rcond=None)
    return {el: float(np.round(v, 6)) for el, v in zip(elements, z)}


def electron_count(atoms: Atoms, per_element: dict[int, float]) -> float:
    return float(sum(per_element[int(z)] for z in atoms.numbers))
