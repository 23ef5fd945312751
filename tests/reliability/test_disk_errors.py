"""Disk full and permission errors writing the run directory: one clear line, a consistent manifest."""

from __future__ import annotations

import errno
import json
import os

import pytest

from thermodefect.core.errors import UserInputError
from thermodefect.reference.labelling import label_structures
from thermodefect.settings import ReferenceSettings
from thermodefect.core.rundir import Manifest, RunDirectory

from .helpers import rattled_gaas

N_STRUCTURES = 4
ERRORS = {
    "disk-full": lambda: OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
    "permission": lambda: PermissionError(errno.EACCES, os.strerror(errno.EACCES)),
}
EXPECTED_WORDS = {"disk-full": "no space left", "permission": "permission denied"}


class _FailAfter:
    """Wraps a function; the ``n``-th call and every later one raise ``error()``."""

    def __init__(self, function, n: int, error, path_filter=lambda args: True):
        self.function, self.n, self.error, self.path_filter, self.calls = function, n, error, path_filter, 0

    def __call__(self, *args, **kwargs):
        if self.path_filter(args):
            self.calls += 1
            if self.calls >= self.n:
                raise self.error()
        return self.function(*args, **kwargs)


def _one_line(exc: BaseException) -> str:
    message = str(exc)
    assert len(message.splitlines()) == 1, message
    return message


def _label(run, frames):
    return label_structures(frames, ReferenceSettings(name="toy", options={}), run, progress=False)


@pytest.mark.parametrize("kind", list(ERRORS))
@pytest.mark.parametrize("fail_at", [1, 2, 3, 5])
def test_labelling_write_errors_are_one_line_and_resumable(tmp_path, monkeypatch, kind, fail_at):
    frames = rattled_gaas(N_STRUCTURES, seed=3)
    run = RunDirectory.create(tmp_path / "run", "config\n")
    run.manifest.start("labelling")
    monkeypatch.setattr(os, "replace", _FailAfter(os.replace, fail_at, ERRORS[kind]))
    with pytest.raises(UserInputError) as info:
        _label(run, frames)
    assert EXPECTED_WORDS[kind] in _one_line(info.value).lower()
    monkeypatch.undo()
    # Manifest and datasets are readable and consistent; a rerun finishes the job.
    assert Manifest(run.manifest_path).status("labelling") == "running"
    report = _label(run, frames)
    assert report.n_new + report.n_skipped == N_STRUCTURES and report.n_failed == 0
    from thermodefect.data.forces import ForcesDataset
    from thermodefect.data.hamiltonians import HamiltonianDataset

    keys = ForcesDataset(run.forces_dataset).keys()
    assert len(keys) == len(set(keys)) == N_STRUCTURES
    assert len(HamiltonianDataset(run.hamiltonian_dataset)) == N_STRUCTURES


@pytest.mark.parametrize("kind", list(ERRORS))
@pytest.mark.parametrize("point", ["replace", "fsync", "create"])
def test_manifest_update_errors_leave_the_old_manifest(tmp_path, monkeypatch, kind, point):
    run = RunDirectory.create(tmp_path / "run", "config\n")
    manifest = run.manifest
    manifest.start("structures")
    manifest.record_items("structures", ["a", "b"])
    before = json.loads(run.manifest_path.read_text())
    target = {"replace": (os, "replace"), "fsync": (os, "fsync"), "create": (os, "open")}[point]
    monkeypatch.setattr(*target, _FailAfter(getattr(*target), 1, ERRORS[kind]))
    with pytest.raises(UserInputError) as info:
        manifest.record_items("structures", ["c"])
    assert EXPECTED_WORDS[kind] in _one_line(info.value).lower()
    monkeypatch.undo()
    assert json.loads(run.manifest_path.read_text()) == before
    assert not [p for p in run.root.iterdir() if p.name.endswith(".tmp")], "temporary file left behind"
    manifest.record_items("structures", ["c"])
    assert Manifest(run.manifest_path).items_done("structures") == {"a", "b", "c"}


@pytest.mark.parametrize("kind", list(ERRORS))
def test_cli_reports_write_errors_in_one_line(tmp_path, monkeypatch, kind):
    from ase.io import write
    from typer.testing import CliRunner

    from thermodefect.cli.main import app

    config = tmp_path / "c.toml"
    config.write_text(f'[run]\ndirectory = "{tmp_path / "run"}"\n[reference.forces]\nname = "toy"\noptions = {{}}\n'
                      '[reference.hamiltonian]\nname = "toy"\noptions = {}\n[compute]\nworkers = 1\n')
    write(tmp_path / "s.extxyz", rattled_gaas(2, seed=4))
    monkeypatch.setattr(os, "replace", _FailAfter(os.replace, 3, ERRORS[kind]))
    result = CliRunner().invoke(app, ["label", str(config), "-s", str(tmp_path / "s.extxyz"), "--quiet"])
    monkeypatch.undo()
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and EXPECTED_WORDS[kind] in lines[0].lower()
    json.loads((tmp_path / "run" / "manifest.json").read_text())
