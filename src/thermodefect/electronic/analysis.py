"""One structure's band edges, gap and defect levels from its H and S.

Entry points: :func:`analyze_operators` (real-space blocks, any k-points),
:func:`analyze_sample` (a :class:`~thermodefect.data.operators.HamiltonianSample`,
real-space or k-space) and :func:`solve_states` (dense or sparse by cell size).
"""

from __future__ import annotations

import numpy as np

from thermodefect.core import keys
from thermodefect.data.operators import BlockOperator, HamiltonianSample, orbital_offsets
from thermodefect.electronic.bloch import bloch_pair, kspace_pair, pair_fill_fraction
from thermodefect.electronic.eigen import Eigenstates, solve_dense, solve_near_gap
from thermodefect.electronic.kpoints import edge_kpoint_set, resolve_edge_kpoints
from thermodefect.electronic.levels import (
    DIRECT_GAP_ATOL_EV,
    GapResult,
    HostReference,
    WindowTooSmall,
    atom_weights,
    band_edges_and_levels,
    highest_occupied_index,
    onsite_summary,
    realign,
    state_window,
)
from thermodefect.settings import ElectronicSettings


def is_pristine_cell(atoms) -> bool:
    """True without a defect site (or for a cell labelled ``pristine``): no levels, and it aligns to itself."""
    return atoms is None or keys.DEFECT_SITE not in atoms.info or atoms.info.get(keys.DEFECT) == "pristine"


def defect_atoms_of(atoms) -> list[int] | None:
    """Defect site and neighbour indices of a defect cell, None for a pristine one."""
    if is_pristine_cell(atoms):
        return None
    from thermodefect.structures import defect_neighbours

    return defect_neighbours(atoms)


def alignment_atoms(atoms, n_atoms: int) -> list[int]:
    """Atoms whose on-site energies align the cell to the host: all of a pristine cell; of a defect
    cell, those at least the median distance (minimum image) from the defect site."""
    if is_pristine_cell(atoms):
        return list(range(n_atoms))
    from ase.geometry import get_distances

    site = np.asarray(atoms.info[keys.DEFECT_SITE], float).reshape(1, 3)
    distance = get_distances(atoms.positions, site, cell=atoms.cell, pbc=atoms.pbc)[1][:, 0]
    return [int(a) for a in np.nonzero(distance >= np.median(distance))[0]]


def gamma_diagonal(h) -> np.ndarray:
    """Real part of the diagonal of H(k) (sparse or dense)."""
    return np.real(np.asarray(h.diagonal())).ravel()


def choose_solver(n_atoms: int, settings: ElectronicSettings, solver: str | None = None, matrix=None) -> str:
    """``solver`` when given; else "dense" up to ``settings.sparse_above_atoms`` atoms, "sparse" above,
    except for a ``matrix`` (H(k), or the real-space operator it will be built from) more than
    ``DENSE_FILL`` full, which is solved densely."""
    if solver is not None:
        if solver not in ("dense", "sparse"):
            raise ValueError(f"solver must be 'dense' or 'sparse', got {solver!r}")
        return solver
    if n_atoms <= settings.sparse_above_atoms:
        return "dense"
    return "dense" if matrix is not None and fill_fraction(matrix) > DENSE_FILL else "sparse"


# Above this fraction of nonzero entries a shift-invert factorization of H(k)
# costs more than LAPACK's dense solver (long-ranged operators: a 21 Å
# two-center overlap fills the whole matrix of a 512-atom cell).
DENSE_FILL = 0.25


def fill_fraction(matrix) -> float:
    """Nonzero entries / all entries of a (sparse or dense) square matrix; of a
    :class:`BlockOperator`, the entries its atom pairs' blocks cover (:func:`pair_fill_fraction`)."""
    if isinstance(matrix, BlockOperator):
        return pair_fill_fraction(matrix)
    if hasattr(matrix, "pair_fill_fraction"):  # an operator assembled at k (KPointOperators)
        return matrix.pair_fill_fraction()
    n = matrix.shape[0]
    nonzero = matrix.nnz if hasattr(matrix, "nnz") else np.count_nonzero(matrix)
    return nonzero / float(n * n)


def solve_states(
    h, s, n_electrons: float, solver: str, settings: ElectronicSettings, target_ev: float | None = None, n_states: int | None = None
) -> Eigenstates:
    """States near the gap. Sparse: ``n_states`` (default ``bands_near_gap``) around the Fermi level.
    Dense: all of them, or with ``n_states`` the ``n_states`` highest occupied and lowest empty ones."""
    n_occupied = highest_occupied_index(n_electrons) + 1
    if solver == "dense":
        subset = None if n_states is None else (n_occupied - n_states, n_occupied + n_states - 1)
        return solve_dense(h, s, settings.min_overlap_eigenvalue, settings.canonical_overlap_cutoff, subset)
    n_states = min(n_states or settings.bands_near_gap, h.shape[0] - 2)
    return solve_near_gap(h, s, n_occupied, n_states, target_ev, settings.min_overlap_eigenvalue)


