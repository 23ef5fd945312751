"""Shared set-up of the force-field/MD benchmarks: a MACE model trained on Albe labels."""

from __future__ import annotations

from pathlib import Path

from ase.build import bulk
from ase.io import write

from thermodefect.potentials.albe import AlbeGaAs
from thermodefect.settings import ForceFieldSettings

RESULTS = Path(__file__).parent / "results"


def gaas_cell(n_atoms: int):
    n = round((n_atoms / 8) ** (1 / 3))
    return bulk("GaAs", "zincblende", a=5.65, cubic=True).repeat(n)


def albe_trained_mace(workdir: Path, n_configs: int = 30, epochs: int = 10) -> Path:
    """MACE small (32 channels, L=0, float32) trained on rattled 64-atom cells labelled by Albe."""
    from thermodefect.forcefield import train_model

    model = workdir / "model.model"
    if model.exists():
        return model
    frames = []
    for k in range(n_configs):
        atoms = gaas_cell(64)
        atoms.rattle(0.02 + 0.1 * k / n_configs, seed=k)
        atoms.calc = AlbeGaAs()
        atoms.info["REF_energy"] = atoms.get_potential_energy()
        atoms.arrays["REF_forces"] = atoms.get_forces()
        atoms.calc = None
        frames.append(atoms)
    workdir.mkdir(parents=True, exist_ok=True)
    write(str(workdir / "train.extxyz"), frames, format="extxyz")
    ff = ForceFieldSettings(num_channels=32, max_L=0, r_max_angstrom=5.0, max_num_epochs=epochs, batch_size=4, learning_rate=0.01)
    return train_model(ff, workdir / "train.extxyz", workdir, seed=1, name="model")
