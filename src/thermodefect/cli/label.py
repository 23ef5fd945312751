"""``label``: run the reference(s) on structures into the run's datasets."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    from thermodefect.cli.main import load_config, user_errors

    @app.command()
    @user_errors
    def label(
        config: Path = typer.Argument(..., help="TOML config file."),
        structures: Path = typer.Option(..., "--structures", "-s", help="Structures to label (extxyz or any ASE-readable file, many frames)."),
        what: str = typer.Option("forces,hamiltonian", "--what", help="Comma-separated: forces, hamiltonian."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    ) -> None:
        """Label structures with the configured references (skips those already labelled)."""
        from thermodefect.core.errors import UserInputError
        from thermodefect.reference.labelling import check_label_request, label_structures
        from thermodefect.settings import settings_to_toml
        from thermodefect.core.executors import get_executor
        from thermodefect.core.rundir import RunDirectory
        from thermodefect.workflow.preflight import preflight

        settings = load_config(config)
        frames = _read_structures(structures, UserInputError)
        wanted = {w.strip() for w in what.split(",") if w.strip()}
        check_label_request(frames, settings.reference, wanted, source=f"{structures.name} frame")  # before the run directory
        preflight(settings, needs=wanted)  # both references (also the one not asked for) and the devices
        run = RunDirectory.create(settings.run.directory, settings_to_toml(settings))
        with get_executor(settings.compute, run_dir=run.parsl_logs) as executor:
            report = label_structures(frames, settings.reference, run, what=wanted, executor=executor, progress=not quiet)
        typer.echo(f"new {report.n_new}  skipped {report.n_skipped}  failed {report.n_failed}  s/label {report.mean_seconds_per_label:.2f}")
        if report.n_failed:
            typer.echo(f"failures are listed in {run.failures}")


def _read_structures(path: Path, error):
    from ase.io import read

    if not path.is_file():
        raise error(f"{path}: structure file not found")
    try:
        frames = read(str(path), index=":")
    except Exception as exc:  # ASE raises many types for unreadable files
        raise error(f"{path}: cannot read structures ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'unknown format'})") from None
    if not frames:
        raise error(f"{path}: contains no structures")
    return frames
