"""Band edges, gap and defect levels from eigenstates, by localization.

Mulliken weight of state c on atom a (S-normalized c, so weights sum to 1):

    w_a = sum_{mu in a} Re( conj(c_mu) (S c)_mu )

Inverse participation ratio ``IPR = sum_a w_a^2`` (1/n_atoms for a state
spread evenly, 1 for a state on one atom). A state is *localized* when its
weight on the defect site and its neighbours (``defect_weight``) reaches
``localization_threshold`` and at least 2.5 times the weight an evenly
spread state would have there (``2.5 n_defect_atoms / n_atoms``, the bound
that matters in small cells; in a cell too small for that, half-way between
an even spread and full localization).

Occupations: ``n_electrons / 2`` states are filled; with an odd count the
highest occupied state holds one electron (and may itself be a defect level).
Two definitions of the host band edges of a defect cell:

* ``"cell"`` (:func:`band_edges_and_levels`): from the cell's own states,
  skipping localized ones: VBM = highest occupied delocalized state, CBM =
  lowest empty delocalized state. It fails where a partly occupied defect
  state is not localized enough (split vacancy states) or where the defect
  pushes the host edge states of a small cell around.
* ``"aligned"`` (:func:`aligned_edges_and_levels`): the pristine cell's band
  edges (same cell size and temperature), shifted by the potential alignment
  ``ΔV`` (:func:`alignment_shift`): the mean change of the on-site energies
  ``H_μμ(Γ)`` of the atoms far from the defect, against the pristine cell's
  mean per element and orbital. The tight-binding counterpart of the
  potential alignment of supercell defect calculations (Van de Walle and
  Neugebauer, J. Appl. Phys. 95, 3851 (2004)).

States strictly between the aligned host edges are defect levels when they
are localized or deeper in the gap than :data:`EDGE_MARGIN_EV` from both edges (no host state lies
there); they are grouped into degenerate levels within ``degeneracy_tolerance_ev``, each with
its electrons (0-2 per state). Energies in eV.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from thermodefect.electronic.eigen import EigenSolverError, Eigenstates


# A localized state carries at least this multiple of the weight an evenly
# spread state would have on the defect atoms.
LOCALIZATION_OVER_UNIFORM = 2.5

# A gap is direct when some k-point's own gap is within this (eV) of it: equal
# up to rounding, as when the VBM and the CBM are at the same k-point.
DIRECT_GAP_ATOL_EV = 1e-6

# A state this far (eV) inside both aligned host edges is a defect level
# whatever its localization: thermal motion moves a 64-atom pristine cell's
# edges by a few 10 meV (GFN1-xTB, 300 K), so no host state reaches there.
EDGE_MARGIN_EV = 0.1


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
    """Band edges, host gap and defect levels of one structure (eV).

    ``edges`` says where ``vbm_ev``/``cbm_ev`` come from: ``"cell"`` (the cell's
    own delocalized states) or ``"aligned"`` (a pristine :class:`HostReference`
    shifted by ``alignment_ev``). ``edge_kpoints`` says over which k-points
    (:mod:`thermodefect.electronic.kpoints`), ``k_vbm_frac``/``k_cbm_frac`` where
    the edges are (fractional) and ``gap_is_direct`` whether some k-point holds
    both. ``cell_*`` are always the cell's own edges
    (NaN where that rule finds none). ``conduction_electrons`` and
    ``valence_holes`` count the electrons in delocalized or out-of-gap states
    above mid-gap and the holes below it: a shallow donor's electron, a
    shallow acceptor's hole. ``window`` (the solved states, their electrons,
    localization) and ``onsite`` (on-site energy summary, :func:`onsite_summary`)
    let :func:`realign` classify the states again against another host reference.
    """

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
    edges: str = "cell"
    cell_vbm_ev: float = float("nan")
    cell_cbm_ev: float = float("nan")
    alignment_ev: float | None = None
    conduction_electrons: float = 0.0
    valence_holes: float = 0.0
    window: dict | None = None
    onsite: dict | None = None
    edge_kpoints: str = "gamma"  # k-sampling of the edges: "gamma", "grid", "path", "grid+path" or "stored"
    n_kpoints: int = 1
    k_vbm_frac: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # (3,) fractional k of the VBM
    k_cbm_frac: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # (3,) fractional k of the CBM
    direct_gap_ev: float = float("nan")  # smallest CBM(k) - VBM(k) over the k-points
    gap_is_direct: bool = True  # the smallest direct gap is the gap (within DIRECT_GAP_ATOL_EV)

    @property
    def cell_gap_ev(self) -> float:
        return self.cell_cbm_ev - self.cell_vbm_ev

    @classmethod
    def from_record(cls, record: dict) -> "GapResult":
        """The result a snapshot record of the results files holds (``workflow.rundata.gap_record``)."""
        levels = [DefectLevel(energy_ev=lv.get("energy_ev", record["vbm_ev"] + lv["above_vbm_ev"]), above_vbm_ev=lv["above_vbm_ev"],
                              below_cbm_ev=lv.get("below_cbm_ev", record["cbm_ev"] - record["vbm_ev"] - lv["above_vbm_ev"]),
                              degeneracy=lv.get("degeneracy", 1), electrons=lv.get("electrons", 0.0),
                              defect_weight=lv.get("defect_weight", float("nan")), ipr=lv.get("ipr", float("nan")))
                  for lv in record.get("levels") or []]
        nan = float("nan")
        return cls(vbm_ev=record["vbm_ev"], cbm_ev=record["cbm_ev"], gap_ev=record["gap_ev"], homo_ev=record.get("homo_ev", nan),
                   lumo_ev=record.get("lumo_ev", nan), n_electrons=record.get("n_electrons", nan), levels=levels,
                   n_atoms=record.get("n_atoms", 0), solver=record.get("solver", "dense"), edges=record.get("edges", "cell"),
                   cell_vbm_ev=record.get("cell_vbm_ev", nan), cell_cbm_ev=record.get("cell_cbm_ev", nan),
                   alignment_ev=record.get("alignment_ev"), conduction_electrons=record.get("conduction_electrons", 0.0),
                   valence_holes=record.get("valence_holes", 0.0), window=record.get("window"), onsite=record.get("onsite"),
                   edge_kpoints=record.get("edge_kpoints", "gamma"), n_kpoints=record.get("n_kpoints", 1),
                   k_vbm_frac=record.get("k_vbm_frac", [0.0, 0.0, 0.0]), k_cbm_frac=record.get("k_cbm_frac", [0.0, 0.0, 0.0]),
                   direct_gap_ev=record.get("direct_gap_ev", record["gap_ev"]), gap_is_direct=record.get("gap_is_direct", True))

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
    defect_weight, localized = localization(weights, defect_atoms, localization_threshold)
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
        cell_vbm_ev=vbm,
        cell_cbm_ev=cbm,
        direct_gap_ev=cbm - vbm,
    )


# --------------------------------------------------------------------------- pristine-aligned edges
def state_window(states: Eigenstates, weights: np.ndarray, n_electrons: float, defect_atoms: list[int] | None,
                 localization_threshold: float, per_side: int) -> dict:
    """The solved states nearest the Fermi level (``per_side`` occupied and ``per_side`` empty at most) as
    plain lists: energies, electrons, defect weight, IPR, localized flag, global index."""
    top = highest_occupied_index(n_electrons)
    keep = np.nonzero((states.indices > top - per_side) & (states.indices <= top + per_side))[0]
    energies, indices, weights = states.energies_ev[keep], states.indices[keep], weights[:, keep]
    defect_weight, localized = localization(weights, defect_atoms, localization_threshold)
    return {
        "energies_ev": [float(x) for x in energies],
        "electrons": [float(x) for x in occupations(indices, n_electrons)],
        "defect_weight": [float(x) for x in defect_weight],
        "ipr": [float(x) for x in inverse_participation_ratio(weights)],
        "localized": [bool(x) for x in localized],
        "indices": [int(x) for x in indices],
    }


def localization(weights: np.ndarray, defect_atoms: list[int] | None, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(defect weight, localized flag) per state: weight on the defect atoms, and whether it reaches
    ``threshold`` and :data:`LOCALIZATION_OVER_UNIFORM` times an even spread (in a cell too small for
    that, half-way from an even spread to full localization). No defect: zeros, False."""
    if not defect_atoms:
        return np.zeros(weights.shape[1]), np.zeros(weights.shape[1], bool)
    defect_weight = weights[np.asarray(defect_atoms)].sum(axis=0)
    # In a small cell a spread-out state already has n_defect/n_atoms on the
    # defect atoms; require clearly more than that as well.
    uniform = len(defect_atoms) / weights.shape[0]
    return defect_weight, defect_weight >= max(threshold, min(LOCALIZATION_OVER_UNIFORM * uniform, 0.5 * (1 + uniform)))


