from __future__ import annotations

import pytest
from ase.build import bulk
from ase.io import write

from thermodefect.potentials.albe import AlbeGaAs
from thermodefect.settings import ForceFieldSettings


@pytest.fixture(scope="module")
def albe_training_file(tmp_path_factory):
    """Twelve rattled 8-atom GaAs cells labelled by the Albe potential (extxyz)."""
    frames = []
    for k in range(12):
        atoms = bulk("GaAs", "zincblende", a=5.65, cubic=True)
        atoms.rattle(0.08, seed=k)
        atoms.calc = AlbeGaAs()
        atoms.info["REF_energy"] = atoms.get_potential_energy()
        atoms.arrays["REF_forces"] = atoms.get_forces()
        atoms.calc = None
        frames.append(atoms)
    path = tmp_path_factory.mktemp("data") / "train.extxyz"
    write(str(path), frames, format="extxyz")
    return path


@pytest.fixture
def tiny_mace():
    """A MACE small enough to train in about a second."""
    return ForceFieldSettings(
        num_channels=8, max_L=0, num_interactions=1, correlation=2, r_max_angstrom=4.0,
        max_num_epochs=1, batch_size=4, valid_fraction=0.25, ensemble_size=2,
    )