def analyze_matrices(
    h,
    s,
    offsets: np.ndarray,
    n_electrons: float,
    defect_atoms: list[int] | None,
    settings: ElectronicSettings,
    solver: str,
    target_ev: float | None = None,
    host: HostReference | None = None,
    onsite: dict | None = None,
) -> GapResult:
    """Gap and levels from one k-point's ``H(k)``, ``S(k)`` (CSR or dense).

    The result keeps the states nearest the gap (``window``) and ``onsite``
    (:func:`~thermodefect.electronic.levels.onsite_summary` of this H), so it
    can be aligned to a pristine host; with ``host`` it is (``edges="aligned"``).
    The sparse window doubles (up to the full problem) until it holds a
    delocalized state on each side of the Fermi level (and spans the aligned edges).
    """
    per_side = 2 * settings.bands_near_gap  # the window a result keeps (state_window)
    # Sparse: Lanczos for bands_near_gap states. Dense: LAPACK for the kept window on each side only.
    n_states = settings.bands_near_gap if solver == "sparse" else per_side
    while True:
        states = solve_states(h, s, n_electrons, solver, settings, target_ev, n_states)
        weights = atom_weights(states.vectors, s, offsets)
        try:
            result = band_edges_and_levels(
                states, weights, n_electrons, defect_atoms, settings.localization_threshold, settings.degeneracy_tolerance_ev, solver
            )
            result.window = state_window(states, weights, n_electrons, defect_atoms, settings.localization_threshold, per_side)
            result.onsite = onsite
            return realign(result, host, settings.degeneracy_tolerance_ev)
        except WindowTooSmall:
            if len(states.indices) >= h.shape[0] - 2 or n_states >= h.shape[0]:
                raise
            n_states *= 2


def analyze_operators(
    hamiltonian: BlockOperator,
    overlap: BlockOperator | None,
    n_electrons: float,
    atoms=None,
    settings: ElectronicSettings | None = None,
    kpts_frac: np.ndarray | None = None,
    solver: str | None = None,
    target_ev: float | None = None,
    host: HostReference | None = None,
) -> GapResult:
    """Band edges, gap and defect levels from real-space H (eV) and S blocks.

    ``atoms`` (ASE, with ``info["defect_site"]``) locates the defect; without
    it no defect levels are reported. ``kpts_frac`` (n_k, 3) fractional
    k-points (default Γ): VBM is the maximum and CBM the minimum over them;
    defect levels are those of the k-point of the VBM. ``host`` (pristine
    edges and on-site energies) gives pristine-aligned edges (Γ only).
    """
    settings = settings or ElectronicSettings()
    kpts = np.zeros((1, 3)) if kpts_frac is None else np.atleast_2d(np.asarray(kpts_frac, float))
    if host is not None and len(kpts) > 1:
        raise ValueError("pristine-aligned edges are defined at Γ only; pass no kpts_frac with a host reference")
    chosen = choose_solver(len(hamiltonian.structure.numbers), settings, solver, hamiltonian)
    # The dense solver gets dense matrices assembled directly (no sparse intermediate).
    pairs = (bloch_pair(hamiltonian, overlap, k_frac=k, dense=(chosen == "dense")) for k in kpts)
    return _analyze_kpoints(pairs, kpts, hamiltonian.structure.numbers, hamiltonian.offsets(), n_electrons, atoms,
                            settings, chosen, target_ev, host)


def analyze_assembled(
    h,
    s,
    numbers: np.ndarray,
    offsets: np.ndarray,
    n_electrons: float,
    atoms=None,
    settings: ElectronicSettings | None = None,
    target_ev: float | None = None,
    host: HostReference | None = None,
) -> GapResult:
    """:func:`analyze_operators` at Γ of ``H(Γ)``, ``S(Γ)`` already assembled (dense arrays, solved densely,
    or CSR matrices, solved as :func:`choose_solver` decides), for atoms ``numbers`` whose orbitals start at ``offsets``."""
    settings = settings or ElectronicSettings()
    chosen = "dense" if isinstance(h, np.ndarray) else choose_solver(len(numbers), settings, None, h)
    return _analyze_kpoints([(h, s)], np.zeros((1, 3)), numbers, offsets, n_electrons, atoms, settings, chosen, target_ev, host)


def _analyze_kpoints(pairs, kpts: np.ndarray, numbers, offsets, n_electrons, atoms, settings, chosen, target_ev, host) -> GapResult:
    """:func:`analyze_matrices` of each k-point's ``(H(k), S(k))`` from ``pairs``, combined over ``kpts``."""
    defect_atoms = defect_atoms_of(atoms)
    used = alignment_atoms(atoms, len(numbers))
    results = []
    for h, s in pairs:
        onsite = onsite_summary(gamma_diagonal(h), offsets, numbers, used)
        results.append(analyze_matrices(h, s, offsets, n_electrons, defect_atoms, settings, chosen, target_ev, host, onsite))
    return combine_kpoints(results, kpts)


