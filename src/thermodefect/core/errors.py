"""Error types shown to users as one line with exit code 2."""


class UserInputError(ValueError):
    """Bad input from the user (config, structure, dataset, checkpoint, path).

    The message is one line that says what was wrong and where. The CLI prints
    it and exits with code 2 instead of a traceback.
    """


class RunDirectoryError(UserInputError):
    """A run directory (or any output file) cannot be used or written; one-line message."""
