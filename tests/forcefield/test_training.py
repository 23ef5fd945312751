"""Training, fine-tuning from a local foundation file, and foundation-name errors."""

from __future__ import annotations

import pytest
from ase.build import bulk

import thermodefect.forcefield.training as training
from thermodefect.core.errors import UserInputError
from thermodefect.forcefield import ForceFieldEnsemble, train_ensemble, train_model


def test_finetune_from_local_foundation_keeps_its_architecture(tmp_path, albe_training_file, tiny_mace):
    foundation = train_model(tiny_mace, albe_training_file, tmp_path / "foundation", seed=1)
    # The settings ask for another architecture; fine-tuning must take the foundation's.
    finetune = tiny_mace.model_copy(update={"foundation_model": str(foundation), "num_channels": 16, "r_max_angstrom": 5.0})
    assert "--foundation_model=" + str(foundation) in training.mace_arguments(finetune, albe_training_file, tmp_path, 2, foundation=str(foundation))
    tuned = train_model(finetune, albe_training_file, tmp_path / "tuned", seed=2)
    assert (tmp_path / "tuned" / "logs").is_dir() and (tmp_path / "tuned" / "results").is_dir()
    import torch

    model = torch.load(tuned, map_location="cpu", weights_only=False)  # our own trained file
    assert model.r_max.item() == pytest.approx(4.0)
    assert model.node_embedding.linear.irreps_out.dim == 8
    atoms = bulk("GaAs", "zincblende", a=5.65, cubic=True)
    assert ForceFieldEnsemble([tuned]).predict(atoms).forces_ev_per_angstrom.shape == (1, 8, 3)


def test_ensemble_resumes_and_models_differ(tmp_path, albe_training_file, tiny_mace):
    paths = train_ensemble(tiny_mace, albe_training_file, tmp_path, seed=5)
    assert [p.name for p in paths] == ["model-0.model", "model-1.model"]
    stamp = paths[0].stat().st_mtime_ns
    assert train_ensemble(tiny_mace, albe_training_file, tmp_path, seed=5) == paths
    assert paths[0].stat().st_mtime_ns == stamp  # not retrained


def test_unknown_foundation_name_is_one_line_user_error():
    with pytest.raises(UserInputError, match="neither a file nor a mace-torch model name"):
        training.resolve_foundation_model("no-such-model")


def test_unfetchable_named_foundation_suggests_a_local_path(monkeypatch):
    import mace.calculators.foundations_models as foundations

    def offline(name):
        raise OSError("network unreachable")

    monkeypatch.setattr(foundations, "download_mace_mp_checkpoint", offline)
    with pytest.raises(UserInputError, match="local .model file path") as err:
        training.resolve_foundation_model("small")
    assert "\n" not in str(err.value)


def test_mace_torch_argument_refusal_is_one_line_on_the_terminal(tmp_path, albe_training_file, tiny_mace):
    """argparse would print a usage text into the console log and exit; the reason must reach the user."""
    bad = tiny_mace.model_copy(update={"device": "tpu"})  # past settings validation, as a plugin could pass it
    with pytest.raises(UserInputError, match="mace-torch refused the training options: .*tpu") as err:
        train_model(bad, albe_training_file, tmp_path, seed=1)
    assert "\n" not in str(err.value)


def test_mace_torch_failure_inside_training_names_the_log(tmp_path, albe_training_file, tiny_mace):
    bad = tiny_mace.model_copy(update={"e0s": "{99: -1.0}"})  # an element the data does not have
    with pytest.raises(UserInputError, match="mace-torch training of model failed .*details in .*console.log") as err:
        train_model(bad, albe_training_file, tmp_path, seed=1)
    assert "\n" not in str(err.value)
    assert "Traceback" in (tmp_path / "model.console.log").read_text()


def test_training_levers_reach_mace_torch_and_stage_two_is_the_trained_model(tmp_path, albe_training_file, tiny_mace):
    ff = tiny_mace.model_copy(update={"loss": "huber", "ema_decay": 0.95, "stage_two": True, "max_num_epochs": 4})
    argv = training.mace_arguments(ff, albe_training_file, tmp_path, 1)
    args = training._parse_mace_arguments(argv)
    assert (args.loss, args.ema, args.ema_decay, args.swa) == ("huber", True, 0.95, True)
    assert args.swa_energy_weight == 1000.0 and args.swa_forces_weight == ff.forces_weight
    path = train_model(ff, albe_training_file, tmp_path / "two", seed=3)
    assert path == tmp_path / "two" / "model.model" and not (tmp_path / "two" / "model_stagetwo.model").exists()
    assert "Stage Two" in (tmp_path / "two" / "model.console.log").read_text()


