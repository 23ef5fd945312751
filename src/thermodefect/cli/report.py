"""``report``: rebuild the HTML report of a run from its results files (``results/summary.json`` and the figure data)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    from thermodefect.cli.main import user_errors

    @app.command()
    @user_errors
    def report(run_dir: Path = typer.Argument(..., help="Run directory (holds results/summary.json).")) -> None:
        """Write RUN_DIR/report/index.html, its figures and results/*.csv from the results files."""
        from thermodefect.report import write_report

        index = write_report(run_dir)
        figures = sorted((index.parent / "figures").glob("*.png"))
        typer.echo(f"wrote {index} ({len(figures)} figures embedded)")
        results = run_dir / "results"
        typer.echo(f"wrote {results / 'summary.csv'}, {results / 'accuracy.csv'} and {results / 'validation.csv'}")
