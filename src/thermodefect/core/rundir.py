"""Run directory and manifest.

Layout (see DESIGN.md)::

    run/
      config.toml        copy of the validated config
      manifest.json      stage states, written atomically (tmp + rename)
      data/              forces.extxyz, hamiltonians.h5, failures.jsonl
      models/ff/round-K/ models/ham/round-K/
      md/ results/ report/ structures/

Progress is explicit: a stage is ``pending``, ``running``, ``done`` or
``failed``; stages record finished work items (by key) so a killed stage
resumes without redoing them. Nothing is inferred from file times.

Model files are recorded too: ``manifest["files"]`` maps each model file the
package wrote (path relative to the run directory) to its SHA-256, and
:meth:`Manifest.verified` is the only way back from a path read out of a run
directory to a file that gets loaded. It refuses paths that leave the run
directory, files the manifest does not name, and files that changed.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Iterable

from thermodefect.core.errors import RunDirectoryError
from thermodefect.core.files import atomic_write_json, atomic_write_text, explain_os_error, json_default

SUBDIRS = ("data", "models/ff", "models/ham", "md", "results", "report/figures", "structures")
STATUSES = ("pending", "running", "done", "failed")
MODEL_SUFFIXES = (".model", ".pt", ".json")  # files of a model folder whose SHA-256 the manifest keeps


class Manifest:
    """Stage states of one run, persisted to ``manifest.json`` on every change."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._data: dict[str, Any] = {"version": 1, "stages": {}}
        self._load()

    def _load(self) -> None:
        """Re-read the file: several objects (and stages) may update the same manifest."""
        if not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise RunDirectoryError(f"{self.path}: manifest is not valid JSON; restore it or start a new run directory") from None
        if not isinstance(data, dict) or not isinstance(data.get("stages"), dict):
            raise RunDirectoryError(f"{self.path}: manifest has no 'stages' table")
        _check_manifest(self.path, data)
        self._data = data

    # -- reading ---------------------------------------------------------
    def _stage(self, name: str) -> dict[str, Any]:
        self._load()
        return self._data["stages"].get(name, {"status": "pending", "items": [], "info": {}})

    def status(self, name: str) -> str:
        return self._stage(name)["status"]

    def is_done(self, name: str) -> bool:
        return self.status(name) == "done"

    def info(self, name: str) -> dict[str, Any]:
        return dict(self._stage(name).get("info", {}))

    def items_done(self, name: str) -> set[str]:
        return set(self._stage(name).get("items", []))

    def stages(self) -> dict[str, dict[str, Any]]:
        self._load()
        return {k: dict(v) for k, v in self._data["stages"].items()}

    # -- writing ---------------------------------------------------------
    def _write(self) -> None:
        atomic_write_json(self.path, self._data)

    def _mutable(self, name: str) -> dict[str, Any]:
        self._load()
        stage = self._data["stages"].setdefault(name, {"status": "pending", "items": [], "info": {}})
        stage.setdefault("items", [])
        stage.setdefault("info", {})
        return stage

    def start(self, name: str) -> None:
        """Mark a stage running (keeps items already done, for resume)."""
        stage = self._mutable(name)
        stage["status"] = "running"
        stage.setdefault("started", time.strftime("%Y-%m-%dT%H:%M:%S"))
        self._write()

    def record_items(self, name: str, keys: Iterable[str]) -> None:
        """Mark work items of a stage finished; idempotent."""
        stage = self._mutable(name)
        have = set(stage["items"])
        stage["items"].extend(k for k in keys if k not in have and not have.add(k))
        self._write()

    def update(self, name: str, **info: Any) -> None:
        """Merge ``info`` into the stage's info (numbers for status/report)."""
        self._mutable(name)["info"].update(json.loads(json.dumps(info, default=json_default)))
        self._write()

    def complete(self, name: str, **info: Any) -> None:
        stage = self._mutable(name)
        stage["info"].update(json.loads(json.dumps(info, default=json_default)))
        stage["status"] = "done"
        stage["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        self._write()

    def fail(self, name: str, reason: str) -> None:
        stage = self._mutable(name)
        stage["status"] = "failed"
        stage["info"]["error"] = reason
        self._write()

    # -- model files -------------------------------------------------------
    @property
    def root(self) -> Path:
        return self.path.parent

    def inside(self, path: str | Path) -> Path:
        """``path``, resolved, if it lies inside the run directory (join names stored in run files to the root first)."""
        resolved, root = Path(path).resolve(), self.root.resolve()
        if resolved != root and root not in resolved.parents:
            raise RunDirectoryError(f"{path}: outside the run directory {self.root}; refused")
        return resolved

    def _relative(self, path: str | Path) -> str:
        return self.inside(path).relative_to(self.root.resolve()).as_posix()

    def record_files(self, paths: Iterable[str | Path]) -> None:
        """Record the SHA-256 of files this package just wrote (they must lie in the run directory)."""
        self._load()
        table = self._data.setdefault("files", {})
        for path in paths:
            table[self._relative(path)] = {"sha256": sha256_file(self.inside(path))}
        self._write()

    def recorded_files(self, under: str | Path | None = None) -> list[Path]:
        """Files the manifest names, optionally only those under the folder ``under`` of the run."""
        self._load()
        names = sorted(self._data.get("files", {}))
        if under is not None:
            prefix = self._relative(under) + "/"
            names = [n for n in names if n.startswith(prefix)]
        return [self.root / n for n in names]

    def holds(self, path: str | Path) -> bool:
        """Whether the manifest names ``path`` (then its bytes are checked: a changed file is refused)."""
        self._load()
        if self._relative(path) not in self._data.get("files", {}):
            return False
        self.verified(path)
        return True

    def verified(self, path: str | Path) -> Path:
        """``path`` if the manifest names it and its bytes are the ones recorded; else one-line refusal."""
        rel = self._relative(path)
        self._load()
        entry = self._data.get("files", {}).get(rel)
        if entry is None:
            raise RunDirectoryError(f"{self.root / rel}: not a file this run wrote (the manifest does not name it); refused")
        if not (self.root / rel).is_file():
            raise RunDirectoryError(f"{self.root / rel}: missing; redo its stage with `thermodefect run CONFIG --only STAGE`")
        if sha256_file(self.root / rel) != entry.get("sha256"):
            raise RunDirectoryError(
                f"{self.root / rel}: changed since this run wrote it (SHA-256 differs from the manifest); refused. "
                "Restore the file or redo its stage with `thermodefect run CONFIG --only STAGE`"
            )
        return self.root / rel

    def record_folder(self, folder: str | Path, suffixes: tuple[str, ...] = MODEL_SUFFIXES) -> None:
        """Record every model file (by suffix) under ``folder``: what a training step just wrote."""
        folder = self.inside(folder)
        self.record_files(p for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix in suffixes)

    def verified_folder(self, folder: str | Path, suffixes: tuple[str, ...] = MODEL_SUFFIXES) -> Path:
        """``folder`` if every model file under it is one the manifest names, unchanged (no extra members)."""
        folder = self.inside(folder)
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix in suffixes:
                self.verified(path)
        return folder

    def reset(self, name: str) -> None:
        """Forget a stage (to recompute it)."""
        self._load()
        self._data["stages"].pop(name, None)
        self._write()


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_manifest(path: Path, data: dict) -> None:
    """Types of every field the package reads, so a hand-edited manifest fails here, in one line."""
    def bad(what: str) -> RunDirectoryError:
        return RunDirectoryError(f"{path}: {what}; restore the manifest or start a new run directory")

    for name, stage in data["stages"].items():
        if not isinstance(stage, dict):
            raise bad(f"stage {name!r} is not a table")
        if stage.get("status", "pending") not in STATUSES:
            raise bad(f"stage {name!r} has status {stage.get('status')!r}, not one of {', '.join(STATUSES)}")
        if not isinstance(stage.get("items", []), list) or not all(isinstance(k, str) for k in stage.get("items", [])):
            raise bad(f"stage {name!r}: 'items' must be a list of strings")
        if not isinstance(stage.get("info", {}), dict):
            raise bad(f"stage {name!r}: 'info' must be a table")
    files = data.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(v, dict) and isinstance(v.get("sha256"), str) for v in files.values()):
        raise bad("'files' must map paths to {\"sha256\": ...} tables")


