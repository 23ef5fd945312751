"""NVT integrators by name, with their state saved and restored for resume.

A thermostat is a :class:`Thermostat` entry in :data:`THERMOSTATS`:

* ``langevin`` — :class:`ase.md.langevin.Langevin` (stochastic; friction
  ``friction_per_fs``). Its random stream is saved, so a resumed run repeats
  the uninterrupted one exactly.
* ``nose-hoover`` — :class:`ase.md.nose_hoover_chain.NoseHooverChainNVT`
  (deterministic; chain of 3, damping time ``thermostat_time_fs``). The chain
  positions and momenta are saved, so resume is exact.
* ``bussi`` — :class:`ase.md.bussi.Bussi` stochastic velocity rescaling
  (time constant ``thermostat_time_fs``); random stream saved, resume exact.

Units: fs, K (converted to ASE units here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from ase import Atoms, units
from ase.md.md import MolecularDynamics


@dataclass(frozen=True)
class Thermostat:
    build: Callable[[Atoms, float, float, np.random.Generator, Any], MolecularDynamics]
    get_state: Callable[[MolecularDynamics], dict]
    set_state: Callable[[MolecularDynamics, dict], None]


def _rng_state(md: MolecularDynamics) -> dict:
    return {"rng": md.rng.bit_generator.state}


def _set_rng_state(md: MolecularDynamics, state: dict) -> None:
    md.rng.bit_generator.state = state["rng"]


def _langevin(atoms: Atoms, timestep_fs: float, temperature_k: float, rng: np.random.Generator, md: Any) -> MolecularDynamics:
    from ase.md.langevin import Langevin

    # fixcm=False: the Langevin noise moves the centre of mass as physics says;
    # ASE's fixcm=True does not sample the canonical ensemble (deprecated).
    return Langevin(
        atoms,
        timestep=timestep_fs * units.fs,
        temperature_K=temperature_k,
        friction=md.friction_per_fs / units.fs,
        fixcm=False,
        rng=rng,
    )


def _nose_hoover(atoms: Atoms, timestep_fs: float, temperature_k: float, rng: np.random.Generator, md: Any) -> MolecularDynamics:
    from ase.md.nose_hoover_chain import NoseHooverChainNVT

    return NoseHooverChainNVT(
        atoms, timestep=timestep_fs * units.fs, temperature_K=temperature_k, tdamp=md.thermostat_time_fs * units.fs, tchain=3
    )


def _nhc_state(md: MolecularDynamics) -> dict:
    thermostat = md._thermostat  # ASE keeps the chain variables private; no public accessor exists
    return {"eta": thermostat._eta.tolist(), "p_eta": thermostat._p_eta.tolist()}


def _set_nhc_state(md: MolecularDynamics, state: dict) -> None:
    md._thermostat._eta = np.asarray(state["eta"], float)
    md._thermostat._p_eta = np.asarray(state["p_eta"], float)


def _bussi(atoms: Atoms, timestep_fs: float, temperature_k: float, rng: np.random.Generator, md: Any) -> MolecularDynamics:
    from ase.md.bussi import Bussi

    return Bussi(atoms, timestep=timestep_fs * units.fs, temperature_K=temperature_k, taut=md.thermostat_time_fs * units.fs, rng=rng)


def _bussi_state(md: MolecularDynamics) -> dict:
    return {**_rng_state(md), "transferred_energy_ev": float(md.transferred_energy)}


def _set_bussi_state(md: MolecularDynamics, state: dict) -> None:
    _set_rng_state(md, state)
    md.transferred_energy = state["transferred_energy_ev"]


THERMOSTATS: dict[str, Thermostat] = {
    "langevin": Thermostat(_langevin, _rng_state, _set_rng_state),
    "nose-hoover": Thermostat(_nose_hoover, _nhc_state, _set_nhc_state),
    "bussi": Thermostat(_bussi, _bussi_state, _set_bussi_state),
}


def get_thermostat(name: str) -> Thermostat:
    from thermodefect.core.errors import UserInputError

    try:
        return THERMOSTATS[name]
    except KeyError:
        raise UserInputError(f"unknown thermostat {name!r}; choose one of {', '.join(THERMOSTATS)}") from None
