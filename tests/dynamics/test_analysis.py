"""VDOS and RDF against cases with known answers."""

from __future__ import annotations

import numpy as np
from ase import Atoms, units
from ase.build import bulk

from thermodefect.dynamics import rdf, rdf_max_difference, vdos, vdos_overlap

FREQUENCY_ATOL_THZ = 0.2
RDF_ATOL = 0.1


def _oscillating_frames(frequency_thz: float, dt_fs: float, n_frames: int) -> list[Atoms]:
    frames = []
    for k in range(n_frames):
        atoms = Atoms("Ar2", positions=[[0, 0, 0], [2, 0, 0]], cell=[10, 10, 10], pbc=True)
        v = np.cos(2 * np.pi * frequency_thz * 1e12 * k * dt_fs * 1e-15)  # Å/fs
        atoms.set_velocities(np.array([[v, 0, 0], [0, v, 0]]) / units.fs)
        frames.append(atoms)
    return frames


def test_vdos_peaks_at_oscillation_frequency_and_is_normalized():
    spectrum = vdos(_oscillating_frames(5.0, dt_fs=10.0, n_frames=400), frame_interval_fs=10.0)
    peak = spectrum.frequency_thz[np.argmax(spectrum.density)]
    assert abs(peak - 5.0) < FREQUENCY_ATOL_THZ
    assert np.isclose(np.trapezoid(spectrum.density, spectrum.frequency_thz), 1.0)


def test_vdos_overlap_is_one_for_identical_and_small_for_distinct():
    a = vdos(_oscillating_frames(3.0, 10.0, 400), 10.0)
    b = vdos(_oscillating_frames(8.0, 10.0, 400), 10.0)
    assert np.isclose(vdos_overlap(a, a), 1.0)
    assert vdos_overlap(a, b) < 0.1


def test_rdf_of_ideal_gas_is_one_and_crystal_peaks_at_bond_length():
    rng = np.random.default_rng(0)
    gas = [Atoms("Ar200", positions=rng.uniform(0, 20, (200, 3)), cell=[20, 20, 20], pbc=True) for _ in range(10)]
    g = rdf(gas, r_max_angstrom=8.0, n_bins=16)
    assert np.all(np.abs(g.g["Ar-Ar"][4:] - 1.0) < RDF_ATOL)

    crystal = bulk("GaAs", "zincblende", a=5.65, cubic=True).repeat(2)
    g_c = rdf([crystal], r_max_angstrom=5.0, n_bins=100)
    bond = 5.65 * np.sqrt(3) / 4
    assert abs(g_c.r_angstrom[np.argmax(g_c.g["As-Ga"])] - bond) < 0.05
    assert g_c.g["Ga-Ga"][g_c.r_angstrom < 3.5].max() == 0.0  # no Ga-Ga pairs below the 2nd shell (4.0 Å)
    assert rdf_max_difference(g_c, g_c) == {"As-As": 0.0, "As-Ga": 0.0, "Ga-Ga": 0.0}
