"""Checkpoints the user passes are never unpickled as code."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
from pathlib import Path

import pytest

from thermodefect.core.errors import UserInputError

SRC = Path(__file__).parents[2] / "src" / "thermodefect"


class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _with_weights(checkpoint: Path, target: Path, data: bytes) -> Path:
    shutil.copytree(checkpoint, target)
    (target / "model.pt").write_bytes(data)
    meta = json.loads((target / "model.json").read_text())
    meta["weights_sha256"] = hashlib.sha256(data).hexdigest()  # an attacker can update the checksum too
    (target / "model.json").write_text(json.dumps(meta))
    return target


@pytest.mark.parametrize("wrap", ["bare", "in_state_dict"])
def test_pickle_payload_in_checkpoint_is_refused_without_running(good_checkpoint, tmp_path, wrap):
    import torch

    from thermodefect.hamiltonian.checkpoint import load_model

    marker = tmp_path / "payload-ran"
    payload = _Payload(marker)
    buffer = io.BytesIO()
    torch.save(payload if wrap == "bare" else {"layer.weight": payload}, buffer)
    hostile = _with_weights(good_checkpoint, tmp_path / "hostile", buffer.getvalue())
    with pytest.raises(UserInputError, match="refused to load"):
        load_model(hostile)
    assert not marker.exists()
    # The payload really is live: plain pickle loading would have run it.
    torch.load(hostile / "model.pt", weights_only=False)
    assert marker.exists()


def test_good_checkpoint_still_loads(good_checkpoint):
    from thermodefect.hamiltonian.checkpoint import load_model

    assert load_model(good_checkpoint) is not None


def test_every_torch_load_in_the_package_is_weights_only():
    calls = []
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        for match in re.finditer(r"torch\.load\(", text):
            end = text.find(")\n", match.end())
            calls.append((path.relative_to(SRC), text[match.start(): end + 1]))
    code_calls = [(p, c) for p, c in calls if not c.startswith("torch.load``")]
    assert code_calls, "expected at least the Hamiltonian checkpoint loader"
    for path, call in code_calls:
        assert "weights_only=True" in call, f"{path}: {call}"


def test_mace_models_come_from_the_run_directory_or_an_explicit_path():
    """mace-torch .model files are pickled modules: only ``final_models(run)`` or ``--model`` paths load them."""
    loaders = [p.relative_to(SRC) for p in SRC.rglob("*.py") if "MACECalculator(" in p.read_text()]
    assert [str(p) for p in loaders] == ["forcefield/ensemble.py"]
