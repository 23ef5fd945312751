"""Small shims for third-party packages, kept in one place."""

from __future__ import annotations

import os


def configure_cpu_threads() -> None:
    """Make idle OpenMP threads sleep instead of spin.

    With two torch threads on a 2-core machine whose other core is busy,
    spinning workers slowed MD tenfold; PASSIVE removes that. Only sets the
    variable when the user has not chosen a policy.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def import_e3nn_o3():
    """Import ``e3nn.o3`` on any torch version.

    e3nn 0.4.4 (the version mace-torch pins) loads its constants with a bare
    ``torch.load``; torch >= 2.6 defaults to ``weights_only=True`` and refuses
    the ``slice`` objects in that file. Allow-listing ``slice`` is narrower
    than disabling safe loading globally.
    """
    import torch

    add = getattr(torch.serialization, "add_safe_globals", None)
    if add is not None:
        add([slice])
    from e3nn import o3

    return o3
