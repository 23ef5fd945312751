"""How busy the machine's cores were while a piece of work ran (Linux ``/proc/stat``).

The fraction counts every process on the machine, so on a shared machine it
is an upper bound for the run's own use; where ``/proc/stat`` is missing
(macOS, Windows) it is ``None``.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC_STAT = Path("/proc/stat")


def _cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) clock ticks of all cores since boot, or None without ``/proc/stat``."""
    try:
        first = PROC_STAT.read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if not first or first[0] != "cpu":
        return None
    ticks = [int(x) for x in first[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    total = sum(ticks[:8])  # guest time is already counted in user time
    return total - idle, total


class CpuMeter:
    """``CpuMeter()`` at the start; ``busy_fraction()`` at the end: the share of all cores that were busy."""

    def __init__(self):
        self._start = _cpu_ticks()

    def busy_fraction(self) -> float | None:
        end = _cpu_ticks()
        if self._start is None or end is None or end[1] <= self._start[1]:
            return None
        return round((end[0] - self._start[0]) / (end[1] - self._start[1]), 3)


def core_count() -> int:
    """Cores this process may run on (its affinity set where the OS tells it, else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