def onsite_summary(diagonal: np.ndarray, offsets: np.ndarray, numbers, atoms_used) -> dict:
    """``{str(Z): {"mean": [per-orbital mean of H_μμ], "count": atoms}}`` over ``atoms_used`` (eV)."""
    out: dict[str, dict] = {}
    numbers = np.asarray(numbers)
    for z in sorted(set(int(numbers[a]) for a in atoms_used)):
        chosen = [a for a in atoms_used if int(numbers[a]) == z]
        values = np.stack([diagonal[offsets[a]:offsets[a + 1]] for a in chosen])
        out[str(z)] = {"mean": [float(x) for x in values.mean(axis=0)], "count": len(chosen)}
    return out


@dataclass
class HostReference:
    """Band edges and on-site energies of the pristine host (means over pristine snapshots), eV."""

    vbm_ev: float
    cbm_ev: float
    onsite: dict  # {str(Z): {"mean": [...], "count": n}} as :func:`onsite_summary`
    n_snapshots: int

    @property
    def gap_ev(self) -> float:
        return self.cbm_ev - self.vbm_ev

    @classmethod
    def from_results(cls, results) -> "HostReference":
        """Mean edges and on-site energies of pristine :class:`GapResult` s or their JSON records."""
        results = list(results)
        if not results:
            raise ValueError("a host reference needs at least one pristine result")
        get = lambda r, name: getattr(r, name) if isinstance(r, GapResult) else r[name]  # noqa: E731
        onsite: dict[str, dict] = {}
        for r in results:
            for z, entry in (get(r, "onsite") or {}).items():
                slot = onsite.setdefault(z, {"sum": np.zeros(len(entry["mean"])), "count": 0})
                slot["sum"] = slot["sum"] + np.asarray(entry["mean"]) * entry["count"]
                slot["count"] += entry["count"]
        onsite = {z: {"mean": [float(x) for x in s["sum"] / s["count"]], "count": s["count"]} for z, s in onsite.items()}
        return cls(vbm_ev=float(np.mean([get(r, "vbm_ev") for r in results])),
                   cbm_ev=float(np.mean([get(r, "cbm_ev") for r in results])), onsite=onsite, n_snapshots=len(results))

    def to_dict(self) -> dict:
        return asdict(self)


