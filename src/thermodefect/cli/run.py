"""``run`` and ``status``: the whole pipeline and where it stands."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    from thermodefect.cli.main import load_config, user_errors

    @app.command()
    @user_errors
    def run(
        config: Path = typer.Argument(..., help="TOML config file."),
        only: Optional[list[str]] = typer.Option(None, "--only", help="Run just this stage (repeatable)."),
        until: Optional[str] = typer.Option(None, "--until", help="Stop after this stage."),
    ) -> None:
        """Run the pipeline end to end, skipping finished stages and resuming a half-done one."""
        from thermodefect.workflow.pipeline import run_pipeline

        settings = load_config(config)
        run_dir = run_pipeline(settings, only=list(only or []), until=until)
        typer.echo(f"run directory: {run_dir.root}")
        typer.echo(f"report: {run_dir.report / 'index.html'}")

    @app.command()
    @user_errors
    def status(run_dir: Path = typer.Argument(..., help="Run directory (run.directory of the config).")) -> None:
        """Show each stage's state and the headline numbers so far."""
        from thermodefect.core.errors import UserInputError
        from thermodefect.workflow.pipeline import stage_status

        if not (run_dir / "manifest.json").is_file():
            raise UserInputError(f"{run_dir}: not a run directory (no manifest.json)")
        for row in stage_status(run_dir):
            info = row["info"]
            headline = ", ".join(_format(k, v) for k, v in info.items() if isinstance(v, (int, float, str)) and k != "error")
            if row["status"] == "failed":  # a stage redone since keeps the old reason in its info: shown only while failed
                reason = str(info.get("error") or "").strip().splitlines()
                headline = f"error: {reason[0] if reason else 'no reason recorded'}"
            typer.echo(f"{row['stage']:<18}{row['status']:<9}{headline}")


def _format(key: str, value) -> str:
    if isinstance(value, float):
        return f"{key}={value:.4g}"
    return f"{key}={value}"
