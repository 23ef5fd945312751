"""Error types shown to users as one line with exit code 2."""

import re


class UserInputError(ValueError):
    """Bad input from the user (config, structure, dataset, checkpoint, path).

    The message is one line that says what was wrong and where. The CLI prints
    it and exits with code 2 instead of a traceback.
    """


class RunDirectoryError(UserInputError):
    """A run directory (or any output file) cannot be used or written; one-line message."""


def describe(exc: BaseException) -> str:
    """The first whole sentence of an exception's message, on one line, without terminal colour codes.

    torch's refusals are paragraphs ("Weights only load failed. ... WeightsUnpickler error:
    Unsupported global: ..."); the sentence that says what was found is kept whole. An
    exception without a message gives its type's name.
    """
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    paragraph = re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0]
    text = " ".join(paragraph.split())
    if not text:
        return type(exc).__name__
    sentence = re.split(r"(?<=[.!?])\s+(?=[A-Z])", text, maxsplit=1)[0]
    return sentence.rstrip(".")
