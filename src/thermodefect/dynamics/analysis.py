"""Trajectory analysis: vibrational density of states, radial distribution functions
and numbers that say how alike two trajectories are.

* VDOS: power spectrum of the (mass-weighted) atomic velocities, which by the
  Wiener–Khinchin theorem is the Fourier transform of the velocity
  autocorrelation ``C(t) = sum_i m_i <v_i(0)·v_i(t)>``. Frequencies in THz;
  normalized to unit area. The frame spacing sets the Nyquist frequency
  ``1/(2 dt)``: GaAs phonons reach ~8.5 THz, so sample every ≤ 50 fs.
* RDF: partial ``g_ab(r)`` per species pair, ideal-gas normalized
  (``g -> 1`` at large r), averaged over frames.
* Similarity: VDOS overlap ``∫ min(p, q) dν`` of the normalized spectra
  (1 = identical, 0 = disjoint) and ``max_r |g_ab(r) - g'_ab(r)|`` per pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms, units


@dataclass(frozen=True)
class VDOS:
    frequency_thz: np.ndarray  # (n_freq,)
    density: np.ndarray  # (n_freq,) 1/THz, integrates to 1


@dataclass(frozen=True)
class RDF:
    r_angstrom: np.ndarray  # (n_bins,) bin centres
    g: dict[str, np.ndarray]  # "Ga-As" -> (n_bins,)


def vdos(frames: list[Atoms], frame_interval_fs: float, mass_weighted: bool = True) -> VDOS:
    """VDOS from the velocities stored in ``frames`` (``momenta`` array).

    ``frame_interval_fs`` is the time between frames (timestep × sample
    interval). The velocity series is mean-removed per atom and zero-padded
    to twice its length so the power spectrum equals the Fourier transform of
    the (non-circular) autocorrelation.
    """
    if len(frames) < 4:
        raise ValueError(f"VDOS needs at least 4 frames, got {len(frames)}")
    v = np.stack([f.get_velocities() * units.fs for f in frames])  # (n_t, n_atoms, 3) Å/fs
    v = v - v.mean(axis=0, keepdims=True)
    weights = frames[0].get_masses() if mass_weighted else np.ones(len(frames[0]))
    n_t = len(frames)
    spectrum = np.abs(np.fft.rfft(v, n=2 * n_t, axis=0)) ** 2  # (n_freq, n_atoms, 3)
    power = (spectrum.sum(axis=2) * weights[None, :]).sum(axis=1)
    freq_thz = np.fft.rfftfreq(2 * n_t, d=frame_interval_fs * 1e-15) / 1e12
    area = np.trapezoid(power, freq_thz)
    return VDOS(frequency_thz=freq_thz, density=power / area if area > 0 else power)


def rdf(frames: list[Atoms], r_max_angstrom: float = 6.0, n_bins: int = 120) -> RDF:
    """Partial radial distribution functions averaged over ``frames``.

    For species a != b, pairs are counted once per (a-atom, b-atom); for a == b,
    ordered pairs i != j are normalized by N_a (N_a - 1). Periodic images are
    included (ASE neighbour list), so ``r_max_angstrom`` may exceed half the cell.
    """
    from ase.neighborlist import neighbor_list

    edges = np.linspace(0.0, r_max_angstrom, n_bins + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    shell_volume = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    symbols = np.array(frames[0].get_chemical_symbols())
    species = sorted(set(symbols))
    pairs = [(a, b) for n, a in enumerate(species) for b in species[n:]]
    counts = {p: np.zeros(n_bins) for p in pairs}
    for frame in frames:
        i, j, d = neighbor_list("ijd", frame, r_max_angstrom)
        for a, b in pairs:
            mask = (symbols[i] == a) & (symbols[j] == b)
            counts[(a, b)] += np.histogram(d[mask], bins=edges)[0]
    volume = frames[0].get_volume()
    g = {}
    for a, b in pairs:
        n_a, n_b = int((symbols == a).sum()), int((symbols == b).sum())
        n_pairs = n_a * (n_a - 1) if a == b else n_a * n_b
        density = counts[(a, b)] / len(frames) / shell_volume
        g[f"{a}-{b}"] = density * volume / max(n_pairs, 1)
    return RDF(r_angstrom=centres, g=g)


def vdos_overlap(first: VDOS, second: VDOS) -> float:
    """``∫ min(p, q) dν`` of two normalized VDOS (second interpolated on the first's grid)."""
    q = np.interp(first.frequency_thz, second.frequency_thz, second.density, right=0.0)
    return float(np.trapezoid(np.minimum(first.density, q), first.frequency_thz))


def rdf_max_difference(first: RDF, second: RDF) -> dict[str, float]:
    """``max_r |g_ab - g'_ab|`` per species pair present in both (same r grid)."""
    if not np.allclose(first.r_angstrom, second.r_angstrom):
        raise ValueError("RDFs are on different r grids")
    return {p: float(np.max(np.abs(first.g[p] - second.g[p]))) for p in first.g if p in second.g}
