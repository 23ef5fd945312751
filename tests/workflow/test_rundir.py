"""Run directory and manifest: atomic writes, resume bookkeeping, clear errors."""

import json
import os

import pytest

from thermodefect.core.rundir import Manifest, RunDirectory
from thermodefect.core.errors import RunDirectoryError
from thermodefect.core.files import atomic_write_text


def test_create_layout_and_manifest(tmp_path):
    run = RunDirectory.create(tmp_path / "run", "a = 1\n")
    for sub in ("data", "models/ff", "models/ham", "md", "results", "report", "structures"):
        assert (run.root / sub).is_dir()
    assert run.config_path.read_text() == "a = 1\n"
    data = json.loads(run.manifest_path.read_text())
    assert data["stages"] == {}
    assert run.model_round("ham", 2) == run.root / "models" / "ham" / "round-2"


def test_reopen_same_config_keeps_state_other_config_refused(tmp_path):
    run = RunDirectory.create(tmp_path / "run", "a = 1\n")
    run.manifest.complete("labels", n=3)
    again = RunDirectory.create(tmp_path / "run", "a = 1\n")
    assert again.manifest.is_done("labels")
    assert again.manifest.info("labels") == {"n": 3}
    with pytest.raises(RunDirectoryError, match="different config"):
        RunDirectory.create(tmp_path / "run", "a = 2\n")


def test_stage_lifecycle_and_items(tmp_path):
    m = Manifest(tmp_path / "manifest.json")
    assert m.status("md") == "pending"
    m.start("md")
    m.record_items("md", ["As_Ga/100", "As_Ga/500"])
    m.record_items("md", ["As_Ga/100"])
    reread = Manifest(tmp_path / "manifest.json")
    assert reread.status("md") == "running"
    assert reread.items_done("md") == {"As_Ga/100", "As_Ga/500"}
    reread.complete("md", frames=40)
    assert Manifest(tmp_path / "manifest.json").is_done("md")
    reread.fail("ham", "diverged")
    assert Manifest(tmp_path / "manifest.json").info("ham")["error"] == "diverged"
    reread.reset("md")
    assert Manifest(tmp_path / "manifest.json").status("md") == "pending"


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "x.json"
    atomic_write_text(target, "old")

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(RunDirectoryError, match="no space left"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temp file left behind


def test_corrupt_manifest_is_a_clear_error(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(RunDirectoryError, match="not valid JSON"):
        Manifest(tmp_path / "manifest.json")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_permission_error_is_clear(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(RunDirectoryError, match="permission denied"):
            RunDirectory.create(ro / "run", "a = 1\n")
    finally:
        ro.chmod(0o700)


def test_permission_error_message_even_as_root(tmp_path, monkeypatch):
    from pathlib import Path

    def denied(self, *a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", denied)
    with pytest.raises(RunDirectoryError, match="permission denied"):
        RunDirectory.create(tmp_path / "run", "a = 1\n")


@pytest.mark.parametrize("stages, fragment", [
    ({"md": "done"}, "not a table"),
    ({"md": {"status": "finished"}}, "status 'finished'"),
    ({"md": {"status": "done", "items": "As_Ga/100"}}, "'items' must be a list"),
    ({"md": {"status": "done", "info": [1, 2]}}, "'info' must be a table"),
])
def test_manifest_with_wrong_types_is_one_line(tmp_path, stages, fragment):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"version": 1, "stages": stages}))
    with pytest.raises(RunDirectoryError, match=fragment) as err:
        Manifest(path).status("md")
    assert "\n" not in str(err.value) and "restore the manifest" in str(err.value)


def test_model_files_are_recorded_verified_and_confined(tmp_path):
    run = RunDirectory.create(tmp_path / "run", "a = 1\n")
    model = run.model_round("ham", 0) / "member-0" / "model.pt"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"weights")
    run.manifest.record_folder(run.model_round("ham", 0))
    assert run.manifest.verified_folder(run.model_round("ham", 0)) == run.model_round("ham", 0).resolve()
    assert run.manifest.holds(model) and not run.manifest.holds(run.root / "other.pt")
    (model.parent.parent / "member-7").mkdir()
    (model.parent.parent / "member-7" / "model.pt").write_bytes(b"planted")
    with pytest.raises(RunDirectoryError, match="member-7/model.pt: not a file this run wrote"):
        run.manifest.verified_folder(run.model_round("ham", 0))
    model.write_bytes(b"changed")
    with pytest.raises(RunDirectoryError, match="changed since this run wrote it"):
        run.manifest.verified(model)
    for outside in (run.root / "../elsewhere.pt", tmp_path / "elsewhere.pt", run.root / "models/../../elsewhere.pt"):
        with pytest.raises(RunDirectoryError, match="outside the run directory"):
            run.manifest.verified(outside)
