"""Tiny structures and tiny models for the Hamiltonian-model tests."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
import torch
from ase import Atoms

from thermodefect.hamiltonian import build_model
from thermodefect.settings import HamiltonianModelSettings

SPD = "1x0e+1x1o+1x2e"
TINY_NODE = "4x0e+2x1o+2x2e"
TINY_EDGE = "4x0e+2x1o+2x1e+2x2e+2x2o+1x3o+1x3e+1x4e"


def tiny_settings(**overrides) -> HamiltonianModelSettings:
    values = dict(preset="fast", irreps_node=TINY_NODE, irreps_edge=TINY_EDGE, lmax=4, num_layers=2,
                  radial_basis_size=4, radial_hidden=8, cutoff_angstrom=3.5, default_dtype="float64",
                  max_epochs=5, patience=50, learning_rate=1e-2, batch_size=2)
    values.update(overrides)
    return HamiltonianModelSettings(**values)


def gaas_cell(seed: int = 0, rattle_angstrom: float = 0.1) -> Atoms:
    """2-atom GaAs primitive cell, rattled so no symmetry hides errors."""
    a = 5.65
    atoms = Atoms("GaAs", scaled_positions=[[0, 0, 0], [0.25, 0.25, 0.25]],
                  cell=[[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]], pbc=True)
    atoms.positions += np.random.default_rng(seed).normal(0, rattle_angstrom, atoms.positions.shape)
    return atoms


def molecule_box(symbols: str, seed: int = 0, box_angstrom: float = 8.0) -> Atoms:
    """A few atoms ~1.5-2.5 Å apart in a skewed periodic box."""
    rng = np.random.default_rng(seed)
    n_atoms = len(Atoms(symbols))
    positions = np.cumsum(rng.normal(0, 1.0, (n_atoms, 3)) + [1.3, 0.4, 0.2], axis=0)
    cell = np.array([[box_angstrom, 0, 0], [0.7, box_angstrom, 0], [0.3, -0.5, box_angstrom]])
    return Atoms(symbols, positions=positions, cell=cell, pbc=True)


@lru_cache(maxsize=None)
def _cached_model(basis_items: tuple, cutoff: float, seed: int, target: str):
    torch.manual_seed(seed)
    model = build_model(tiny_settings(cutoff_angstrom=cutoff), dict(basis_items), target, avg_num_neighbors=4.0)
    with torch.no_grad():
        model.target_scale.fill_(1.7)
    return model.eval()


def random_model(basis: dict[int, str], cutoff: float = 3.5, seed: int = 0, target: str = "hamiltonian"):
    """A randomly initialised tiny float64 model, built once per argument set (do not train it)."""
    return _cached_model(tuple(sorted(basis.items())), cutoff, seed, target)


@pytest.fixture
def settings():
    return tiny_settings()
