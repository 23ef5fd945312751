"""Checks of a config that need the physics floors, made before anything is created.

:mod:`thermodefect.settings` validates the config's own values but may not
import the reference registry or torch. This module resolves what the config
names, without running a calculation:

* each configured reference: its registry name -> implementation, built with
  its options (unknown names, unknown options and option values of the wrong
  type are refused), and whether it provides what the pipeline asks of it
  (forces from ``reference.forces``, a Hamiltonian from ``reference.hamiltonian``);
* the torch devices of the force field and the Hamiltonian model: ``cuda`` /
  ``cuda:N`` / ``mps`` must exist on this machine (torch is imported only then).

``thermodefect validate``, ``label`` and every command that opens a run
directory (:func:`thermodefect.workflow.pipeline.open_run`) call
:func:`preflight`; each problem is one :class:`PreflightError` line naming the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from thermodefect.core.errors import UserInputError
from thermodefect.settings import ReferenceSettings, Settings

# What the pipeline asks of each configured reference: role -> property it must provide.
ROLE_PROVIDES = {"forces": "forces", "hamiltonian": "hamiltonian"}


class PreflightError(UserInputError):
    """A config whose references or devices cannot be used here; one line naming the key."""


@dataclass(frozen=True)
class Preflight:
    """What a config resolves to on this machine."""

    references: dict[str, str]  # role ("forces", "hamiltonian") -> "name (module.Class)"
    devices: dict[str, str]  # config key ("forcefield.device", ...) -> torch device name


def preflight(settings: Settings, needs: Iterable[str] = ("forces", "hamiltonian")) -> Preflight:
    """Resolve both references and the compute devices; raise :class:`PreflightError` on the first problem.

    ``needs``: the roles whose reference must provide its property (``label
    --what forces`` needs no Hamiltonian); both references are resolved either way.
    """
    needs = set(needs)
    references = {
        role: _resolve_reference(f"reference.{role}", getattr(settings.reference, role), ROLE_PROVIDES[role] if role in needs else None)
        for role in ROLE_PROVIDES
    }
    devices = {"forcefield.device": settings.forcefield.device, "hamiltonian.device": settings.hamiltonian.device}
    for key, device in devices.items():
        _check_device(key, device)
    return Preflight(references=references, devices=devices)


def _resolve_reference(key: str, reference: ReferenceSettings, must_provide: str | None) -> str:
    from thermodefect.reference.registry import get_reference

    try:
        built = get_reference(reference)
    except UserInputError as exc:
        raise PreflightError(f"{key}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    except (TypeError, ValueError) as exc:  # an implementation that checks its options with plain errors
        raise PreflightError(f"{key}: reference {reference.name!r} refused its options ({type(exc).__name__}: {exc})") from None
    if must_provide is not None and must_provide not in built.provides:
        raise PreflightError(
            f"{key}.name = {reference.name!r}: provides no {must_provide} (it provides {', '.join(sorted(built.provides))}); "
            f"choose a reference that does"
        )
    implementation = type(getattr(built, "calculator", built))
    return f"{reference.name} ({implementation.__module__}.{implementation.__qualname__})"


def _check_device(key: str, device: str) -> None:
    """``cuda``/``cuda:N``/``mps`` must exist (the name itself was checked by the settings)."""
    if device == "cpu":
        return  # no torch import: validate stays fast
    import torch

    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise PreflightError(f'{key} = {device!r}: CUDA is not available on this machine (torch.cuda.is_available() is False); use "cpu", or check the config on the GPU node that will run it')
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise PreflightError(f"{key} = {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s), numbered from 0")
    elif device == "mps" and not torch.backends.mps.is_available():
        raise PreflightError(f'{key} = {device!r}: Apple MPS is not available on this machine; use "cpu"')
