"""A run directory whose stages failed, lied or left broken files behind.

* a stage that raises is marked ``failed`` with its one-line reason, which
  ``thermodefect status`` shows; Ctrl-C leaves it ``running`` (resume);
* a stage marked done whose outputs are missing, and a missing, empty or
  malformed ``results/*.json``, give one line naming the file and the stage
  that rewrites it (``thermodefect run CONFIG --only STAGE``), never a traceback;
* a refused Hamiltonian checkpoint says why in whole sentences.
"""

from __future__ import annotations

import json
import shutil

import pytest

from thermodefect.core.errors import UserInputError
from thermodefect.core.results import ResultsFileError, read_results_json

from .conftest import TINY_TOY
from .helpers import run_cli, tree_digest


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(TINY_TOY.read_text().replace('directory = "run"', f'directory = "{tmp_path / "run"}"'))
    return path


@pytest.fixture
def ctx(config):
    """A pipeline context on a fresh run directory of the tiny config."""
    from thermodefect.settings import load_settings
    from thermodefect.workflow.context import PipelineContext
    from thermodefect.workflow.pipeline import open_run

    settings = load_settings(config)
    run = open_run(settings)
    return PipelineContext(settings=settings, run=run, manifest=run.manifest, log=lambda message: None)


def _error_line(result) -> str:
    """The one ``error:`` line a failed command ends with (log lines of ``run`` may precede it)."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr + result.stdout, result.stderr[-3000:]
    assert lines and lines[-1].startswith("error: "), result.stderr[-2000:]
    assert sum(line.startswith("error: ") for line in lines) == 1, result.stderr[-2000:]
    return lines[-1]


def _status_line(run_dir, stage: str) -> str:
    result = run_cli(["status", run_dir])
    assert result.returncode == 0, result.stderr
    return next(line for line in result.stdout.splitlines() if line.split()[0] == stage)


# --------------------------------------------------------------------------- failed stages
def test_a_failing_stage_is_marked_failed_and_status_shows_why(config, tmp_path):
    from thermodefect.core.rundir import Manifest

    # predictions without the structures stage: its first reader refuses, the runner records it.
    result = run_cli(["run", config, "--only", "predictions"])
    line = _error_line(result)
    assert "structures" in line and "--only structures" in line
    manifest = Manifest(tmp_path / "run" / "manifest.json")
    assert manifest.status("predictions") == "failed"
    assert manifest.info("predictions")["error"] == line.removeprefix("error: ")
    row = _status_line(tmp_path / "run", "predictions")
    assert row.split()[1] == "failed" and row.endswith("error: " + line.removeprefix("error: "))


def _stages(monkeypatch, *functions):
    from thermodefect.workflow import pipeline
    from thermodefect.workflow.context import Stage

    monkeypatch.setattr(pipeline, "STAGES", tuple(Stage(name, name, f) for name, f in functions))


def test_an_unexpected_exception_is_recorded_and_raised_again(ctx, monkeypatch):
    from thermodefect.workflow.pipeline import run_pipeline

    def explode(_):
        raise RuntimeError("solver exploded\nsecond line of the message")

    _stages(monkeypatch, ("structures", explode))
    with pytest.raises(RuntimeError, match="solver exploded"):
        run_pipeline(ctx.settings, log=lambda m: None)
    assert ctx.manifest.status("structures") == "failed"
    assert ctx.manifest.info("structures")["error"] == "RuntimeError: solver exploded"


def test_an_interrupted_stage_stays_running_for_resume(ctx, monkeypatch):
    from thermodefect.workflow.pipeline import run_pipeline

    def interrupted(context):
        context.manifest.record_items("structures", ["half-done"])
        raise KeyboardInterrupt

    _stages(monkeypatch, ("structures", interrupted))
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(ctx.settings, log=lambda m: None)
    assert ctx.manifest.status("structures") == "running"
    assert "error" not in ctx.manifest.info("structures")
    assert ctx.manifest.items_done("structures") == {"half-done"}


def test_a_failed_stage_that_is_redone_no_longer_shows_its_error(ctx, monkeypatch):
    from thermodefect.workflow.pipeline import run_pipeline

    def fail(_):
        raise UserInputError("results/x.json: missing; redo the x stage")

    _stages(monkeypatch, ("structures", fail))
    with pytest.raises(UserInputError):
        run_pipeline(ctx.settings, log=lambda m: None)
    assert "error: results/x.json: missing" in _status_line(ctx.run.root, "structures")
    messages = []
    _stages(monkeypatch, ("structures", lambda _: {"cells": 3}))
    run_pipeline(ctx.settings, log=messages.append)
    assert any("starting again (it failed before)" in m for m in messages)
    row = _status_line(ctx.run.root, "structures")
    assert "done" in row and "error" not in row and "cells=3" in row


# --------------------------------------------------------------------------- stages falsely marked done
def test_forcefield_marked_done_without_its_summary(ctx):
    from thermodefect.workflow.pipeline import run_pipeline

    run_pipeline(ctx.settings, only=["structures"], log=lambda m: None)
    ctx.manifest.complete("forcefield_al")
    with pytest.raises(ResultsFileError) as err:
        run_pipeline(ctx.settings, log=lambda m: None)
    message = str(err.value)
    assert "ff_al_summary.json: missing" in message and "`thermodefect run CONFIG --only forcefield_al`" in message
    assert ctx.manifest.status("production_md") == "failed"


def test_hamiltonian_marked_done_without_its_training_keys(ctx):
    from thermodefect.workflow.pipeline import run_pipeline

    ctx.manifest.complete("hamiltonian_al")
    with pytest.raises(ResultsFileError, match="hamiltonian_training_keys.json: missing; redo the hamiltonian_al stage"):
        run_pipeline(ctx.settings, only=["overlap_model"], log=lambda m: None)


def test_production_md_marked_done_without_trajectories(ctx):
    from thermodefect.workflow.pipeline import run_pipeline

    run_pipeline(ctx.settings, only=["structures"], log=lambda m: None)
    ctx.manifest.complete("production_md")
    with pytest.raises(ResultsFileError, match=r"pristine-300K: missing trajectory; redo the production_md stage"):
        run_pipeline(ctx.settings, only=["predictions"], log=lambda m: None)


@pytest.mark.parametrize("stage, name", [("accuracy", "accuracy.json"), ("statistics", "thermal.json"),
                                         ("forcefield_al", "ff_al_summary.json"), ("validation", "validation.json")])
def test_the_summary_refuses_a_result_missing_although_its_stage_is_done(ctx, stage, name):
    from thermodefect.workflow.summary import write_summary

    ctx.manifest.complete(stage)
    with pytest.raises(ResultsFileError, match=f"{name}: missing although the manifest marks the {stage} stage done"):
        write_summary(ctx)
    assert not ctx.run.result("summary.json").exists()


def test_statistics_without_any_snapshot_prediction(ctx):
    from thermodefect.workflow.summary import thermal_table

    with pytest.raises(ResultsFileError, match="no snapshot predictions; redo the predictions stage"):
        thermal_table(ctx)


# --------------------------------------------------------------------------- corrupt results files
CORRUPT = [("", "empty"), ("   \n", "empty"), ('{"rounds": [1, 2', "not valid JSON"), ("[1, 2]", "JSON object"),
           (b"\xff\xfe\x00binary", "UTF-8")]


@pytest.mark.parametrize("content, fragment", CORRUPT, ids=["empty", "blank", "truncated", "list", "binary"])
@pytest.mark.parametrize("stage, name", [("forcefield_al", "ff_al_summary.json"), ("hamiltonian_al", "hamiltonian_al.json"),
                                         ("accuracy", "accuracy.json"), ("validation", "validation.json")])
def test_the_summary_names_a_corrupt_result_and_its_stage(ctx, stage, name, content, fragment):
    from thermodefect.workflow.summary import write_summary

    path = ctx.run.result(name)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ResultsFileError) as err:
        write_summary(ctx)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and fragment in message and "\n" not in message
    assert message.endswith(f"redo the {stage} stage with `thermodefect run CONFIG --only {stage}`")
    assert not ctx.run.result("summary.json").exists()


def test_thermal_results_must_be_a_list(ctx):
    from thermodefect.workflow.summary import write_summary

    ctx.run.result("thermal.json").write_text('{"gap": 1}')
    with pytest.raises(ResultsFileError, match="thermal.json: expected a JSON list .*--only statistics"):
        write_summary(ctx)


def test_a_corrupt_snapshot_prediction_names_the_predictions_stage(ctx):
    from thermodefect.workflow.summary import thermal_table

    path = ctx.run.snapshot_predictions / "8atoms-As_Ga-300K.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"defect": "As_Ga"}')
    with pytest.raises(ResultsFileError, match="has no 'snapshots', 'cell_atoms', 'temperature_k'; redo the predictions stage"):
        thermal_table(ctx)


def test_corrupt_training_keys_name_the_hamiltonian_stage(ctx):
    from thermodefect.workflow.rundata import training_keys

    ctx.run.training_keys.write_text('{"training": ["a"], "test": []}')
    with pytest.raises(ResultsFileError, match="'final_round'.*--only hamiltonian_al"):
        training_keys(ctx)
    ctx.run.training_keys.write_text("")
    with pytest.raises(ResultsFileError, match="empty.*--only hamiltonian_al"):
        training_keys(ctx)


def test_the_report_figures_name_a_corrupt_force_field_summary(ctx):
    from thermodefect.report.figures import REGISTRY
    from thermodefect.report.summary import ReportInputError

    parity = next(entry for entry in REGISTRY if entry.name == "ff_parity.png")
    ctx.run.forcefield_al_summary.write_text("{")
    with pytest.raises(ReportInputError, match="ff_al_summary.json: not valid JSON.*--only forcefield_al"):
        parity.sources(ctx.run.root)
    ctx.run.forcefield_al_summary.unlink()
    assert parity.sources(ctx.run.root) == []  # no loop run yet: no parity figure, no error


@pytest.mark.parametrize("content, fragment", [("", "empty"), ("[1, 2,", "malformed JSON")])
def test_report_of_a_corrupt_summary_is_one_line(labelled_run, tmp_path, content, fragment):
    run = tmp_path / "run"
    shutil.copytree(labelled_run["run"], run)
    (run / "results" / "summary.json").write_text(content)
    before = tree_digest(run)
    result = run_cli(["report", run])
    line = _error_line(result)
    assert len(result.stderr.strip().splitlines()) == 1
    assert "summary.json" in line and fragment in line and "--only report" in line
    assert tree_digest(run) == before


@pytest.mark.slow
def test_run_reports_a_stage_falsely_marked_done(config, tmp_path):
    from thermodefect.core.rundir import Manifest

    assert run_cli(["run", config, "--only", "structures"]).returncode == 0
    Manifest(tmp_path / "run" / "manifest.json").complete("forcefield_al")
    line = _error_line(run_cli(["run", config]))
    assert "ff_al_summary.json: missing" in line and "--only forcefield_al" in line
    assert "failed" in _status_line(tmp_path / "run", "production_md")


@pytest.mark.slow
def test_ham_train_names_corrupt_training_keys(labelled_run, tmp_path):
    from thermodefect.settings import load_settings, settings_to_toml

    run = tmp_path / "run"
    shutil.copytree(labelled_run["run"], run)
    config = tmp_path / "config.toml"
    config.write_text(labelled_run["config"].read_text().replace(str(labelled_run["run"]), str(run)))
    (run / "config.toml").write_text(settings_to_toml(load_settings(config)))  # the copy is a run of this config
    (run / "results" / "hamiltonian_training_keys.json").write_text('{"test": []}')
    before = tree_digest(run)
    result = run_cli(["ham", "train", config])
    line = _error_line(result)
    assert len(result.stderr.strip().splitlines()) == 1
    assert "hamiltonian_training_keys.json: has no 'training'" in line and "--only hamiltonian_al" in line
    assert tree_digest(run) == before


# --------------------------------------------------------------------------- the reader itself
def test_read_results_json(tmp_path):
    path = tmp_path / "x.json"
    assert read_results_json(path, "accuracy", default=None) is None
    with pytest.raises(ResultsFileError, match="x.json: missing; redo the accuracy stage"):
        read_results_json(path, "accuracy")
    path.write_text(json.dumps({"a": 1}))
    assert read_results_json(path, "accuracy", required=("a",)) == {"a": 1}
    with pytest.raises(ResultsFileError, match="has no 'b'"):
        read_results_json(path, "accuracy", required=("a", "b"))
    assert read_results_json(path, "accuracy", expect=object) == {"a": 1}
    with pytest.raises(ResultsFileError, match="expected a JSON list at the top level, got dict"):
        read_results_json(path, "accuracy", expect=list)
    with pytest.raises(ResultsFileError, match="restore it or delete it"):
        read_results_json(path, None, expect=list)
    with pytest.raises(KeyError):  # the caller's own error type
        read_results_json(tmp_path / "none.json", "report", error=KeyError)


# --------------------------------------------------------------------------- checkpoints
TORCH_REFUSAL = (
    "Weights only load failed. This file can still be loaded, to do so you have two options, \x1b[1mdo those steps only "
    "if you trust the source of the checkpoint\x1b[0m. \n\t(1) In PyTorch 2.6, we changed the default value of the "
    "`weights_only` argument in `torch.load` from `False` to `True`. Re-running `torch.load` with `weights_only` set to "
    "`False` will likely succeed, but it can result in arbitrary code execution.\n\tWeightsUnpickler error: Unsupported "
    "global: GLOBAL io.open was not an allowed global by default. Please use `torch.serialization.add_safe_globals"
    "([io.open])` to allowlist this global if you trust this class/function.\n\nCheck the documentation of torch.load."
)


@pytest.mark.parametrize("message, reason", [
    (TORCH_REFUSAL, "Unsupported global: GLOBAL io.open was not an allowed global by default"),
    ("Weights only load failed. ... WeightsUnpickler error: \n\nUnsupported operand 103\n\nCheck the documentation.",
     "Unsupported operand 103"),
    ("PytorchStreamReader failed reading zip archive: failed finding central directory. This is an internal miniz "
     "error. If you are seeing this error, ...", "PytorchStreamReader failed reading zip archive: failed finding central directory"),
    ("", "RuntimeError"),
])
def test_checkpoint_refusals_are_whole_sentences(message, reason):
    from thermodefect.core.errors import describe as _reason  # the summary every checkpoint refusal uses

    assert _reason(RuntimeError(message)) == reason


@pytest.mark.slow
def test_a_pickle_payload_checkpoint_is_refused_in_one_complete_line(good_checkpoint, tmp_path):
    import hashlib
    import io

    import torch

    from thermodefect.hamiltonian.checkpoint import load_model

    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    folder = tmp_path / "malicious"
    shutil.copytree(good_checkpoint, folder)
    buffer = io.BytesIO()
    torch.save({"weights": Payload()}, buffer)
    (folder / "model.pt").write_bytes(buffer.getvalue())
    meta = json.loads((folder / "model.json").read_text())
    meta["weights_sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(UserInputError) as err:
        load_model(folder)
    message = str(err.value)
    assert "\n" not in message and "\x1b" not in message
    assert "refused to load (Unsupported global: GLOBAL io.open was not an allowed global by default)" in message
    assert message.endswith("model.pt must be a state_dict of tensors written by thermodefect")
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("content", ["", "{ not json", "[1, 2]"])
def test_corrupt_loop_and_md_state_files_are_one_line(tmp_path, content):
    """The state files the loops and MD resume from: a diagnosis naming the file, never a traceback."""
    from thermodefect.active.hamiltonian import _State
    from thermodefect.core.errors import UserInputError
    from thermodefect.dynamics.nvt import _read_checkpoint, checkpoint_path

    state = tmp_path / "hamiltonian_al.json"
    state.write_text(content)
    with pytest.raises(UserInputError, match="hamiltonian_al.json: .*redo the hamiltonian_al stage") as err:
        _State(state)
    assert "\n" not in str(err.value)
    trajectory = tmp_path / "pristine-300K.extxyz"
    checkpoint_path(trajectory).write_text(content)
    with pytest.raises(UserInputError, match=r"state.json: .*restore it or delete it"):
        _read_checkpoint(trajectory)
