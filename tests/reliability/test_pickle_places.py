"""A planted pickle payload in every place a MACE model is loaded from never runs.

The payload is an object whose unpickling calls ``open(marker, "w")``. Each
test checks that the package refuses the file (one line) and that the marker
was never written; one test shows the payload is live under plain
``torch.load``, so the checks could fail.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from ase.build import bulk
from ase.io import write

from thermodefect.core.errors import UserInputError
from thermodefect.core.rundir import RunDirectory

from .conftest import base_config_text
from .helpers import rattled_gaas, run_cli


class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """One tiny MACE model trained by mace-torch on Albe labels (seconds)."""
    from thermodefect.forcefield import train_model
    from thermodefect.potentials.albe import AlbeGaAs
    from thermodefect.settings import ForceFieldSettings

    root = tmp_path_factory.mktemp("mace")
    frames = rattled_gaas(6, stdev_angstrom=0.08)
    for atoms in frames:
        atoms.calc = AlbeGaAs()
        atoms.info["REF_energy"] = atoms.get_potential_energy()
        atoms.arrays["REF_forces"] = atoms.get_forces()
        atoms.calc = None
    write(str(root / "train.extxyz"), frames, format="extxyz")
    ff = ForceFieldSettings(num_channels=8, max_L=0, num_interactions=1, correlation=2, r_max_angstrom=4.0,
                            max_num_epochs=1, batch_size=3, valid_fraction=0.34, ensemble_size=1)
    train_model(ff, root / "train.extxyz", root / "out", seed=1, name="model-0")
    return root


def _hostile_model(good: Path, target: Path, marker: Path) -> Path:
    """A genuine MACE model with a payload attached: loads and predicts under plain torch.load."""
    import torch

    model = torch.load(good, map_location="cpu", weights_only=False)  # our own freshly trained file
    model.extra = _Payload(marker)
    torch.save(model, target)
    return target


def _fake_run(root: Path, good_model: Path) -> RunDirectory:
    """A run directory whose finished force-field loop left one recorded model."""
    run = RunDirectory.create(root, "[run]\n")
    folder = run.model_round("ff", 0)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(good_model, folder / "model-0.model")
    run.manifest.record_files([folder / "model-0.model"])
    run.forcefield_al_summary.write_text(json.dumps({"final_models": ["models/ff/round-0/model-0.model"]}))
    return run


@pytest.fixture
def places(trained, tmp_path):
    marker = tmp_path / "payload-ran"
    good = trained / "out" / "model-0.model"
    return {"marker": marker, "good": good, "hostile": _hostile_model(good, tmp_path / "hostile.model", marker),
            "run": _fake_run(tmp_path / "run", good)}


def test_the_payload_is_live_under_plain_torch_load(places):
    import torch

    torch.load(places["hostile"], weights_only=False)
    assert places["marker"].exists()


def _energy_and_forces(models, seed: int, dtype: str) -> list[tuple]:
    """MACE energy (eV) and forces (eV/Å) of one rattled 8-atom GaAs cell, per model."""
    from mace.calculators import MACECalculator

    atoms = bulk("GaAs", "zincblende", a=5.65, cubic=True)
    atoms.rattle(0.1, seed=seed)
    results = []
    for model in models:
        atoms.calc = MACECalculator(models=[model], device="cpu", default_dtype=dtype)
        results.append((atoms.get_potential_energy(), atoms.get_forces().copy()))
    return results


def test_clean_model_rebuilds_with_identical_predictions(places):
    import torch

    from thermodefect.forcefield.model_files import read_mace_model

    rebuilt = read_mace_model(places["good"])
    original = torch.load(places["good"], map_location="cpu", weights_only=False)
    assert rebuilt.state_dict().keys() == original.state_dict().keys()
    results = _energy_and_forces((rebuilt, original), seed=3, dtype="float64")
    assert results[0][0] == pytest.approx(results[1][0], abs=1e-10)
    assert abs(results[0][1] - results[1][1]).max() < 1e-10


def test_an_equivariant_model_rebuilds_with_identical_weights_and_predictions(trained, tmp_path):
    """max_L = 1 with two interactions (the default architecture's shape): e3nn keeps Wigner-3j
    constants inside generated code the loader never runs; the rebuilt model must still match."""
    import torch

    from thermodefect.forcefield import train_model
    from thermodefect.forcefield.model_files import read_mace_model
    from thermodefect.settings import ForceFieldSettings

    ff = ForceFieldSettings(num_channels=8, max_L=1, num_interactions=2, correlation=2, r_max_angstrom=4.0,
                            max_num_epochs=1, batch_size=3, valid_fraction=0.34, ensemble_size=1)
    path = train_model(ff, trained / "train.extxyz", tmp_path, seed=2, name="l1")
    rebuilt = read_mace_model(path)
    original = torch.load(path, map_location="cpu", weights_only=False)  # our own trained file
    reference = original.state_dict()
    assert any("_w3j_" in k for k in reference)  # the case this test is about
    assert rebuilt.state_dict().keys() == reference.keys()
    for key, value in rebuilt.state_dict().items():
        torch.testing.assert_close(value, reference[key], rtol=0, atol=0)
    results = _energy_and_forces((rebuilt, original), seed=4, dtype="float32")
    assert results[0][0] == results[1][0] and abs(results[0][1] - results[1][1]).max() == 0.0


def test_model_file_given_by_path_is_refused(places):
    from thermodefect.forcefield import ForceFieldEnsemble

    with pytest.raises(UserInputError, match="refused to load: the file names io.open") as err:
        ForceFieldEnsemble([places["hostile"]])
    assert "\n" not in str(err.value)
    assert not places["marker"].exists()


def test_foundation_model_is_refused_before_training(places, trained):
    from thermodefect.forcefield import train_model
    from thermodefect.settings import ForceFieldSettings

    ff = ForceFieldSettings(foundation_model=str(places["hostile"]), max_num_epochs=1, batch_size=3, ensemble_size=1)
    with pytest.raises(UserInputError, match="refused to load"):
        train_model(ff, trained / "train.extxyz", places["run"].root / "tuned", seed=2)
    assert not places["marker"].exists()


def test_replaced_model_in_the_run_is_refused(places):
    from thermodefect.workflow.forcefield_hooks import final_models

    run = places["run"]
    shutil.copy(places["hostile"], run.model_round("ff", 0) / "model-0.model")
    with pytest.raises(UserInputError, match="changed since this run wrote it"):
        final_models(run)
    assert not places["marker"].exists()


@pytest.mark.parametrize("escape", ["absolute", "parent"])
def test_final_models_outside_the_run_are_refused(places, escape):
    from thermodefect.workflow.forcefield_hooks import final_models

    run = places["run"]
    path = str(places["hostile"]) if escape == "absolute" else "../hostile.model"
    run.forcefield_al_summary.write_text(json.dumps({"final_models": [path]}))
    with pytest.raises(UserInputError, match="outside the run directory"):
        final_models(run)
    assert not places["marker"].exists()


def test_extra_model_file_in_a_round_is_never_picked_up(places, trained):
    from thermodefect.active.forcefield import ForceFieldActiveLearning, ForceFieldALPaths
    from thermodefect.settings import Settings

    run = places["run"]
    shutil.copy(places["hostile"], run.model_round("ff", 0) / "model-9.model")
    paths = ForceFieldALPaths(root=run.root, models=run.forcefield_models, results=run.results, md=run.md)
    loop = ForceFieldActiveLearning(Settings(), {}, hooks=None, paths=paths, manifest=run.manifest)
    assert [p.name for p in loop.model_paths(0)] == ["model-0.model"]
    # ... and a resumed ensemble trains over it instead of keeping it.
    assert not run.manifest.holds(run.model_round("ff", 0) / "model-9.model")
    assert not places["marker"].exists()


def test_planted_mace_checkpoint_is_never_resumed(places, trained):
    """mace-torch reloads the newest file of its checkpoints folder after training; that folder is private."""
    from thermodefect.forcefield import train_model
    from thermodefect.settings import ForceFieldSettings

    out = places["run"].root / "models" / "ff" / "trained"
    (out / "checkpoints").mkdir(parents=True)
    shutil.copy(places["hostile"], out / "checkpoints" / "model-0_run-1_epoch-999.pt")
    ff = ForceFieldSettings(num_channels=8, max_L=0, num_interactions=1, correlation=2, r_max_angstrom=4.0,
                            max_num_epochs=1, batch_size=3, valid_fraction=0.34, ensemble_size=1)
    train_model(ff, trained / "train.extxyz", out, seed=1, name="model-0")
    assert not places["marker"].exists()
    assert not list(out.glob("model-0-checkpoints-*")), "the private checkpoints folder is removed"


@pytest.mark.slow
@pytest.mark.parametrize("command", ["eval", "md"])
def test_cli_model_option_refuses_the_payload(places, labelled_run, command):
    argv = (["ff", "eval", labelled_run["config"], "--data", labelled_run["run"] / "data" / "forces.extxyz"]
            if command == "eval" else ["md", labelled_run["config"], "--defect", "pristine", "--no-progress"])
    result = run_cli(argv + ["--model", places["hostile"]])
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "refused to load" in lines[0], result.stderr[-2000:]
    assert "a pickle that would run code" in lines[0]
    assert not places["marker"].exists()


@pytest.mark.slow
def test_cli_model_option_says_what_a_model_file_is(places, labelled_run):
    result = run_cli(["ff", "eval", labelled_run["config"], "--data", labelled_run["run"] / "data" / "forces.extxyz",
                      "--model", places["good"]])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "is a pickled MACE model (pickles can run code); only its architecture and weights were read" in result.stderr


def test_unrelated_folder_is_not_adopted_as_a_run(tmp_path):
    (tmp_path / "thesis.tex").write_text("my thesis")
    with pytest.raises(UserInputError, match="non-empty folder without a thermodefect manifest"):
        RunDirectory.create(tmp_path, base_config_text(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis.tex"]


@pytest.mark.parametrize("root", ["/", "~"])
def test_run_directory_is_not_the_filesystem_root_or_home(root):
    with pytest.raises(UserInputError, match="choose a folder of its own"):
        RunDirectory.create(Path(root).expanduser(), "[run]\n")


def test_index_shard_outside_the_dataset_is_refused(labelled_run, tmp_path):
    import h5py

    from thermodefect.data.hamiltonians import HamiltonianDataset

    data = tmp_path / "data"
    shutil.copytree(labelled_run["run"] / "data", data)
    with h5py.File(data / "hamiltonians.h5", "a") as f:
        for k, name in enumerate(f["samples"]):
            f["samples"][name].attrs["shard"] = "../../../../etc/hostname" if k == 0 else "/etc/hostname"
    dataset = HamiltonianDataset(data / "hamiltonians.h5")
    for key in dataset.keys():
        with pytest.raises(UserInputError, match="points outside"):
            dataset[key]
