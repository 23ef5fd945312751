"""Labelling: datasets filled, failures recorded not fatal, reruns skip, one calc serves both."""

import json

import numpy as np
import pytest
from ase.build import bulk

from thermodefect.data.forces import ENERGY_KEY, ForcesDataset
from thermodefect.data.hamiltonians import HamiltonianDataset
from thermodefect.core.errors import UserInputError
from thermodefect.reference import labelling
from thermodefect.reference.labelling import label_structures
from thermodefect.settings import ReferenceSettings, ReferencesSettings
from thermodefect.core.executors import LocalExecutor
from thermodefect.core.rundir import RunDirectory

# EMT knows Cu but not Ga/As: a real calculator that fails on some inputs.
EMT = ReferenceSettings(name="ase", options={"calculator": "ase.calculators.emt.EMT"}, retries=1)
XTB = ReferenceSettings(name="xtb", options={"method": "GFN1-xTB", "accuracy": 0.01})


def copper(seed):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.rattle(0.05, seed=seed)
    return atoms


def gaas(seed):
    atoms = bulk("GaAs", "zincblende", a=5.65, cubic=True)
    atoms.rattle(0.05, seed=seed)
    atoms.info["defect"] = "pristine"
    return atoms


@pytest.fixture
def run(tmp_path):
    return RunDirectory.create(tmp_path / "run", "[run]\n")


def test_failures_are_recorded_retried_and_not_fatal(run):
    structures = [copper(0), gaas(1), copper(2)]
    report = label_structures(structures, EMT, run, what={"forces"}, executor=LocalExecutor(1), progress=False)
    assert (report.n_new, report.n_failed, report.n_skipped) == (2, 1, 0)
    assert len(ForcesDataset(run.forces_dataset)) == 2
    lines = [json.loads(line) for line in run.failures.read_text().splitlines()]
    assert [line["attempt"] for line in lines] == [1, 2]  # retries = 1
    assert lines[0]["defect"] == "pristine" and "CalculationFailed" in lines[0]["reason"]
    assert {"key", "defect", "reason", "attempt", "time"} <= set(lines[0])


def test_rerun_does_no_new_calculations(run, monkeypatch):
    structures = [copper(0), copper(1)]
    label_structures(structures, EMT, run, what={"forces"}, progress=False)

    def must_not_run(task):
        raise AssertionError("a structure was labelled twice")

    monkeypatch.setattr(labelling, "run_label_task", must_not_run)
    report = label_structures(structures + [copper(1)], EMT, run, what={"forces"}, progress=False)
    assert (report.n_new, report.n_skipped, report.n_failed) == (0, 2, 0)
    assert len(ForcesDataset(run.forces_dataset)) == 2


def test_one_xtb_calculation_fills_both_datasets(run, monkeypatch):
    calls = []
    original = labelling.run_label_task

    def counting(task):
        calls.append(task.targets)
        return original(task)

    monkeypatch.setattr(labelling, "run_label_task", counting)
    refs = ReferencesSettings(forces=XTB, hamiltonian=XTB)
    report = label_structures([gaas(3)], refs, run, metadata=[{"temperature_k": 300.0}], progress=False)
    assert report.n_new == 1 and calls == [("forces", "hamiltonian")]
    frame = ForcesDataset(run.forces_dataset).read()[0]
    ham = HamiltonianDataset(run.hamiltonian_dataset)
    sample = ham[ham.keys()[0]]
    assert sample.energy_ev == pytest.approx(frame.info[ENERGY_KEY])
    assert sample.metadata["defect"] == "pristine" and sample.metadata["temperature_k"] == 300.0
    assert frame.info["temperature_k"] == 300.0
    assert np.allclose(sample.kspace.hamiltonian[0], sample.kspace.hamiltonian[0].T)


def test_forces_only_reference_cannot_label_hamiltonians(run):
    with pytest.raises(UserInputError, match="cannot label hamiltonian"):
        label_structures([copper(0)], EMT, run, what={"hamiltonian"}, progress=False)


def test_parallel_pool_labels_and_writes_in_main_process(run):
    report = label_structures([copper(k) for k in range(4)], EMT, run, what={"forces"}, executor=LocalExecutor(2), progress=False)
    assert report.n_new == 4 and len(ForcesDataset(run.forces_dataset)) == 4
