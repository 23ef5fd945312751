"""Objects named by import path in a config (``"package.module:Name"``): references, calculators."""

from __future__ import annotations

import importlib

from thermodefect.core.errors import UserInputError


def import_object(path: str):
    """``"package.module:Name"`` or ``"package.module.Name"`` -> the object."""
    module_name, _, attr = path.partition(":") if ":" in path else path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except ModuleNotFoundError as exc:
        raise UserInputError(f"cannot import {path!r}: module {exc.name!r} is not installed") from None
    except (AttributeError, ValueError):
        raise UserInputError(f"cannot import {path!r}: no such object") from None
