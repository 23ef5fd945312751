"""The one atomic file writer: readers see the old file or the new one, never half of one.

Every file the package writes (manifest, JSON results, datasets, models) goes
through :func:`replace_atomically`: write a temporary file next to the
target, ``fsync`` it, rename it onto the target. Disk and permission errors
become one-line :class:`~thermodefect.core.errors.RunDirectoryError`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
from pathlib import Path
from typing import Any, Callable

from thermodefect.core.errors import RunDirectoryError


def explain_os_error(exc: OSError, path: Path) -> str:
    """One line saying what went wrong writing ``path`` and what the user can do."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{path}: no space left on device; free disk space and rerun (finished work is kept)"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{path}: permission denied writing the run directory; check its permissions or choose another run.directory"
    return f"{path}: cannot write ({exc.strerror or exc})"


def _temporary_path(target: Path) -> Path:
    return target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"


def replace_atomically(target: str | Path, write: Callable[[Path], None]) -> None:
    """Run ``write(tmp_path)``, fsync the result and rename it onto ``target``.

    The temporary file is created (empty, with the process's usual file mode)
    before ``write`` is called, so writers that open the path themselves (h5py,
    ASE) and writers of bytes share one path to disk. An ``OSError`` with an
    errno (disk full, permissions, I/O) becomes a one-line
    :class:`RunDirectoryError`; the target is then left as it was.
    """
    target = Path(target)
    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temporary_path(target)
        # O_EXCL with mode 0o666: the kernel applies the umask, so the file
        # gets the mode any other new file would (mkstemp would give 0600).
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        if exc.errno is None:
            raise
        raise RunDirectoryError(explain_os_error(exc, target)) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`replace_atomically`)."""
    replace_atomically(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def json_default(obj: Any) -> Any:
    """JSON for numpy scalars and arrays and paths (``json.dumps(default=...)``)."""
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def to_json(obj: Any, indent: int | None = None) -> str:
    return json.dumps(obj, indent=indent, default=json_default)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, to_json(obj, indent=2) + "\n")


def append_line(path: str | Path, line: str) -> None:
    """Append one line to a log-like file (``failures.jsonl``); errors as in :func:`replace_atomically`.

    Appending, not replacing: a line is small and written in one ``write``
    call, so a killed process leaves whole lines (readers skip a torn last one).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as fh:
            fh.write(line.rstrip("\n") + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise RunDirectoryError(explain_os_error(exc, path)) from None