def test_max_ell_sets_the_degree_of_the_trained_models_edge_features(tmp_path, albe_training_file, tiny_mace):
    import torch

    ff = tiny_mace.model_copy(update={"max_ell": 1})
    assert training._parse_mace_arguments(training.mace_arguments(ff, albe_training_file, tmp_path, 1)).max_ell == 1
    path = train_model(ff, albe_training_file, tmp_path / "ell1", seed=2)
    model = torch.load(path, map_location="cpu", weights_only=False)
    assert model.spherical_harmonics.irreps_out.lmax == 1
    default = training._parse_mace_arguments(training.mace_arguments(tiny_mace, albe_training_file, tmp_path, 1))
    assert default.max_ell == 3  # mace-torch's own default, unchanged unless asked


def test_warm_start_continues_each_member_from_its_own_start(tmp_path, albe_training_file, tiny_mace):
    """Member k continues start_from[k]: at a vanishing learning rate its weights stay those of its start."""
    import torch

    starts = train_ensemble(tiny_mace, albe_training_file, tmp_path / "round-0", seed=5)
    frozen = tiny_mace.model_copy(update={"finetune_learning_rate": 1e-12, "stage_two": False})
    assert training.warm_start_settings(frozen, starts[0], 3).e0s == "foundation"
    warm = train_ensemble(frozen, albe_training_file, tmp_path / "round-1", seed=9, start_from=starts, start_epochs=1)

    def weights(path):
        # Our own trained files. The state dict, not parameters(): the continued model trains the
        # radial Bessel weights that the first one held fixed.
        state = torch.load(path, map_location="cpu", weights_only=False).state_dict()
        return torch.cat([state[k].detach().double().reshape(-1) for k in sorted(state) if state[k].is_floating_point()])

    for start, member in zip(starts, warm):
        assert torch.allclose(weights(member), weights(start), atol=1e-6)
    assert not torch.allclose(weights(warm[0]), weights(warm[1]), atol=1e-6)  # each from its own member
    with pytest.raises(training.ForceFieldError, match="one model per ensemble member"):
        train_ensemble(frozen, albe_training_file, tmp_path / "bad", seed=9, start_from=starts[:1], start_epochs=1)


def test_finetune_takes_the_energy_zero_of_its_own_labels(tmp_path, albe_training_file, tiny_mace):
    """Naive fine-tuning from a foundation with the same elements must not keep the foundation's E0s:
    labels from another reference (here the same frames, 40 eV per atom higher) would be off by that much."""
    import numpy as np
    import torch
    from ase.io import read, write

    foundation = train_model(tiny_mace, albe_training_file, tmp_path / "foundation", seed=1)
    frames = read(str(albe_training_file), index=":")
    for atoms in frames:
        atoms.info["REF_energy"] += 40.0 * len(atoms)
    shifted = tmp_path / "shifted.extxyz"
    write(str(shifted), frames, format="extxyz")
    expected = training.finetuning_e0s("average", shifted)
    assert np.mean(list(expected.values())) == pytest.approx(np.mean(list(training.finetuning_e0s("average", albe_training_file).values())) + 40.0)

    tuned = train_model(tiny_mace.model_copy(update={"foundation_model": str(foundation)}), shifted, tmp_path / "tuned", seed=2)
    model = torch.load(tuned, map_location="cpu", weights_only=False)  # our own trained file
    zs = [int(z) for z in model.atomic_numbers]
    assert model.atomic_energies_fn.atomic_energies.reshape(-1).tolist() == pytest.approx([expected[z] for z in zs])
    predicted = ForceFieldEnsemble([tuned]).predict_many(frames)
    errors = [abs(p.mean_energy_ev - a.info["REF_energy"]) / len(a) for p, a in zip(predicted, frames)]
    assert max(errors) < 1.0  # eV/atom; the foundation's E0s would leave 40

    # "foundation" E0s (a warm start on the same reference) keep the foundation's.
    kept = train_model(tiny_mace.model_copy(update={"foundation_model": str(foundation), "e0s": "foundation"}),
                       albe_training_file, tmp_path / "kept", seed=2)
    original = torch.load(foundation, map_location="cpu", weights_only=False).atomic_energies_fn.atomic_energies
    assert torch.allclose(torch.load(kept, map_location="cpu", weights_only=False).atomic_energies_fn.atomic_energies, original)


def test_finetuning_e0s_reads_a_dictionary_and_refuses_nonsense(tmp_path):
    assert training.finetuning_e0s("{31: -1.5, 33: -2.5}", tmp_path / "unused.extxyz") == {31: -1.5, 33: -2.5}
    with pytest.raises(training.ForceFieldError, match="neither"):
        training.finetuning_e0s("{31: oops", tmp_path / "unused.extxyz")
