"""Force (extxyz) and Hamiltonian (HDF5) datasets: round trips, keys, crash safety."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from ase.build import bulk

from thermodefect.data import hamiltonians as hamiltonians_module
from thermodefect.data.forces import ENERGY_KEY, FORCES_KEY, ForcesDataset, labelled_atoms
from thermodefect.data.hamiltonians import HamiltonianDataset
from thermodefect.core.keys import structure_key
from thermodefect.data.operators import HamiltonianSample, KSpaceMatrices, Structure

BASIS = {31: "1x0e+1x1o", 33: "1x0e+1x1o"}
ATOL = 1e-12


def gaas(seed=0):
    atoms = bulk("GaAs", "zincblende", a=5.65)
    atoms.rattle(0.02, seed=seed)
    return atoms


def kspace_sample(seed=0) -> HamiltonianSample:
    atoms = gaas(seed)
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(8, 8))
    return HamiltonianSample(
        structure=Structure.from_atoms(atoms),
        basis=BASIS,
        n_electrons=8.0,
        kspace=KSpaceMatrices(np.zeros((1, 3)), (h + h.T)[None], np.eye(8)[None]),
        energy_ev=-1.5,
        forces_ev_per_angstrom=rng.normal(size=(2, 3)),
        metadata={"defect": "pristine", "temperature_k": 300.0},
        provenance={"reference": "test"},
    )


def test_structure_key_ignores_noise_below_rounding_and_sees_real_changes():
    a = gaas()
    b = a.copy()
    b.positions[0, 0] += 1e-9
    c = a.copy()
    c.positions[0, 0] += 1e-3
    assert structure_key(a) == structure_key(b) != structure_key(c)


def test_forces_extxyz_round_trip_uses_mace_keys(tmp_path):
    ds = ForcesDataset(tmp_path / "forces.extxyz")
    atoms = gaas()
    forces = np.arange(6.0).reshape(2, 3)
    ds.append([labelled_atoms(atoms, -3.25, forces, {"defect": "As_Ga", "temperature_k": 500.0})])
    frames = ForcesDataset(tmp_path / "forces.extxyz").read()
    assert len(frames) == 1
    assert frames[0].info[ENERGY_KEY] == pytest.approx(-3.25)
    np.testing.assert_allclose(frames[0].arrays[FORCES_KEY], forces)
    assert frames[0].info["defect"] == "As_Ga" and frames[0].info["temperature_k"] == 500.0
    assert structure_key(atoms) in ForcesDataset(tmp_path / "forces.extxyz")


def test_hamiltonian_dataset_round_trip(tmp_path):
    ds = HamiltonianDataset(tmp_path / "hamiltonians.h5")
    sample = kspace_sample()
    key = ds.append(sample)
    assert key == structure_key(gaas()) and key in ds and len(ds) == 1
    back = HamiltonianDataset(tmp_path / "hamiltonians.h5")[key]
    np.testing.assert_allclose(back.kspace.hamiltonian, sample.kspace.hamiltonian, atol=ATOL)
    np.testing.assert_allclose(back.forces_ev_per_angstrom, sample.forces_ev_per_angstrom, atol=ATOL)
    assert back.basis == BASIS and back.n_electrons == 8.0 and back.energy_ev == -1.5
    assert ds.metadata(key)["defect"] == "pristine"
    assert back.provenance == {"reference": "test"}


def test_failure_between_shard_and_index_keeps_only_complete_entries(tmp_path, monkeypatch):
    ds = HamiltonianDataset(tmp_path / "hamiltonians.h5")
    first = ds.append(kspace_sample(0))

    def crash(*args, **kwargs):
        raise OSError("simulated crash while writing the index")

    monkeypatch.setattr(HamiltonianDataset, "_write_index_with", crash)
    with pytest.raises(OSError):
        ds.append(kspace_sample(1))
    monkeypatch.undo()
    reopened = HamiltonianDataset(tmp_path / "hamiltonians.h5")
    assert reopened.keys() == [first]
    assert reopened[first].energy_ev == -1.5
    second = reopened.append(kspace_sample(1))  # the orphaned shard is simply rewritten
    assert sorted(reopened.keys()) == sorted([first, second])


def test_killed_process_mid_append_leaves_a_readable_dataset(tmp_path):
    """SIGKILL a writer while it is inside append(): no corrupt file, only complete entries."""
    path = tmp_path / "hamiltonians.h5"
    HamiltonianDataset(path).append(kspace_sample(0))
    marker = tmp_path / "inside-append"
    script = textwrap.dedent(
        f"""
        import sys, time, pathlib
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_datasets import kspace_sample
        from thermodefect.data import hamiltonians as m
        original = m.write_sample_file
        def slow(path, sample):
            original(path, sample)
            pathlib.Path({str(marker)!r}).touch()
            time.sleep(60)
        m.write_sample_file = slow
        m.HamiltonianDataset({str(path)!r}).append(kspace_sample(1))
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        for _ in range(600):
            if marker.exists() or proc.poll() is not None:
                break
            import time

            time.sleep(0.05)
        assert marker.exists(), "writer never reached the middle of append()"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    ds = HamiltonianDataset(path)
    assert len(ds) == 1
    assert ds[ds.keys()[0]].n_electrons == 8.0
    ds.append(kspace_sample(1))
    assert len(HamiltonianDataset(path)) == 2
