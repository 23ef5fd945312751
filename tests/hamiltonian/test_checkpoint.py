"""Save -> load is exact; unexpected checkpoint content is refused without running it."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle

import numpy as np
import pytest
import torch

from thermodefect.core.errors import UserInputError
from thermodefect.hamiltonian import load_model, predict, save_model

from .conftest import SPD, gaas_cell, random_model

BASIS = {31: SPD, 33: "2x0e+1x1o"}


@pytest.fixture
def checkpoint(tmp_path):
    model = random_model(BASIS, 3.5, seed=2)
    save_model(model, tmp_path / "ckpt")
    return model, tmp_path / "ckpt"


def _rewrite_weights(directory, state_or_bytes):
    data = state_or_bytes
    if not isinstance(data, bytes):
        buffer = io.BytesIO()
        torch.save(state_or_bytes, buffer)
        data = buffer.getvalue()
    (directory / "model.pt").write_bytes(data)
    meta = json.loads((directory / "model.json").read_text())
    meta["weights_sha256"] = hashlib.sha256(data).hexdigest()
    (directory / "model.json").write_text(json.dumps(meta))


def test_save_load_gives_identical_predictions(checkpoint):
    model, directory = checkpoint
    loaded = load_model(directory)
    atoms = [gaas_cell(seed=3), gaas_cell(seed=4)]
    for a, b in zip(predict(model, atoms), predict(loaded, atoms)):
        np.testing.assert_array_equal(a.blocks, b.blocks)
    assert loaded.config == model.config


def test_extra_tensor_refused(checkpoint):
    _, directory = checkpoint
    state = torch.load(directory / "model.pt", weights_only=True)
    state["surprise"] = torch.zeros(3)
    _rewrite_weights(directory, state)
    with pytest.raises(UserInputError, match="tensors do not match"):
        load_model(directory)


def test_missing_tensor_refused(checkpoint):
    _, directory = checkpoint
    state = torch.load(directory / "model.pt", weights_only=True)
    state.pop(sorted(state)[0])
    _rewrite_weights(directory, state)
    with pytest.raises(UserInputError, match="tensors do not match"):
        load_model(directory)


def test_checkpoint_from_before_the_potential_offset_loads_with_zero(checkpoint):
    model, directory = checkpoint
    state = torch.load(directory / "model.pt", weights_only=True)
    del state["potential_offset"]
    _rewrite_weights(directory, state)
    loaded = load_model(directory)
    assert float(loaded.potential_offset) == 0.0
    atoms = [gaas_cell(seed=3)]
    np.testing.assert_array_equal(predict(model, atoms)[0].blocks, predict(loaded, atoms)[0].blocks)


def test_wrong_shape_refused(checkpoint):
    _, directory = checkpoint
    state = torch.load(directory / "model.pt", weights_only=True)
    state["onsite_baseline"] = torch.zeros(5, 5, 5, dtype=torch.float64)
    _rewrite_weights(directory, state)
    with pytest.raises(UserInputError, match="onsite_baseline"):
        load_model(directory)


def test_tampered_weights_refused_by_checksum(checkpoint):
    _, directory = checkpoint
    data = bytearray((directory / "model.pt").read_bytes())
    data[-20] ^= 0xFF
    (directory / "model.pt").write_bytes(bytes(data))
    with pytest.raises(UserInputError, match="checksum"):
        load_model(directory)


@pytest.mark.parametrize("edit", [
    lambda m: m["config"].update(irreps_node="8x0e+2x1o"),  # architecture no longer matches the tensors
    lambda m: m["config"].update(basis={"31": "1x0e"}),
    lambda m: m["config"].update(unexpected=1),
    lambda m: m["config"].update(num_layers="2"),
    lambda m: m.update(format="something-else"),
])
def test_tampered_json_refused(checkpoint, edit):
    _, directory = checkpoint
    meta = json.loads((directory / "model.json").read_text())
    edit(meta)
    (directory / "model.json").write_text(json.dumps(meta))
    with pytest.raises(UserInputError):
        load_model(directory)


def test_invalid_json_refused(checkpoint):
    _, directory = checkpoint
    (directory / "model.json").write_text("{not json")
    with pytest.raises(UserInputError, match="not valid JSON"):
        load_model(directory)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_payload_is_not_executed(checkpoint, tmp_path):
    _, directory = checkpoint
    marker = tmp_path / "executed"
    _rewrite_weights(directory, pickle.dumps({"weights": _Payload(marker)}))
    with pytest.raises(UserInputError, match="refused"):
        load_model(directory)
    assert not marker.exists()


def test_missing_files_refused(tmp_path):
    with pytest.raises(UserInputError, match="not a Hamiltonian model checkpoint"):
        load_model(tmp_path)
