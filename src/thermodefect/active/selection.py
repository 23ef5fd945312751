"""Selection rules of active learning, shared by the force-field and Hamiltonian loops.

Each rule takes per-candidate numbers and returns the indices of the chosen
candidates (sorted ascending, so the choice does not depend on ties in a sort).

* :func:`select_above_threshold` — every candidate whose uncertainty exceeds a
  threshold, the most uncertain first when a cap applies.
* :func:`select_balanced` — above a threshold, strata taking turns (most
  uncertain first), frames of one trajectory at least a given number of MD
  steps apart.
* :func:`select_stratified_top_k` — the k most uncertain of every stratum
  (e.g. per defect and temperature).
* :func:`select_kmeans` — k structurally diverse candidates per stratum:
  k-means on a descriptor, one member per cluster (the one nearest its centroid).
* :func:`radial_fingerprint` — a rotation/permutation-invariant descriptor for
  k-means: per species pair, a Gaussian-smeared histogram of interatomic distances.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def select_above_threshold(uncertainties: Sequence[float], threshold: float, cap: int | None = None) -> list[int]:
    """Indices of candidates with ``uncertainty > threshold``.

    ``uncertainties`` has shape (n_candidates,) in the threshold's unit. With
    ``cap``, at most ``cap`` are kept: the most uncertain.
    """
    u = np.asarray(uncertainties, float).reshape(-1)
    above = np.flatnonzero(u > threshold)
    if cap is not None and len(above) > cap:
        order = np.argsort(-u[above], kind="stable")
        above = above[order[:cap]]
    return sorted(int(i) for i in above)


def select_stratified_top_k(uncertainties: Sequence[float], strata: Sequence, k: int) -> list[int]:
    """The ``k`` most uncertain candidates of every stratum (all of a smaller stratum).

    ``strata`` gives each candidate's stratum label (any hashable, e.g.
    ``("As_Ga", 300.0)``), same length as ``uncertainties``.
    """
    u = np.asarray(uncertainties, float).reshape(-1)
    labels = list(strata)
    if len(labels) != len(u):
        raise ValueError(f"{len(labels)} strata for {len(u)} uncertainties")
    chosen: list[int] = []
    for label in dict.fromkeys(labels):
        members = np.array([i for i, s in enumerate(labels) if s == label])
        order = np.argsort(-u[members], kind="stable")
        chosen.extend(int(i) for i in members[order[:k]])
    return sorted(chosen)


def select_kmeans(features: np.ndarray, strata: Sequence, k_per_stratum: int, seed: int) -> list[int]:
    """``k_per_stratum`` diverse candidates per stratum by k-means clustering.

    ``features`` has shape (n_candidates, n_features). Within each stratum,
    scikit-learn's KMeans with ``k`` clusters (seeded) is fitted and the member
    nearest each centroid is picked, so the picks cover the clusters one each.
    A stratum with at most ``k`` members is taken whole.
    """
    from sklearn.cluster import KMeans

    x = np.asarray(features, float)
    labels = list(strata)
    if x.ndim != 2 or len(x) != len(labels):
        raise ValueError(f"features of shape {x.shape} do not match {len(labels)} strata")
    chosen: list[int] = []
    for label in dict.fromkeys(labels):
        members = np.array([i for i, s in enumerate(labels) if s == label])
        if len(members) <= k_per_stratum:
            chosen.extend(int(i) for i in members)
            continue
        km = KMeans(n_clusters=k_per_stratum, n_init=10, random_state=seed).fit(x[members])
        for c, centre in enumerate(km.cluster_centers_):
            in_cluster = members[km.labels_ == c]
            distance = np.linalg.norm(x[in_cluster] - centre, axis=1)
            chosen.append(int(in_cluster[int(np.argmin(distance))]))
    return sorted(chosen)


def radial_fingerprint(atoms, r_max_angstrom: float = 6.0, n_bins: int = 48, width_angstrom: float = 0.1) -> np.ndarray:
    """Per-species-pair distance histograms, Gaussian-smeared, per atom.

    Returns shape (n_pairs * n_bins,): for every unordered species pair (sorted
    by symbol) the density of i–j distances below ``r_max_angstrom`` on
    ``n_bins`` centres, divided by the number of atoms. Invariant to rotation,
    translation and atom order.
    """
    from ase.neighborlist import neighbor_list

    symbols = np.array(atoms.get_chemical_symbols())
    species = sorted(set(symbols))
    pairs = [(a, b) for n, a in enumerate(species) for b in species[n:]]
    i, j, d = neighbor_list("ijd", atoms, r_max_angstrom)
    centres = np.linspace(0.0, r_max_angstrom, n_bins)
    out = np.zeros((len(pairs), n_bins))
    si, sj = symbols[i], symbols[j]
    for p, (a, b) in enumerate(pairs):
        mask = ((si == a) & (sj == b)) | ((si == b) & (sj == a))
        if mask.any():
            out[p] = np.exp(-0.5 * ((d[mask, None] - centres[None, :]) / width_angstrom) ** 2).sum(axis=0)
    return out.reshape(-1) / len(atoms)


def select_balanced(
    uncertainties: Sequence[float],
    strata: Sequence,
    threshold: float,
    cap: int | None = None,
    trajectories: Sequence | None = None,
    steps: Sequence[int] | None = None,
    min_separation: int = 0,
) -> list[int]:
    """Candidates above ``threshold``, taken in turns from each stratum, spread along each trajectory.

    Strata (e.g. the defect) take turns, each giving its most uncertain
    remaining candidate, until ``cap`` are chosen or none is left, so one
    badly described defect cannot fill a round alone. A candidate less than
    ``min_separation`` MD steps from one already chosen of the same
    trajectory (``trajectories[i]`` any hashable, ``steps[i]`` its MD step)
    is skipped: neighbouring frames of one run are near-duplicates that would
    spend labels on one configuration.
    """
    u = np.asarray(uncertainties, float).reshape(-1)
    labels = list(strata)
    if len(labels) != len(u):
        raise ValueError(f"{len(labels)} strata for {len(u)} uncertainties")
    runs = list(trajectories) if trajectories is not None else list(range(len(u)))
    at = np.asarray(steps if steps is not None else np.zeros(len(u)), float).reshape(-1)
    if len(runs) != len(u) or len(at) != len(u):
        raise ValueError("trajectories and steps must have one entry per candidate")
    queues = {}
    for i in np.argsort(-u, kind="stable"):
        if u[i] > threshold:
            queues.setdefault(labels[i], []).append(int(i))
    chosen: list[int] = []
    while queues and (cap is None or len(chosen) < cap):
        for label in list(queues):
            queue = queues[label]
            while queue:
                i = queue.pop(0)
                if all(runs[j] != runs[i] or abs(at[j] - at[i]) >= min_separation for j in chosen):
                    chosen.append(i)
                    break
            if not queue:
                del queues[label]
            if cap is not None and len(chosen) >= cap:
                break
    return sorted(chosen)
