"""Reproducible seeds: every random choice of a run derives its seed from ``run.seed``."""

from __future__ import annotations

import hashlib


def derived_seed(base: int, *labels) -> int:
    """A reproducible 31-bit seed for one piece of work (``labels`` name it).

    Different labels give independent streams; ``seed + 1000 * k`` style
    offsets collide as soon as two streams use overlapping ``k``.
    """
    text = ":".join([str(base), *map(str, labels)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") & 0x7FFFFFFF