def alignment_shift(onsite: dict, host: HostReference) -> float:
    """``ΔV`` (eV): mean over the summarised atoms and orbitals of ``H_μμ - <H_μμ>_host`` (same element)."""
    total, count = 0.0, 0
    for z, entry in onsite.items():
        if z not in host.onsite:
            continue  # an element the host lacks (antisite or impurity atom): no reference
        diff = np.asarray(entry["mean"]) - np.asarray(host.onsite[z]["mean"])
        total += float(diff.sum()) * entry["count"]
        count += len(diff) * entry["count"]
    if count == 0:
        raise ValueError("no atom of the defect cell shares an element with the host reference")
    return total / count


def aligned_edges_and_levels(result: GapResult, host: HostReference, degeneracy_tolerance_ev: float) -> GapResult:
    """``result`` classified against the aligned host edges (a new :class:`GapResult`; ``result`` needs
    ``window`` and ``onsite``).

    VBM = host VBM + ΔV, CBM = host CBM + ΔV. States strictly between them are
    levels when localized or more than :data:`EDGE_MARGIN_EV`
    from both edges, whatever their occupation. Every other state counts to the
    nearer edge: its electrons above mid-gap are ``conduction_electrons``, its
    missing electrons below mid-gap ``valence_holes``.
    """
    if result.window is None or result.onsite is None:
        raise ValueError("this result keeps no state window or on-site energies to align")
    shift = alignment_shift(result.onsite, host)
    vbm, cbm = host.vbm_ev + shift, host.cbm_ev + shift
    w = {k: np.asarray(v) for k, v in result.window.items()}
    energies, electrons = w["energies_ev"], w["electrons"]
    if not (energies.min() <= vbm and energies.max() >= cbm):
        raise WindowTooSmall(f"the solved states ({energies.min():.2f} to {energies.max():.2f} eV) do not span "
                             f"the aligned host edges ({vbm:.2f}, {cbm:.2f} eV); increase bands_near_gap")
    inside = (energies > vbm) & (energies < cbm)
    deep = (energies > vbm + EDGE_MARGIN_EV) & (energies < cbm - EDGE_MARGIN_EV)
    level = inside & (w["localized"].astype(bool) | deep)
    mid = 0.5 * (vbm + cbm)
    other = ~level
    conduction = float(electrons[other & (energies > mid)].sum())
    holes = float((2.0 - electrons[other & (energies <= mid)]).sum())
    in_gap = np.nonzero(level)[0]
    in_gap = in_gap[np.argsort(energies[in_gap])]
    levels = []
    for group in group_levels(energies[in_gap], degeneracy_tolerance_ev):
        members = in_gap[group]
        energy = float(np.mean(energies[members]))
        levels.append(DefectLevel(
            energy_ev=energy, above_vbm_ev=energy - vbm, below_cbm_ev=cbm - energy, degeneracy=len(members),
            electrons=float(electrons[members].sum()), defect_weight=float(np.mean(w["defect_weight"][members])),
            ipr=float(np.mean(w["ipr"][members])), state_indices=[int(x) for x in w["indices"][members]]))
    return replace(result, vbm_ev=vbm, cbm_ev=cbm, gap_ev=cbm - vbm, direct_gap_ev=cbm - vbm, levels=levels, edges="aligned",
                   alignment_ev=shift, conduction_electrons=conduction, valence_holes=holes,
                   metadata={**result.metadata, "host_snapshots": host.n_snapshots})


def realign(result: GapResult, host: HostReference | None, degeneracy_tolerance_ev: float) -> GapResult:
    """Aligned edges and levels when a host reference is given, else ``result`` unchanged."""
    return result if host is None else aligned_edges_and_levels(result, host, degeneracy_tolerance_ev)

