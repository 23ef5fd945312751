"""Shared pieces of the reliability tests: structures, configs, dataset checks."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ATOL_EV = 1e-9  # labels of the same structure by the same deterministic reference
ATOL_EV_PER_ANGSTROM = 1e-9
CLI = [sys.executable, "-m", "thermodefect.cli.main"]


def rattled_gaas(n_frames: int, seed: int = 0, stdev_angstrom: float = 0.05) -> list:
    """``n_frames`` distinct rattled 8-atom GaAs cells (a = 5.65 Å)."""
    from ase.build import bulk

    frames = []
    for k in range(n_frames):
        atoms = bulk("GaAs", "zincblende", a=5.65, cubic=True)
        atoms.rattle(stdev_angstrom, seed=seed * 1000 + k)
        atoms.info["defect"] = "pristine"
        frames.append(atoms)
    return frames


def faulty_reference(fault_rate: float, seed: int = 0, kinds=("raise", "hang", "nan_forces", "scf"), retries: int = 2,
                     timeout_s: float = 1.0, delay_s: float = 0.0, hang_s: float = 60.0):
    from thermodefect.settings import ReferenceSettings

    options = {"reference": "toy", "options": {}, "fault_rate": fault_rate, "seed": seed, "kinds": list(kinds),
               "hang_s": hang_s, "delay_s": delay_s}
    return ReferenceSettings(name="faulty", options=options, retries=retries, timeout_s=timeout_s)


def toml_reference_block(section: str, reference) -> str:
    import json

    o = reference.options
    return (
        f"[reference.{section}]\nname = \"faulty\"\nretries = {reference.retries}\ntimeout_s = {reference.timeout_s}\n"
        f"options = {{ reference = \"toy\", options = {{}}, fault_rate = {o['fault_rate']}, seed = {o['seed']}, "
        f"kinds = {json.dumps(list(o['kinds']))}, hang_s = {o['hang_s']}, delay_s = {o['delay_s']} }}\n"
    )


def run_cli(args: list[str], cwd: Path | None = None, timeout_s: float = 120.0) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "PYTHONWARNINGS": "ignore"}
    return subprocess.run(CLI + [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s)


def tree_digest(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` and every folder (relative path -> digest); empty if absent."""
    root = Path(root)
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "directory"
        for p in sorted(root.rglob("*"))
    }


def assert_datasets_match_clean(run, clean_run, keys: set[str]) -> None:
    """Every entry of ``run``'s datasets equals the clean labelling; no duplicates, only ``keys``."""
    from thermodefect.data.forces import ForcesDataset
    from thermodefect.data.hamiltonians import HamiltonianDataset

    frames = ForcesDataset(run.forces_dataset).read()
    frame_keys = [a.info["structure_key"] for a in frames]
    assert len(frame_keys) == len(set(frame_keys)), "duplicate force labels"
    assert set(frame_keys) == keys
    clean = {a.info["structure_key"]: a for a in ForcesDataset(clean_run.forces_dataset).read()}
    for atoms in frames:
        ref = clean[atoms.info["structure_key"]]
        np.testing.assert_allclose(atoms.positions, ref.positions, atol=1e-12)
        assert abs(atoms.info["REF_energy"] - ref.info["REF_energy"]) < ATOL_EV
        np.testing.assert_allclose(atoms.arrays["REF_forces"], ref.arrays["REF_forces"], atol=ATOL_EV_PER_ANGSTROM)
    ham, clean_ham = HamiltonianDataset(run.hamiltonian_dataset), HamiltonianDataset(clean_run.hamiltonian_dataset)
    ham_keys = ham.keys()
    assert len(ham_keys) == len(set(ham_keys)) and set(ham_keys) == keys
    for key in ham_keys:
        got, want = ham[key], clean_ham[key]
        for op, ref_op in zip(got.realspace, want.realspace):
            np.testing.assert_array_equal(op.edge_index, ref_op.edge_index)
            np.testing.assert_array_equal(op.cell_shift, ref_op.cell_shift)
            np.testing.assert_allclose(op.blocks, ref_op.blocks, atol=ATOL_EV)
        assert got.n_electrons == want.n_electrons
        np.testing.assert_allclose(got.forces_ev_per_angstrom, want.forces_ev_per_angstrom, atol=ATOL_EV_PER_ANGSTROM)
