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
    "thermodefect.cli.convert",
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


def main(args: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code: 0, 2 (bad input or usage, one ``error:`` line) or 130 (interrupted)."""
    from thermodefect.core.compat import configure_cpu_threads

    configure_cpu_threads()
    try:
        # standalone_mode=False: click's usage errors come here instead of being printed as a usage box.
        result = app(args=args, prog_name="thermodefect", standalone_mode=False)
    except _click_errors() as exc:  # click's UsageError, BadParameter, MissingParameter, FileError ...
        if type(exc).__name__ == "NoArgsIsHelpError":  # no arguments: the help (already printed by rich) is the answer
            if exc.format_message().strip():
                typer.echo(exc.format_message(), err=True)
            return 2
        typer.echo(f"error: {_usage_line(exc)}", err=True)
        return 2
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("interrupted", err=True)
        return 130
    return result if isinstance(result, int) else 0  # --help and typer.Exit(code) come back as their exit code


def _click_errors() -> tuple[type[Exception], ...]:
    """Base classes of click's errors: typer's own copy of click (recent typer) and click itself."""
    bases = [getattr(typer, "TyperException", None)]
    try:
        import click

        bases.append(click.ClickException)
    except ImportError:  # recent typer does not need click
        pass
    return tuple(base for base in bases if base is not None)


def _usage_line(exc: Exception) -> str:
    """A click usage error as one line: the command, the problem and where its help is."""
    message = " ".join(exc.format_message().split()).rstrip(".")
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return message
    return f"{ctx.command_path}: {message} (see `{ctx.command_path} --help`)"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
