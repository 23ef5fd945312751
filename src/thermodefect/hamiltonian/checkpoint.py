"""Checkpoints: ``model.pt`` (a state_dict of tensors) + ``model.json`` (hyperparameters).

Loading never unpickles arbitrary objects: the JSON is parsed strictly, the
weights file must match the SHA-256 recorded in the JSON, ``torch.load`` runs
with ``weights_only=True``, and the tensors must have exactly the names and
shapes of a model rebuilt from the JSON. Anything else is a one-line
:class:`UserInputError`.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from pathlib import Path

from thermodefect.core.errors import UserInputError, describe
from thermodefect.hamiltonian.config import ModelConfig
from thermodefect.core.files import atomic_write_bytes, atomic_write_json

WEIGHTS_FILE = "model.pt"
CONFIG_FILE = "model.json"
BASELINE_FILE = "two_center.json"  # optional two-center baseline, plain JSON numbers
# Buffers a checkpoint written before they existed may lack (their default is right for it).
OPTIONAL_BUFFERS = ("potential_offset",)
FORMAT = "thermodefect-hamiltonian"
VERSION = 2  # 2: summed pair input of the edge update


def build_from_config(config: ModelConfig):
    from thermodefect.hamiltonian.model import HamiltonianModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e3nn's TorchScript codegen warns about annotations
        return HamiltonianModel(config)


def save_model(model, directory: str | Path) -> Path:
    """Write ``model.pt`` and ``model.json`` into ``directory``; returns it."""
    import torch

    directory = Path(directory)
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    data = buffer.getvalue()
    # model.json last: its presence marks a complete checkpoint (baseline and weights already on disk).
    baseline_path = directory / BASELINE_FILE
    if getattr(model, "two_center", None) is not None:
        model.two_center.save(baseline_path)
    elif baseline_path.exists():
        baseline_path.unlink()
    atomic_write_bytes(directory / WEIGHTS_FILE, data)
    atomic_write_json(directory / CONFIG_FILE, {
        "format": FORMAT,
        "version": VERSION,
        "config": model.config.to_json(),
        "weights_sha256": hashlib.sha256(data).hexdigest(),
    })
    return directory


def load_model(directory: str | Path, device: str = "cpu"):
    """Rebuild a :class:`HamiltonianModel` from a checkpoint directory, or refuse it."""
    import pickle

    import torch

    directory = Path(directory)
    config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    if not config_path.is_file() or not weights_path.is_file():
        raise UserInputError(f"{directory}: not a Hamiltonian model checkpoint (needs {CONFIG_FILE} and {WEIGHTS_FILE})")
    try:
        meta = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserInputError(f"{config_path}: not valid JSON") from None
    if not isinstance(meta, dict) or set(meta) != {"format", "version", "config", "weights_sha256"}:
        raise UserInputError(f"{config_path}: unexpected checkpoint metadata keys")
    if meta["format"] != FORMAT or meta["version"] != VERSION:
        raise UserInputError(f"{config_path}: not a {FORMAT} v{VERSION} checkpoint")
    config = ModelConfig.from_json(meta["config"], str(config_path))
    data = weights_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != meta["weights_sha256"]:
        raise UserInputError(f"{weights_path}: weights do not match the checksum in {CONFIG_FILE}; the checkpoint was modified")
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise UserInputError(
            f"{weights_path}: refused to load ({describe(exc)}); {WEIGHTS_FILE} must be a state_dict of tensors written by thermodefect"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise UserInputError(f"{weights_path}: not a state_dict of tensors")
    try:
        model = build_from_config(config)
    except ValueError as exc:
        raise UserInputError(f"{config_path}: cannot build the model: {describe(exc)}") from None
    expected = model.state_dict()
    for name in OPTIONAL_BUFFERS:  # added in later versions; older checkpoints keep the default
        if name in expected and name not in state:
            state[name] = expected[name]
    if set(state) != set(expected):
        odd = sorted(set(state) ^ set(expected))
        raise UserInputError(f"{weights_path}: tensors do not match the model ({len(odd)} unexpected or missing, e.g. {odd[0]!r})")
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape or tensor.dtype != expected[name].dtype:
            raise UserInputError(
                f"{weights_path}: tensor {name!r} is {tuple(tensor.shape)} {tensor.dtype}, "
                f"the model needs {tuple(expected[name].shape)} {expected[name].dtype}"
            )
    model.load_state_dict(state, strict=True)
    if (directory / BASELINE_FILE).exists():
        from thermodefect.hamiltonian.two_center import TwoCenterModel

        model.two_center = TwoCenterModel.load(directory / BASELINE_FILE)
    return model.to(device).eval()


def load_overlap_model(path: str | Path, device: str = "cpu"):
    """An overlap model from a two-center JSON file or an equivariant model's checkpoint directory."""
    from thermodefect.hamiltonian.two_center import TwoCenterModel

    path = Path(path)
    if path.is_file():
        return TwoCenterModel.load(path)
    return load_model(path, device)
