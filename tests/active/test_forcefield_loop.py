"""The force-field active-learning loop: runs end to end and resumes without relabelling."""

from __future__ import annotations

import json

import pytest
from ase.build import bulk

import thermodefect.active.forcefield as loop
from thermodefect.potentials.albe import AlbeGaAs
from thermodefect.settings import settings_from_dict
from thermodefect.core.rundir import RunDirectory
from thermodefect.workflow.forcefield_hooks import run_forcefield_al


class CountingAlbeLabeller:
    """A ``label_fn`` that labels with the Albe potential and records every call."""

    def __init__(self):
        self.calls: list[int] = []

    def __call__(self, structures):
        self.calls.append(len(structures))
        out = []
        for atoms in structures:
            atoms = atoms.copy()
            atoms.calc = AlbeGaAs()
            atoms.info["REF_energy"] = atoms.get_potential_energy()
            atoms.arrays["REF_forces"] = atoms.get_forces()
            atoms.calc = None
            out.append(atoms)
        return out


def _settings(tmp_path):
    return settings_from_dict(
        {
            "run": {"directory": str(tmp_path / "run"), "seed": 3},
            "labelling": {"rattled_per_defect": 3, "rattle_stdev_angstrom": 0.08},
            "forcefield": {
                "ensemble_size": 2, "num_channels": 8, "max_L": 0, "num_interactions": 1, "correlation": 2,
                "r_max_angstrom": 4.0, "max_num_epochs": 1, "batch_size": 2, "valid_fraction": 0.3,
            },
            "md": {"thermostat": "langevin", "timestep_fs": 2.0},
            "forcefield_al": {
                "exploration_temperatures_k": [600.0], "md_steps": 10, "md_sample_interval": 5,
                "threshold_ev_per_angstrom": 1e-9, "max_selected_per_round": 2, "max_rounds": 2,
                "test_snapshots_per_defect": 2, "test_temperature_k": 300.0,
            },
        }
    )


def _cells():
    pristine = bulk("GaAs", "zincblende", a=5.65, cubic=True)
    vacancy = pristine.copy()
    del vacancy[1]
    return {"pristine": pristine, "V_As": vacancy}


def test_killed_loop_resumes_without_relabelling(tmp_path, monkeypatch):
    settings = _settings(tmp_path)
    run = RunDirectory.create(settings.run.directory, "config")
    labeller = CountingAlbeLabeller()
    real_train = loop.train_ensemble

    def train_then_die_in_round_1(ff, train_file, output_dir, seed, **kw):
        if output_dir.name == "round-1":
            raise KeyboardInterrupt("killed after labelling round 1")
        return real_train(ff, train_file, output_dir, seed, **kw)

    monkeypatch.setattr(loop, "train_ensemble", train_then_die_in_round_1)
    with pytest.raises(KeyboardInterrupt):
        run_forcefield_al(settings, run, _cells(), labeller, log=lambda message: None, progress=False)
    # initial rattled cells (2 defects x 3), test set (2 defects x 2), round-1 picks (cap 2)
    assert labeller.calls == [6, 4, 2]
    assert "round-1/labels" in run.manifest.items_done(loop.STAGE)

    monkeypatch.setattr(loop, "train_ensemble", real_train)
    summary = run_forcefield_al(settings, run, _cells(), labeller, log=lambda message: None, progress=False)
    # Nothing relabelled; last, the published test of the final model on its own 300 K MD (2 defects x 2).
    assert labeller.calls == [6, 4, 2, 4]
    final = summary["final_test"]
    assert final["round"] == 1 and final["temperature_k"] == 300.0 and final["n_collapsed"] == 0
    assert set(final["test"]["per_defect"]) == {"pristine", "V_As"}
    assert run_forcefield_al(settings, run, _cells(), labeller, log=lambda message: None, progress=False)["final_test"] == final
    assert labeller.calls == [6, 4, 2, 4]
    assert summary["rounds"] == 2 and not summary["converged"]
    assert run.manifest.is_done(loop.STAGE)
    round_1 = json.loads((run.results / "ff_al_round-1.json").read_text())
    assert round_1["labels_used"] == 8
    assert set(round_1["test"]["per_defect"]) == {"pristine", "V_As"}
    assert round_1["test"]["overall"]["force_rmse_mev_per_angstrom"] >= round_1["test"]["overall"]["force_mae_mev_per_angstrom"] > 0
    assert len(summary["final_models"]) == 2
    # The loop writes data, not figures; the report draws the parity plot from the loop's file.
    assert not list(run.root.rglob("*.png"))
    from thermodefect.report.figures import plot_force_parity

    parity = json.loads((run.results / f"ff_parity_round-{summary['rounds'] - 1}.json").read_text())
    assert plot_force_parity(parity, tmp_path / "ff_parity.png").stat().st_size > 0


