"""Command-line interface: ``thermodefect <command>``.

Each stage's commands live in their own module under ``thermodefect.cli`` and
register themselves on the app through a ``register(app)`` function listed in
``STAGE_COMMANDS``. Heavy imports (torch, mace, tblite) happen inside command
bodies so ``thermodefect --help`` stays fast.
"""

from __future__ import annotations

import functools
import importlib
import sys
from pathlib import Path
from typing import Callable

import typer

from thermodefect.core.errors import UserInputError

app = typer.Typer(
    name="thermodefect",
    help="Temperature-dependent band gaps and defect levels from MACE MD and an equivariant Hamiltonian model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Modules with a ``register(app)`` function adding a stage's commands.
STAGE_COMMANDS: list[str] = [
    "thermodefect.cli.setup",
    "thermodefect.cli.label",
    "thermodefect.cli.report",
    "thermodefect.cli.run",
    "thermodefect.cli.ff",
    "thermodefect.cli.electronic",
    "thermodefect.cli.ham",
]


def fail(message: str) -> None:
    """Print one error line and exit with code 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def user_errors(func: Callable) -> Callable:
    """Turn :class:`UserInputError` into one line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except UserInputError as exc:
            fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        except KeyboardInterrupt:
            typer.echo("interrupted; finished work is kept, rerun the same command to resume", err=True)
            raise typer.Exit(code=130) from None

    return wrapper


def load_config(path: Path):
    """Load and validate a config for a command (errors are one line)."""
    from thermodefect.settings import load_settings

    return load_settings(path)


for _module in STAGE_COMMANDS:
    importlib.import_module(_module).register(app)


def main() -> None:
    from thermodefect.core.compat import configure_cpu_threads

    configure_cpu_threads()
    app(prog_name="thermodefect")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