class RunDirectory:
    """A run directory: paths of every stage's outputs plus the manifest."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    # Paths used across stages, named once here.
    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def forces_dataset(self) -> Path:
        return self.data / "forces.extxyz"

    @property
    def hamiltonian_dataset(self) -> Path:
        return self.data / "hamiltonians.h5"

    @property
    def failures(self) -> Path:
        return self.data / "failures.jsonl"

    @property
    def structures(self) -> Path:
        return self.root / "structures"

    @property
    def md(self) -> Path:
        return self.root / "md"

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def figures(self) -> Path:
        """``report/figures/``: every PNG the report draws."""
        return self.report / "figures"

    @property
    def report_index(self) -> Path:
        return self.report / "index.html"

    # results/: machine-readable outputs of the stages (JSON, CSV)
    def result(self, name: str) -> Path:
        """``results/<name>``: one results file (``thermal.json``, ``accuracy.json`` ...)."""
        return self.results / name

    @property
    def training_keys(self) -> Path:
        """Hamiltonian training/test dataset keys and the final AL round."""
        return self.results / "hamiltonian_training_keys.json"

    @property
    def hamiltonian_al_state(self) -> Path:
        return self.results / "hamiltonian_al.json"

    @property
    def forcefield_al_summary(self) -> Path:
        return self.results / "ff_al_summary.json"

    @property
    def forcefield_test_set(self) -> Path:
        return self.results / "ff_test_set.extxyz"

    @property
    def snapshot_predictions(self) -> Path:
        """``results/snapshots/``: predicted gap and levels, one JSON per (cell, defect, T)."""
        return self.results / "snapshots"

    @property
    def figure_data(self) -> Path:
        """``results/figures/``: the data behind the report's figures that needed models to compute."""
        return self.results / "figures"

    @property
    def parsl_logs(self) -> Path:
        """``parsl/``: Parsl's own run directory (its logs), kept out of the run's outputs."""
        return self.root / "parsl"

    # models/
    @property
    def hamiltonian_models(self) -> Path:
        return self.root / "models" / "ham"

    @property
    def forcefield_models(self) -> Path:
        return self.root / "models" / "ff"

    @property
    def overlap_models(self) -> Path:
        """``models/ham/overlap/``: the overlap model (two-center JSON or a network member)."""
        return self.hamiltonian_models / "overlap"

    @property
    def two_center_overlap(self) -> Path:
        return self.overlap_models / "two_center_overlap.json"

    def model_round(self, model: str, round_index: int) -> Path:
        """``models/{ff,ham}/round-K``."""
        if model not in ("ff", "ham"):
            raise ValueError(f"model kind must be 'ff' or 'ham', got {model!r}")
        return self.root / "models" / model / f"round-{round_index}"

    @property
    def manifest(self) -> Manifest:
        return Manifest(self.manifest_path)

    def exists(self) -> bool:
        return self.manifest_path.exists()

    @classmethod
    def create(cls, root: str | Path, config_text: str) -> "RunDirectory":
        """Create (or reopen) a run directory for a config.

        Reopening with a different config is refused: finished stages would
        otherwise mix settings silently.
        """
        run = cls(root)
        _check_new_root(run)
        digest = hashlib.sha256(config_text.encode()).hexdigest()
        if run.config_path.exists():
            if hashlib.sha256(run.config_path.read_bytes()).hexdigest() != digest:
                raise RunDirectoryError(
                    f"{run.root}: holds a run with a different config; use a new run.directory or restore {run.config_path}"
                )
        try:
            for sub in SUBDIRS:
                (run.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunDirectoryError(explain_os_error(exc, run.root)) from None
        if not run.config_path.exists():
            atomic_write_text(run.config_path, config_text)
        if not run.manifest_path.exists():
            atomic_write_json(run.manifest_path, {"version": 1, "config_sha256": digest, "stages": {}})
        return run


def _check_new_root(run: RunDirectory) -> None:
    """Refuse roots a run must not write into: empty, ``/``, or someone else's non-empty folder."""
    resolved = run.root.expanduser().resolve()
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve():
        raise RunDirectoryError(f"run.directory = {str(run.root)!r} resolves to {resolved}; choose a folder of its own")
    if resolved.is_file():
        raise RunDirectoryError(f"run.directory {run.root} is a file; choose a folder")
    if resolved.is_dir() and not run.manifest_path.exists() and any(resolved.iterdir()):
        raise RunDirectoryError(
            f"run.directory {run.root} is a non-empty folder without a thermodefect manifest; "
            "choose a new or empty folder (an existing run is recognised by its manifest.json)"
        )
