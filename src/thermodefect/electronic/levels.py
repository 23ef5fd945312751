"""Band edges, gap and defect levels from eigenstates, by localization.

Mulliken weight of state c on atom a (S-normalized c, so weights sum to 1):

    w_a = sum_{mu in a} Re( conj(c_mu) (S c)_mu )

Inverse participation ratio ``IPR = sum_a w_a^2`` (1/n_atoms for a state
spread evenly, 1 for a state on one atom). A state is *localized* when its
weight on the defect site and its neighbours (``defect_weight``) reaches
``localization_threshold`` and at least twice the weight an evenly spread
state would have there (``2 n_defect_atoms / n_atoms``, which matters only
in small cells).

Occupations: ``n_electrons / 2`` states are filled; with an odd count the
highest occupied state holds one electron (and may itself be a defect level).
The pristine-like band edges skip localized states: VBM = highest occupied
delocalized state, CBM = lowest empty delocalized state. Localized states
strictly between them are the defect levels, grouped into degenerate levels
within ``degeneracy_tolerance_ev``. Energies in eV.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from thermodefect.electronic.eigen import EigenSolverError, Eigenstates


# A localized state carries at least this multiple of the weight an evenly
# spread state would have on the defect atoms.
LOCALIZATION_OVER_UNIFORM = 2.0


class WindowTooSmall(EigenSolverError):
    """The solved states do not reach a delocalized state on both sides of the Fermi level."""


def atom_weights(vectors: np.ndarray, s, offsets: np.ndarray) -> np.ndarray:
    """Mulliken weights per atom, shape (n_atoms, n_states); columns sum to 1 for S-normalized states.

    ``vectors`` (n_orb, n_states); ``s`` the overlap (None = identity);
    ``offsets`` (n_atoms + 1,) first orbital row of each atom.
    """
    s_times_c = vectors if s is None else (s @ vectors)
    orbital = np.real(np.conj(vectors) * s_times_c)
    return np.add.reduceat(orbital, offsets[:-1], axis=0)


def inverse_participation_ratio(weights: np.ndarray) -> np.ndarray:
    """``sum_a w_a^2`` per state, shape (n_states,), weights normalized to sum 1."""
    normalized = weights / weights.sum(axis=0, keepdims=True)
    return np.sum(normalized**2, axis=0)


@dataclass
class DefectLevel:
    """A group of (near-)degenerate localized in-gap states."""

    energy_ev: float  # mean energy of the group, absolute
    above_vbm_ev: float
    below_cbm_ev: float
    degeneracy: int
    electrons: float  # electrons in the group (2 per filled state, 1 for a half-filled one)
    defect_weight: float  # mean weight on the defect site + neighbours
    ipr: float  # mean inverse participation ratio
    state_indices: list[int] = field(default_factory=list)


@dataclass
class GapResult:
    """Band edges, pristine-like gap and defect levels of one structure (eV)."""

    vbm_ev: float
    cbm_ev: float
    gap_ev: float
    homo_ev: float
    lumo_ev: float
    n_electrons: float
    levels: list[DefectLevel]
    n_atoms: int
    solver: str  # "dense" or "sparse"
    metadata: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def occupations(indices: np.ndarray, n_electrons: float) -> np.ndarray:
    """Electrons per state (2, 1 or 0) for states with these global indices (spin-degenerate)."""
    full = int(np.floor(n_electrons / 2 + 1e-9))
    half = (n_electrons - 2 * full) > 0.5
    occ = np.where(indices < full, 2.0, 0.0)
    if half:
        occ[indices == full] = 1.0
    return occ


def highest_occupied_index(n_electrons: float) -> int:
    """Global index of the highest (fully or half) occupied state."""
    return int(np.ceil(n_electrons / 2 - 1e-9)) - 1


def group_levels(energies: np.ndarray, tolerance_ev: float) -> list[list[int]]:
    """Positions of sorted ``energies`` grouped where neighbours differ by at most ``tolerance_ev``."""
    groups: list[list[int]] = []
    for k in range(len(energies)):
        if groups and energies[k] - energies[groups[-1][-1]] <= tolerance_ev:
            groups[-1].append(k)
        else:
            groups.append([k])
    return groups


def band_edges_and_levels(
    states: Eigenstates,
    weights: np.ndarray,
    n_electrons: float,
    defect_atoms: list[int] | None,
    localization_threshold: float,
    degeneracy_tolerance_ev: float,
    solver: str = "dense",
) -> GapResult:
    """Classify the states of ``states`` into band edges and defect levels.

    ``weights`` (n_atoms, n_states) Mulliken weights; ``defect_atoms`` the
    defect site and its neighbours (None or empty for a pristine cell: no levels).
    """
    energies, indices = states.energies_ev, states.indices
    occ = occupations(indices, n_electrons)
    top = highest_occupied_index(n_electrons)
    pos_top = np.nonzero(indices == top)[0]
    pos_bottom = np.nonzero(indices == top + 1)[0]
    if len(pos_top) == 0 or len(pos_bottom) == 0:
        raise WindowTooSmall(f"states {top} and {top + 1} (highest occupied, lowest empty) are not among those solved")
    ipr = inverse_participation_ratio(weights)
    if defect_atoms:
        defect_weight = weights[np.asarray(defect_atoms)].sum(axis=0)
        # In a small cell a spread-out state already has n_defect/n_atoms on the
        # defect atoms; require clearly more than that as well.
        uniform = len(defect_atoms) / weights.shape[0]
        localized = defect_weight >= max(localization_threshold, LOCALIZATION_OVER_UNIFORM * uniform)
    else:
        defect_weight = np.zeros(len(energies))
        localized = np.zeros(len(energies), bool)
    # A defect level is a localized, (partly) occupied group of states: the
    # neutral defect's own electrons. An empty localized state belongs to it
    # only when degenerate with such a state (a partly filled level); other
    # empty states, however perturbed by the defect in a small cell, are the
    # conduction band -- counting them as levels would push the CBM up.
    level = localized & (occ > 0)
    for e in np.nonzero(localized & (occ == 0))[0]:
        if np.any(level & (np.abs(energies - energies[e]) <= degeneracy_tolerance_ev)):
            level[e] = True
    occupied = np.nonzero((occ > 0) & ~level)[0]
    empty = np.nonzero((occ == 0) & ~level)[0]
    if len(occupied) == 0 or len(empty) == 0:
        raise WindowTooSmall(
            "no delocalized state below or above the Fermi level in the solved window; "
            "increase bands_near_gap or localization_threshold"
        )
    vbm_pos, cbm_pos = occupied.max(), empty.min()
    vbm, cbm = float(energies[vbm_pos]), float(energies[cbm_pos])
    in_gap = np.nonzero(level & (energies > vbm) & (energies < cbm))[0]
    levels = []
    for group in group_levels(energies[in_gap], degeneracy_tolerance_ev):
        members = in_gap[group]
        energy = float(np.mean(energies[members]))
        levels.append(
            DefectLevel(
                energy_ev=energy,
                above_vbm_ev=energy - vbm,
                below_cbm_ev=cbm - energy,
                degeneracy=len(members),
                electrons=float(occ[members].sum()),
                defect_weight=float(np.mean(defect_weight[members])),
                ipr=float(np.mean(ipr[members])),
                state_indices=[int(x) for x in indices[members]],
            )
        )
    return GapResult(
        vbm_ev=vbm,
        cbm_ev=cbm,
        gap_ev=cbm - vbm,
        homo_ev=float(energies[pos_top[0]]),
        lumo_ev=float(energies[pos_bottom[0]]),
        n_electrons=float(n_electrons),
        levels=levels,
        n_atoms=weights.shape[0],
        solver=solver,
    )