def combine_kpoints(results: list[GapResult], kpts_frac: np.ndarray) -> GapResult:
    """Band edges over a k-set: VBM = max, CBM = min; levels from the VBM's k-point, re-referenced.

    Records where the edges are (``k_vbm_frac``, ``k_cbm_frac``), the smallest
    direct gap and whether the gap is direct; ``edge_kpoints`` is "gamma" for Γ
    alone, else "given" (callers that chose the k-set name it). The on-site
    energies are Γ's when Γ is in the set (those of H(k ≠ 0) carry Bloch phases).
    """
    k_vbm = int(np.argmax([r.vbm_ev for r in results]))
    k_cbm = int(np.argmin([r.cbm_ev for r in results]))
    direct_gap = min(r.cbm_ev - r.vbm_ev for r in results)
    best = results[k_vbm]
    vbm, cbm = best.vbm_ev, results[k_cbm].cbm_ev
    for level in best.levels:
        level.above_vbm_ev = level.energy_ev - vbm
        level.below_cbm_ev = cbm - level.energy_ev
    best.cbm_ev, best.gap_ev = cbm, cbm - vbm
    best.homo_ev = max(r.homo_ev for r in results)
    best.lumo_ev = min(r.lumo_ev for r in results)
    at_gamma = np.nonzero(np.all(np.abs(kpts_frac - np.round(kpts_frac)) < 1e-12, axis=1))[0]
    if len(at_gamma):
        best.onsite = results[int(at_gamma[0])].onsite
    best.direct_gap_ev = direct_gap
    best.gap_is_direct = bool(best.direct_gap_ev - best.gap_ev <= DIRECT_GAP_ATOL_EV)
    best.k_vbm_frac, best.k_cbm_frac = kpts_frac[k_vbm].tolist(), kpts_frac[k_cbm].tolist()
    best.n_kpoints = len(results)
    best.edge_kpoints = "gamma" if len(results) == len(at_gamma) == 1 else "given"
    return best


def analyze_sample(
    sample: HamiltonianSample,
    atoms=None,
    settings: ElectronicSettings | None = None,
    solver: str | None = None,
    target_ev: float | None = None,
    host: HostReference | None = None,
    edge_kpoints: str | None = None,
) -> GapResult:
    """Gap and defect levels of a labelled sample (real-space blocks, or its stored k-points).

    ``atoms`` carries the defect site; without it the sample's metadata
    ``defect_site`` / ``defect_index`` / ``defect`` are used when present.
    ``host``: pristine-aligned edges, as :func:`analyze_operators` (Γ only).
    ``edge_kpoints`` chooses the k-points of the band edges of real-space
    blocks: None = Γ (the pipeline's supercells), else "auto", "gamma", "grid",
    "path" or "grid+path" as :func:`~thermodefect.electronic.kpoints.resolve_edge_kpoints`
    decides for this cell. k-space samples always use their stored k-points
    (``edge_kpoints`` "gamma" for Γ alone, else "stored").
    """
    settings = settings or ElectronicSettings()
    if atoms is None:
        atoms = sample.structure.to_atoms()
        atoms.info.update({k: sample.metadata[k] for k in (keys.DEFECT, keys.DEFECT_SITE, keys.DEFECT_INDEX) if k in sample.metadata})
    if sample.realspace is not None:
        hamiltonian, overlap = sample.realspace
        cell = sample.structure.cell
        sampling = "gamma" if edge_kpoints is None or host is not None else resolve_edge_kpoints(
            cell, is_pristine_cell(atoms), settings, edge_kpoints)
        kpts = None if sampling == "gamma" else edge_kpoint_set(cell, sampling, settings)
        result = analyze_operators(hamiltonian, overlap, sample.n_electrons, atoms, settings, kpts_frac=kpts, solver=solver,
                                   target_ev=target_ev, host=host)
        result.edge_kpoints = sampling
    else:
        matrices = sample.kspace
        if host is not None and len(matrices.kpts_frac) > 1:
            raise ValueError("pristine-aligned edges are defined at Γ only; this sample holds several k-points")
        numbers = sample.structure.numbers
        offsets = orbital_offsets(numbers, sample.basis)
        defect_atoms = defect_atoms_of(atoms)
        used = alignment_atoms(atoms, len(numbers))
        results = []
        for index in range(len(matrices.kpts_frac)):
            h, s = kspace_pair(matrices, index)
            chosen = choose_solver(len(numbers), settings, solver, h)
            onsite = onsite_summary(gamma_diagonal(h), offsets, numbers, used)
            results.append(analyze_matrices(h, s, offsets, sample.n_electrons, defect_atoms, settings, chosen, target_ev,
                                            host, onsite))
        result = combine_kpoints(results, np.asarray(matrices.kpts_frac, float))
        result.edge_kpoints = "gamma" if result.edge_kpoints == "gamma" else "stored"
    result.metadata.update({k: v for k, v in sample.metadata.items() if isinstance(v, (str, int, float, bool))})
    return result
