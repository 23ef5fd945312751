"""NVT: target temperature on average, exact resume, trajectory contents."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from thermodefect.dynamics import read_frames, run_nvt
from thermodefect.settings import MDSettings

N_ATOMS = 108  # Cu 3x3x3 cubic
TARGET_K = 300.0
# Instantaneous T fluctuates with relative std sqrt(2/(3N)) = 7.9 % for N = 108.
# 4 ps with a ~0.1 ps thermostat/velocity correlation time gives >= 20
# independent samples: std of the mean <= 1.8 %. 3 sigma -> 6 %, plus 1 %
# for the 3N vs 3N-3 degrees of freedom of momentum-conserving thermostats.
TEMPERATURE_RTOL = 0.07
# extxyz stores momenta with ~8 significant digits.
MOMENTUM_ATOL = 1e-6


def _cell():
    return bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3)


@pytest.mark.parametrize("thermostat", ["langevin", "nose-hoover", "bussi"])
def test_nvt_mean_temperature_reaches_target(tmp_path, thermostat):
    md = MDSettings(
        thermostat=thermostat, timestep_fs=4.0, friction_per_fs=0.02, thermostat_time_fs=50.0,
        equilibration_steps=250, production_steps=1000, sample_interval=5,
    )
    run = run_nvt(_cell(), EMT(), TARGET_K, md, seed=3, trajectory_path=tmp_path / "cu.extxyz", progress=False)
    temps = np.array([f.info["temperature_k"] for f in run.frames])
    assert len(run.frames) == md.production_steps // md.sample_interval
    assert abs(temps.mean() - TARGET_K) < TEMPERATURE_RTOL * TARGET_K
    assert temps.std() > 0


@pytest.mark.parametrize("thermostat", ["langevin", "nose-hoover", "bussi"])
def test_resumed_run_equals_uninterrupted(tmp_path, thermostat):
    md = MDSettings(thermostat=thermostat, timestep_fs=2.0, equilibration_steps=10, production_steps=40, sample_interval=10)
    full = run_nvt(_cell(), EMT(), TARGET_K, md, seed=5, trajectory_path=tmp_path / "full.extxyz", progress=False)
    # "Killed" after 30 steps: run a shorter run, then continue with the full length.
    path = tmp_path / "part.extxyz"
    run_nvt(_cell(), EMT(), TARGET_K, md, seed=5, trajectory_path=path, progress=False, production_steps=20)
    assert len(read_frames(path)) == 2
    resumed = run_nvt(_cell(), EMT(), TARGET_K, md, seed=5, trajectory_path=path, progress=False)
    assert [f.info["md_step"] for f in resumed.frames] == [20, 30, 40, 50]
    for a, b in zip(full.frames, resumed.frames):
        np.testing.assert_array_equal(a.positions, b.positions)
        np.testing.assert_array_equal(a.get_momenta(), b.get_momenta())


def test_frames_are_sampled_when_equilibration_is_no_multiple_of_the_interval(tmp_path):
    md = MDSettings(thermostat="langevin", equilibration_steps=7, production_steps=12, sample_interval=4)
    run = run_nvt(_cell(), EMT(), TARGET_K, md, seed=2, trajectory_path=tmp_path / "odd.extxyz", progress=False)
    assert [f.info["md_step"] for f in run.frames] == [11, 15, 19]


def test_initial_momentum_is_zero_and_seeded(tmp_path):
    md = MDSettings(thermostat="nose-hoover", equilibration_steps=0, production_steps=5, sample_interval=5)
    a = run_nvt(_cell(), EMT(), TARGET_K, md, seed=1, trajectory_path=tmp_path / "a.extxyz", progress=False).frames[0]
    b = run_nvt(_cell(), EMT(), TARGET_K, md, seed=1, trajectory_path=tmp_path / "b.extxyz", progress=False).frames[0]
    c = run_nvt(_cell(), EMT(), TARGET_K, md, seed=2, trajectory_path=tmp_path / "c.extxyz", progress=False).frames[0]
    np.testing.assert_allclose(a.get_momenta().sum(axis=0), 0.0, atol=MOMENTUM_ATOL)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert not np.allclose(a.positions, c.positions)
    assert a.info["thermostat"] == "nose-hoover" and a.info["md_step"] == 5


class _Exploding(EMT):
    """EMT whose forces turn huge after ``after`` force calls: a force field leaving its data."""

    def __init__(self, after: int):
        super().__init__()
        self.after, self.calls = after, 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        if self.calls > self.after:
            self.results["forces"] = self.results["forces"] + 50.0 * np.sign(np.random.default_rng(self.calls).normal(size=(len(atoms), 3)))


def test_a_blown_up_run_stops_keeps_its_frames_and_resumes_as_stopped(tmp_path):
    md = MDSettings(thermostat="langevin", timestep_fs=2.0, equilibration_steps=0, production_steps=200, sample_interval=10)
    path = tmp_path / "boom.extxyz"
    calc = _Exploding(after=45)
    run = run_nvt(_cell(), calc, TARGET_K, md, seed=2, trajectory_path=path, progress=False)
    assert run.diverged is not None and "instantaneous temperature" in run.diverged
    assert 0 < len(run.frames) < 20 and run.steps_done < 200
    assert all(f.info["temperature_k"] < 3000 for f in run.frames)
    calls = calc.calls
    again = run_nvt(_cell(), calc, TARGET_K, md, seed=2, trajectory_path=path, progress=False)
    assert calc.calls == calls  # nothing recomputed
    assert again.diverged == run.diverged and len(again.frames) == len(run.frames)
