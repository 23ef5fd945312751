"""One Hamiltonian recipe: ``thermodefect ham train`` and the pipeline train the same model.

Labels come from the toy tight-binding reference (fast, declared fake); the
point here is that both routes share every step (sample preparation,
overlap, two-center baseline, split, seeds, ensemble mean), not the physics.
"""

from __future__ import annotations

import numpy as np
from ase.build import bulk
from typer.testing import CliRunner

from thermodefect.cli.main import app
from thermodefect.hamiltonian import predict
from thermodefect.hamiltonian.recipe import MeanEnsemble, load_predictor
from thermodefect.reference.labelling import label_structures
from thermodefect.settings import load_settings
from thermodefect.workflow.context import PipelineContext
from thermodefect.workflow.pipeline import open_run
from thermodefect.workflow.steps.hamiltonian import PipelineHamiltonianHooks

N_LABELS = 5
SAME_BLOCKS_ATOL_EV = 1e-10  # same seeds, same data, same code: equal up to float round-off


def _config(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(f"""
[run]
directory = "{tmp_path / 'run'}"
seed = 11
[reference.forces]
name = "toy"
options = {{}}
[reference.hamiltonian]
name = "toy"
options = {{}}
[hamiltonian]
preset = "fast"
irreps_node = "4x0e+2x1o+2x2e"
irreps_edge = "4x0e+2x1o+2x1e+2x2e"
num_layers = 1
radial_basis_size = 4
radial_hidden = 8
cutoff_angstrom = 4.5
two_center_cutoff_angstrom = 6.0
ensemble_size = 2
max_epochs = 3
default_dtype = "float64"
[compute]
workers = 1
""")
    return path


def _rattled(n: int, seed: int) -> list:
    frames = []
    for k in range(n):
        atoms = bulk("GaAs", "zincblende", a=5.65, cubic=True)
        atoms.rattle(0.05, seed=seed + k)
        atoms.info["defect"] = "pristine"
        frames.append(atoms)
    return frames


def test_cli_and_pipeline_train_the_same_model(tmp_path):
    config = _config(tmp_path)
    settings = load_settings(config)
    run = open_run(settings)
    label_structures(_rattled(N_LABELS, seed=1), settings.reference, run, what=("hamiltonian",), progress=False)
    from thermodefect.data.hamiltonians import HamiltonianDataset

    keys = sorted(HamiltonianDataset(run.hamiltonian_dataset).keys())
    assert len(keys) == N_LABELS

    # The pipeline's path: one active-learning round trained on these labels.
    ctx = PipelineContext(settings=settings, run=run, manifest=run.manifest, log=lambda message: None)
    pipeline_members = PipelineHamiltonianHooks(ctx).train(keys, run.model_round("ham", 0), 0)
    pipeline_model = MeanEnsemble(pipeline_members)

    # The CLI's path, into its own directory (the overlap of the run is reused, as in a run).
    out = tmp_path / "cli-model"
    result = CliRunner().invoke(app, ["ham", "train", str(config), "--all", "--no-progress", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"trained 2 hamiltonian models on {N_LABELS - 1} samples (1 validation)" in result.output
    cli_model = load_predictor(out)
    assert isinstance(cli_model, MeanEnsemble) and len(cli_model.members) == 2

    new = _rattled(1, seed=99)[0]
    from_pipeline = predict(pipeline_model, [new])[0]
    from_cli = predict(cli_model, [new])[0]
    np.testing.assert_array_equal(from_pipeline.edge_index, from_cli.edge_index)
    np.testing.assert_allclose(from_cli.blocks, from_pipeline.blocks, atol=SAME_BLOCKS_ATOL_EV)
    # And the model is not trivially the baseline alone: the network's members differ from each other.
    single = [predict(m, [new])[0].blocks for m in cli_model.members]
    assert np.abs(single[0] - single[1]).max() > 1e-6
    # Members one by one (for the ensemble spread): each equals predicting with that member alone,
    # and their mean is the ensemble's prediction.
    from thermodefect.hamiltonian import predict_members

    (mean, members), = predict_members(cli_model, [new])
    for op, alone in zip(members, single):
        np.testing.assert_allclose(op.blocks, alone, atol=SAME_BLOCKS_ATOL_EV)
    np.testing.assert_allclose(mean.blocks, from_cli.blocks, atol=SAME_BLOCKS_ATOL_EV)


def test_a_corrupt_member_is_reported_not_retrained(tmp_path):
    config = _config(tmp_path)
    settings = load_settings(config)
    run = open_run(settings)
    label_structures(_rattled(N_LABELS, seed=1), settings.reference, run, what=("hamiltonian",), progress=False)
    out = tmp_path / "cli-model"
    runner = CliRunner()
    assert runner.invoke(app, ["ham", "train", str(config), "--all", "--no-progress", "-o", str(out)]).exit_code == 0
    weights = out / "member-1" / "model.pt"
    weights.write_bytes(weights.read_bytes()[:-8] + b"tampered")
    before = weights.read_bytes()
    result = runner.invoke(app, ["ham", "train", str(config), "--all", "--no-progress", "-o", str(out)])
    assert result.exit_code == 2
    assert "member-1" in result.stderr and "checksum" in result.stderr
    assert weights.read_bytes() == before, "a corrupt model must be reported, not silently retrained over"
