"""Reading a run's ``results/*.json`` back, with a one-line diagnosis when it cannot be used.

Stages write their results atomically, so a missing, empty or malformed file
means a stage marked done that did not finish, a disk that filled, or a hand
edit. Every reader (workflow stages, the report, the CLI) goes through
:func:`read_results_json`, which names the file and the stage that rewrites it
(``thermodefect run CONFIG --only STAGE``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from thermodefect.core.errors import RunDirectoryError, UserInputError

_MISSING = object()
JSON_TYPES = {dict: "a JSON object", list: "a JSON list"}


class ResultsFileError(RunDirectoryError):
    """A results file of a run cannot be used; one-line message naming the file and the repair."""


def repair_hint(stage: str | None) -> str:
    """How to rewrite a results file: redo the stage that writes it."""
    if stage is None:
        return "restore it or delete it"
    return f"redo the {stage} stage with `thermodefect run CONFIG --only {stage}`"


def read_results_json(
    path: str | Path,
    stage: str | None,
    *,
    expect: type = dict,
    required: Sequence[str] = (),
    default: Any = _MISSING,
    error: type[UserInputError] = ResultsFileError,
) -> Any:
    """The JSON in ``path``, or one line naming the file and how to repair it.

    ``stage`` is the pipeline stage that writes the file (``None``: none
    does). ``expect``: the top-level type (``dict``, ``list`` or ``object``
    for any); ``required``: keys the object must have. A missing file returns
    ``default`` when one is given, else it is an error. Raises ``error``
    (a :class:`UserInputError`) for a missing, unreadable, empty or malformed
    file, the wrong top-level type or a missing key.
    """
    path = Path(path)
    hint = repair_hint(stage)
    if not path.is_file():
        if default is not _MISSING:
            return default
        raise error(f"{path}: missing; {hint}")
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or type(exc).__name__}); {hint}") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not a UTF-8 text file; {hint}") from None
    if not text.strip():
        raise error(f"{path}: empty (a write that did not finish?); {hint}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{path}: not valid JSON (malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}); {hint}") from None
    if expect is not object and not isinstance(data, expect):
        raise error(f"{path}: expected {JSON_TYPES.get(expect, expect.__name__)} at the top level, got {type(data).__name__}; {hint}")
    missing = [key for key in required if key not in data]
    if missing:
        raise error(f"{path}: has no {', '.join(repr(k) for k in missing)}; {hint}")
    return data