def test_every_random_stream_of_the_loop_has_its_own_seed(tmp_path):
    """Rattles, test MD, pool MD per round and training per round: no two share a seed."""
    settings = _settings(tmp_path)
    run = RunDirectory.create(settings.run.directory, "config")
    from thermodefect.workflow.forcefield_hooks import forcefield_paths

    al = loop.ForceFieldActiveLearning(settings, _cells(), loop.MaceHooks(CountingAlbeLabeller(), settings.forcefield),
                                       forcefield_paths(run), run.manifest)
    seeds = [al._seed("rattle", name) for name in _cells()]
    seeds += [al._seed(role, name, "300K") for role in ("test-md", "final-test-md") for name in _cells()]
    seeds += [al._seed("pool-md", k, name, "600K") for k in range(5) for name in _cells()]
    seeds += [al._seed("train", k) for k in range(5)]
    assert len(set(seeds)) == len(seeds)


def test_ramp_schedule_explores_one_temperature_per_round(tmp_path):
    settings = _settings(tmp_path).model_copy(deep=True)
    settings.forcefield_al.exploration_temperatures_k = [300.0, 500.0, 700.0]
    run = RunDirectory.create(settings.run.directory, "config")
    from thermodefect.workflow.forcefield_hooks import forcefield_paths

    al = loop.ForceFieldActiveLearning(settings, _cells(), loop.MaceHooks(CountingAlbeLabeller(), settings.forcefield),
                                       forcefield_paths(run), run.manifest)
    assert [al.exploration_temperatures(k) for k in range(2)] == [[300.0, 500.0, 700.0]] * 2
    settings.forcefield_al.temperature_schedule = "ramp"
    assert [al.exploration_temperatures(k) for k in range(5)] == [[300.0], [500.0], [700.0], [700.0], [700.0]]


def test_info_read_back_from_extxyz_keeps_its_integers(tmp_path):
    from ase.io import read, write

    from thermodefect.core.keys import scalar_info

    atoms = bulk("GaAs", "zincblende", a=5.65)
    atoms.info.update(md_step=40, time_fs=80.0, defect="pristine", flag=True, site=[0.0, 0.0, 0.0])
    write(tmp_path / "frame.extxyz", atoms)
    back = read(tmp_path / "frame.extxyz")
    assert type(back.info["md_step"]) is not int  # NumPy's integer: what the old filter dropped
    info = scalar_info(back.info)
    assert info["md_step"] == 40 and type(info["md_step"]) is int
    assert info["time_fs"] == 80.0 and info["defect"] == "pristine" and "site" not in info


def test_balanced_selection_spreads_picks_along_each_trajectory(tmp_path):
    """Pool frames keep their MD step, so a trajectory gives more than one frame when they are far enough apart."""
    settings = _settings(tmp_path).model_copy(deep=True)
    settings.forcefield_al.max_selected_per_round = 4
    settings.forcefield_al.min_selection_separation_steps = 5
    settings.forcefield_al.max_rounds = 1
    settings.forcefield_al.test_snapshots_per_defect = 0
    run = RunDirectory.create(settings.run.directory, "config")
    from thermodefect.workflow.forcefield_hooks import forcefield_paths

    al = loop.ForceFieldActiveLearning(settings, _cells(), loop.MaceHooks(CountingAlbeLabeller(), settings.forcefield),
                                       forcefield_paths(run), run.manifest, progress=False)
    al._labels(0)
    pool = al._pool(0, al._train(0))
    assert sorted((a.info["defect"], a.info["md_step"]) for a in pool) == [
        ("V_As", 5), ("V_As", 10), ("pristine", 5), ("pristine", 10)]
    # Steps 5 and 10 of one run are 5 steps apart: both may be taken (all four frames, cap 4).
    assert sorted(al._select(0, pool)) == [0, 1, 2, 3]


def test_warm_start_continues_round_k_from_round_k_minus_1(tmp_path, monkeypatch):
    settings = _settings(tmp_path).model_copy(deep=True)
    settings.forcefield_al.warm_start_epochs = 1
    settings.forcefield_al.test_snapshots_per_defect = 0
    run = RunDirectory.create(settings.run.directory, "config")
    starts, real_train = [], loop.train_ensemble

    def recording_train(ff, train_file, output_dir, seed, **kw):
        starts.append((output_dir.name, kw.get("start_from"), kw.get("start_epochs")))
        return real_train(ff, train_file, output_dir, seed, **kw)

    monkeypatch.setattr(loop, "train_ensemble", recording_train)
    summary = run_forcefield_al(settings, run, _cells(), CountingAlbeLabeller(), log=lambda message: None, progress=False)
    assert summary["rounds"] == 2
    round_0 = run.root / "models" / "ff" / "round-0"
    assert starts[0] == ("round-0", None, 1)
    assert starts[1][0] == "round-1" and starts[1][2] == 1
    assert [p.resolve() for p in starts[1][1]] == [(round_0 / f"model-{k}.model").resolve() for k in range(2)]
