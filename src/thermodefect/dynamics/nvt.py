"""Seeded, resumable NVT molecular dynamics with any ASE calculator.

A run writes two files next to each other:

* ``<name>.extxyz`` — the sampled production frames (every
  ``sample_interval`` steps after ``equilibration_steps``), each with
  positions, ``momenta`` (amu·Å/(ASE time)), and ``atoms.info``:
  ``md_step``, ``time_fs``, ``temperature_k`` (instantaneous, 3N degrees of
  freedom), ``potential_energy_ev``, ``target_temperature_k``, ``thermostat``.
* ``<name>.state.json`` — a checkpoint written atomically after every
  sample interval: step, positions, momenta and the thermostat state (random
  stream of Langevin/Bussi, chain variables of Nose–Hoover).

Resume restores the checkpoint and drops trajectory frames written after it,
so a killed run continued with the same arguments gives the same trajectory
as an uninterrupted one (bit-identical for a deterministic calculator: the
checkpoint stores every float with full precision; the extxyz frames are
written with ASE's ~8 significant digits).

Initial velocities: Maxwell–Boltzmann at the target temperature from
``numpy.random.default_rng(seed)``, total momentum set to zero. Nose–Hoover
and Bussi keep the total momentum zero, so their kinetic energy is spread
over 3N-3 internal degrees of freedom; ``temperature_k`` (like ASE's) counts
3N, which is the quantity these thermostats hold at the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator

from thermodefect.dynamics.thermostats import get_thermostat
from thermodefect.core.results import read_results_json
from thermodefect.core.files import atomic_write_json
from thermodefect.core.keys import scalar_info


@dataclass(frozen=True)
class NVTRun:
    """Result of :func:`run_nvt`: the sampled frames and where they are stored.

    ``diverged`` says why the run stopped early (instantaneous temperature above
    ``max(10 T, 5000 K)`` or non-finite positions: a force field outside its
    training data can blow a cell apart); None for a complete run.
    """

    frames: list[Atoms]
    trajectory_path: Path
    steps_done: int
    diverged: str | None = None


class _Diverged(Exception):
    pass


def divergence_limit_k(temperature_k: float) -> float:
    """Instantaneous temperature above which a trajectory counts as blown up."""
    return max(10.0 * temperature_k, 5000.0)


def checkpoint_path(trajectory_path: Path) -> Path:
    return trajectory_path.with_suffix(".state.json")


def trajectory_name(defect: str, temperature_k: float) -> str:
    """File stem of the trajectory of one defect at one temperature."""
    return f"{defect}-{temperature_k:g}K"


def run_nvt(
    atoms: Atoms,
    calculator: Calculator,
    temperature_k: float,
    md: Any,
    seed: int,
    trajectory_path: str | Path,
    progress: bool = True,
    production_steps: int | None = None,
    equilibration_steps: int | None = None,
    sample_interval: int | None = None,
) -> NVTRun:
    """Run (or resume, or just read back) an NVT trajectory.

    ``md`` is a :class:`thermodefect.settings.MDSettings` (thermostat,
    timestep_fs, friction_per_fs, thermostat_time_fs, steps, sample
    interval); the keyword arguments override its step counts. ``atoms`` is
    not modified. Returns the production frames, shape-wise ``len(frames) ==
    production_steps // sample_interval`` — fewer when the run diverged: it then
    stops at once (before a blown-up cell stalls the neighbour list), keeps the
    frames sampled so far, and records why in the checkpoint, so a resumed
    call returns the same truncated run. ``atoms`` must pass
    :func:`~thermodefect.structures.checks.check_structure` (one-line
    :class:`~thermodefect.structures.StructureError` otherwise).
    """
    from tqdm.auto import tqdm

    from thermodefect.structures.checks import check_structure

    path = Path(trajectory_path)
    # Overlapping atoms or a broken cell would blow the MD up (or stall the neighbour list): refuse them first.
    check_structure(atoms, source=f"MD start structure of {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    n_equil = md.equilibration_steps if equilibration_steps is None else equilibration_steps
    n_prod = md.production_steps if production_steps is None else production_steps
    interval = md.sample_interval if sample_interval is None else sample_interval
    total = n_equil + n_prod
    thermostat = get_thermostat(md.thermostat)

    system = atoms.copy()
    system.calc = calculator
    rng = np.random.default_rng(seed)
    state = _read_checkpoint(path)
    if state is None:
        _initial_velocities(system, temperature_k, rng)
        step = 0
        path.unlink(missing_ok=True)
    else:
        system.positions = np.asarray(state["positions"], float)
        system.set_momenta(np.asarray(state["momenta"], float), apply_constraint=False)
        step = int(state["step"])
        _truncate_trajectory(path, step)
    diverged = None if state is None else state.get("diverged")
    if diverged is not None:
        return NVTRun(frames=read_frames(path), trajectory_path=path, steps_done=step, diverged=diverged)
    dyn = thermostat.build(system, md.timestep_fs, temperature_k, rng, md)
    if state is not None:
        thermostat.set_state(dyn, state["thermostat"])
    limit = divergence_limit_k(temperature_k)

    def guard() -> None:
        hot = system.get_temperature()
        if not np.isfinite(hot) or hot > limit or not np.all(np.isfinite(system.positions)):
            raise _Diverged(f"instantaneous temperature {hot:.0f} K (limit {limit:.0f} K) after step {step}")

    dyn.attach(guard, interval=1)
    with tqdm(total=total, initial=step, desc=path.stem, unit="step", disable=not progress, leave=False) as bar:
        while step < total:
            # Chunks end at the end of equilibration and then at every sample point, whatever
            # the two step counts are (an equilibration that is no multiple of the interval too).
            n = min(interval, n_equil - step) if step < n_equil else min(interval - (step - n_equil) % interval, total - step)
            try:
                dyn.run(n)
            except _Diverged as exc:
                diverged = str(exc)
                _write_checkpoint(path, system, step, {}, diverged=diverged)
                break
            step += n
            bar.update(n)
            if step > n_equil and (step - n_equil) % interval == 0:
                _append_frame(path, system, step, md, temperature_k)
            _write_checkpoint(path, system, step, thermostat.get_state(dyn))
    frames = read_frames(path)
    return NVTRun(frames=frames, trajectory_path=path, steps_done=step, diverged=diverged)


def _initial_velocities(atoms: Atoms, temperature_k: float, rng: np.random.Generator) -> None:
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_k, rng=rng)
    Stationary(atoms)


def _frame(atoms: Atoms, step: int, md: Any, target_k: float) -> Atoms:
    frame = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    frame.set_momenta(atoms.get_momenta(), apply_constraint=False)
    frame.info = scalar_info(atoms.info)
    frame.info.update(
        md_step=step,
        time_fs=step * md.timestep_fs,
        temperature_k=float(atoms.get_temperature()),
        potential_energy_ev=float(atoms.get_potential_energy()),
        target_temperature_k=float(target_k),
        thermostat=md.thermostat,
    )
    return frame


def _append_frame(path: Path, atoms: Atoms, step: int, md: Any, target_k: float) -> None:
    import os

    from ase.io import write

    with open(path, "a") as fh:
        write(fh, _frame(atoms, step, md, target_k), format="extxyz")
        fh.flush()
        os.fsync(fh.fileno())


def read_frames(path: str | Path) -> list[Atoms]:
    """Frames of a trajectory written by :func:`run_nvt` (empty if none)."""
    from ase.io import read

    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return []
    return list(read(str(path), index=":", format="extxyz"))


def _truncate_trajectory(path: Path, last_step: int) -> None:
    """Drop frames written after the checkpoint (a kill between frame and checkpoint)."""
    from ase.io import write

    frames = read_frames(path)
    keep = [f for f in frames if int(f.info["md_step"]) <= last_step]
    if len(keep) != len(frames):
        write(str(path), keep, format="extxyz")


def _write_checkpoint(path: Path, atoms: Atoms, step: int, thermostat_state: dict, diverged: str | None = None) -> None:
    state = {"step": step, "thermostat": thermostat_state}
    if diverged is None:
        state.update(positions=atoms.positions.tolist(), momenta=atoms.get_momenta().tolist())
    else:  # the blown-up state is not worth keeping; the reason is
        previous = _read_checkpoint(path) or {}
        state.update(positions=previous.get("positions"), momenta=previous.get("momenta"), diverged=diverged)
    atomic_write_json(checkpoint_path(path), state)


def _read_checkpoint(path: Path) -> dict | None:
    state_path = checkpoint_path(path)
    if not state_path.exists():
        return None
    return read_results_json(state_path, None)  # "restore it or delete it": the trajectory then restarts


def velocities_angstrom_per_fs(frames: list[Atoms]) -> np.ndarray:
    """Velocities of a trajectory, shape (n_frames, n_atoms, 3), Å/fs."""
    return np.stack([f.get_velocities() * units.fs for f in frames])
