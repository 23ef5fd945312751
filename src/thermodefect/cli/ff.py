"""``ff train|al|eval`` (MACE force field) and ``md`` (NVT molecular dynamics)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    from thermodefect.cli.main import load_config, user_errors

    ff_app = typer.Typer(help="MACE force field: train, active learning, evaluation.", no_args_is_help=True)
    app.add_typer(ff_app, name="ff")

    def _open_run(settings):
        from thermodefect.workflow.pipeline import open_run

        return open_run(settings, needs=("forces",))  # the force field needs no Hamiltonian reference

    def _threads(settings) -> None:
        import torch

        torch.set_num_threads(settings.compute.torch_threads)

    def _ensemble(settings, run, model: Optional[list[Path]]):
        """``--model`` files as given (read without running code from them), else the run's final models (hash-checked)."""
        from thermodefect.forcefield import ForceFieldEnsemble
        from thermodefect.forcefield.model_files import PICKLE_NOTE
        from thermodefect.workflow.forcefield_hooks import final_models

        ff = settings.forcefield
        ensemble = ForceFieldEnsemble(model or final_models(run), device=ff.device, default_dtype=ff.default_dtype, baseline=ff.baseline)
        for path in model or []:
            typer.echo("note: " + PICKLE_NOTE.format(path=path), err=True)
        return ensemble

    @ff_app.command("train")
    @user_errors
    def train(
        config: Path = typer.Argument(..., help="TOML config file."),
        data: Optional[Path] = typer.Option(None, "--data", help="Labelled extxyz (REF_energy/REF_forces); default <run>/data/forces.extxyz."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Model directory; default <run>/models/ff/trained."),
    ) -> None:
        """Train (or fine-tune) an ensemble of MACE models on a labelled dataset."""
        from thermodefect.forcefield import train_ensemble

        s = load_config(config)
        run = _open_run(s)
        _threads(s)
        out = output or run.root / "models" / "ff" / "trained"
        manifest = run.manifest
        # In the run directory: keep only models the manifest names, record the new ones. A folder
        # of the user's own keeps the models already there.
        in_run = out.resolve().is_relative_to(run.root.resolve())
        bookkeeping = {"keep": manifest.holds, "trained": lambda path: manifest.record_files([path])} if in_run else {}
        data = data or run.forces_dataset
        if s.forcefield.e0s == "isolated":
            from ase.io import read

            from thermodefect.forcefield.training import check_training_data
            from thermodefect.workflow.forcefield_hooks import isolated_energies

            check_training_data(Path(data))
            symbols = sorted({x for atoms in read(str(data), index=":", format="extxyz") for x in atoms.get_chemical_symbols()})
            bookkeeping["isolated_energies_ev"] = isolated_energies(s, run, symbols)
        from thermodefect.core.executors import member_processes

        paths = train_ensemble(s.forcefield, data, out, seed=s.run.seed,
                               workers=member_processes(s.forcefield.ensemble_size, s.compute.workers), **bookkeeping)
        for p in paths:
            typer.echo(f"model {p}")

    @ff_app.command("al")
    @user_errors
    def active_learning(
        config: Path = typer.Argument(..., help="TOML config file."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars."),
    ) -> None:
        """Active learning of the force field (resumes a stopped loop)."""
        from thermodefect.workflow.forcefield_hooks import run_forcefield_al
        from thermodefect.structures import build_cells

        s = load_config(config)
        run = _open_run(s)
        _threads(s)
        cells = build_cells(s, s.supercells.training_atoms)
        summary = run_forcefield_al(s, run, cells, log=typer.echo, progress=progress)
        typer.echo(f"{'round':>5} {'labels':>7} {'E MAE meV/at':>13} {'F MAE meV/Å':>12} {'selected':>9}")
        for m in summary["metrics"]:
            overall = m["test"].get("overall", {})
            typer.echo(
                f"{m['round']:>5} {m['labels_used']:>7} {overall.get('energy_mae_mev_per_atom', float('nan')):>13.2f} "
                f"{overall.get('force_mae_mev_per_angstrom', float('nan')):>12.1f} {m.get('selected', '-'):>9}"
            )
        typer.echo(f"{'converged' if summary['converged'] else 'stopped at max_rounds'}; models: {', '.join(summary['final_models'])}")

    @ff_app.command("eval")
    @user_errors
    def evaluate(
        config: Path = typer.Argument(..., help="TOML config file."),
        data: Optional[Path] = typer.Option(None, "--data", help="Labelled extxyz; default <run>/results/ff_test_set.extxyz."),
        model: Optional[list[Path]] = typer.Option(None, "--model", help="Model file(s); default the last AL round."),
    ) -> None:
        """Energy/force errors of an ensemble on labelled data (JSON + parity plot)."""
        from ase.io import read

        from thermodefect.core.errors import UserInputError
        from thermodefect.forcefield.metrics import force_field_errors
        from thermodefect.report.figures import plot_force_parity
        from thermodefect.forcefield.training import check_training_data
        from thermodefect.core.files import atomic_write_json

        s = load_config(config)
        run = _open_run(s)
        _threads(s)
        path = data or run.results / "ff_test_set.extxyz"
        if not path.is_file():
            raise UserInputError(f"{path}: labelled data not found; pass --data")
        check_training_data(path, min_frames=1)
        frames = list(read(str(path), index=":", format="extxyz"))
        ensemble = _ensemble(s, run, model)
        errors = force_field_errors(ensemble, frames)
        figure = plot_force_parity(errors.pop("parity"), run.report / "figures" / "ff_eval_parity.png")
        atomic_write_json(run.results / "ff_eval.json", {"data": str(path), "models": [str(p) for p in ensemble.model_paths], **errors})
        typer.echo(f"{'set':<12}{'n':>4} {'E MAE meV/at':>13} {'F MAE meV/Å':>12} {'F RMSE meV/Å':>13}")
        for name, e in [("overall", errors["overall"]), *errors["per_defect"].items()]:
            typer.echo(
                f"{name:<12}{e['n_structures']:>4} {e['energy_mae_mev_per_atom']:>13.2f} "
                f"{e['force_mae_mev_per_angstrom']:>12.1f} {e['force_rmse_mev_per_angstrom']:>13.1f}"
            )
        typer.echo(f"wrote {run.results / 'ff_eval.json'} and {figure}")

    @app.command("md")
    @user_errors
    def molecular_dynamics(
        config: Path = typer.Argument(..., help="TOML config file."),
        defect: Optional[str] = typer.Option(None, "--defect", help="Only this defect (default: all, pristine included)."),
        temperature: Optional[float] = typer.Option(None, "--temperature", help="Only this temperature in K (default: temperatures.production_k)."),
        model: Optional[list[Path]] = typer.Option(None, "--model", help="MACE model file; default model 0 of the last AL round."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars."),
    ) -> None:
        """NVT MD with the MACE force field per defect and temperature (resumable), under <run>/md/."""
        import numpy as np

        from thermodefect.dynamics import run_nvt, trajectory_name
        from thermodefect.core.errors import UserInputError
        from thermodefect.structures import build_cells

        s = load_config(config)
        run = _open_run(s)
        _threads(s)
        cells = build_cells(s, s.supercells.production_atoms)
        if defect is not None:
            if defect not in cells:
                raise UserInputError(f"--defect {defect}: not in the config (have {', '.join(cells)})")
            cells = {defect: cells[defect]}
        if temperature is not None and not 0 < temperature <= 5000:
            raise UserInputError(f"--temperature {temperature}: expected 0 < T <= 5000 K")
        temperatures = [temperature] if temperature is not None else s.temperatures.production_k
        calculator = _ensemble(s, run, model).calculator("first")
        names = list(build_cells(s, s.supercells.production_atoms))
        for name, cell in cells.items():
            for temperature_k in temperatures:
                seed = s.run.seed + 7919 * names.index(name) + int(round(temperature_k))
                result = run_nvt(cell, calculator, temperature_k, s.md, seed=seed,
                                 trajectory_path=run.md / f"{trajectory_name(name, temperature_k)}.extxyz", progress=progress)
                temps = np.array([f.info["temperature_k"] for f in result.frames])
                typer.echo(f"{name:<10}{temperature_k:>7.1f} K  {len(result.frames):>5} frames  <T> = {temps.mean():7.1f} K  {result.trajectory_path}")
