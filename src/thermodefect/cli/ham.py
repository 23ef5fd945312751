"""``ham train|predict|eval``: the equivariant Hamiltonian (or overlap) model."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    from thermodefect.cli.main import load_config, user_errors

    ham_app = typer.Typer(help="Equivariant Hamiltonian model: train, predict, evaluate.", no_args_is_help=True)
    app.add_typer(ham_app, name="ham")

    def _open_run(settings):
        from thermodefect.settings import settings_to_toml
        from thermodefect.workflow.rundir import RunDirectory

        return RunDirectory.create(settings.run.directory, settings_to_toml(settings))

    def _read_samples(path: Path) -> list:
        from thermodefect.data.hamiltonians import HamiltonianDataset
        from thermodefect.errors import UserInputError

        if not path.exists():
            raise UserInputError(f"{path}: no Hamiltonian dataset; label structures first (`thermodefect label`) or pass --data")
        dataset = HamiltonianDataset(path)
        keys = sorted(dataset.keys())
        if not keys:
            raise UserInputError(f"{path}: the Hamiltonian dataset is empty")
        return [dataset[k] for k in keys]

    def _load_models(directory: Path) -> list:
        from thermodefect.hamiltonian import load_ensemble, load_model
        from thermodefect.hamiltonian.checkpoint import CONFIG_FILE

        return [load_model(directory)] if (directory / CONFIG_FILE).is_file() else load_ensemble(directory)

    def _threads(settings) -> None:
        import torch

        torch.set_num_threads(settings.compute.torch_threads)

    @ham_app.command("train")
    @user_errors
    def train(
        config: Path = typer.Argument(..., help="TOML config file."),
        data: Optional[Path] = typer.Option(None, "--data", help="Hamiltonian dataset (HDF5); default <run>/data/hamiltonians.h5."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Ensemble directory; default <run>/models/ham/trained-<target>."),
        target: str = typer.Option("hamiltonian", "--target", help="'hamiltonian' (eV) or 'overlap'."),
        size: Optional[int] = typer.Option(None, "--size", min=1, help="Ensemble size; default hamiltonian.ensemble_size."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars."),
    ) -> None:
        """Train an ensemble on a labelled dataset (random train/validation split, seeded)."""
        import numpy as np

        from thermodefect.errors import UserInputError
        from thermodefect.hamiltonian import train_ensemble

        s = load_config(config)
        if target not in ("hamiltonian", "overlap"):
            raise UserInputError(f"--target must be 'hamiltonian' or 'overlap', got {target!r}")
        run = _open_run(s)
        _threads(s)
        samples = _read_samples(data or run.hamiltonian_dataset)
        order = np.random.default_rng(s.run.seed).permutation(len(samples))
        n_valid = int(round(s.hamiltonian.valid_fraction * len(samples))) if len(samples) > 1 else 0
        n_valid = min(max(n_valid, 1 if len(samples) > 1 else 0), len(samples) - 1)
        valid = [samples[k] for k in order[:n_valid]]
        train_set = [samples[k] for k in order[n_valid:]]
        out = output or run.root / "models" / "ham" / f"trained-{target}"
        two_center = None
        if (target == "hamiltonian" and s.hamiltonian.two_center_baseline) or (
                target == "overlap" and s.hamiltonian.overlap_model == "two_center"):
            from thermodefect.hamiltonian.two_center import TwoCenterModel, atoms_per_sample_for

            two_center = TwoCenterModel(train_set[0].basis, s.hamiltonian.two_center_cutoff_angstrom, target=target)
            info = two_center.fit(train_set, atoms_per_sample=atoms_per_sample_for(len(train_set)), seed=s.run.seed)
            typer.echo(f"two-center {target} fitted on {len(train_set)} samples: residual MAE {info['mae']:.3g} "
                       f"({'eV' if target == 'hamiltonian' else 'dimensionless'})")
            if target == "overlap":
                out.mkdir(parents=True, exist_ok=True)
                two_center.save(out / "two_center_overlap.json")
                typer.echo(f"overlap model {out / 'two_center_overlap.json'} (use it as --overlap-model)")
                return
        results = train_ensemble(train_set, valid, s.hamiltonian, out, seed=s.run.seed, target=target, size=size,
                                 progress=progress, baseline=two_center)
        typer.echo(f"trained {len(results)} {target} models on {len(train_set)} samples ({len(valid)} validation)")
        for r in results:
            typer.echo(f"model {r.directory}  best valid loss {r.best_valid_loss:.4g} (epoch {r.best_epoch}), "
                       f"{r.seconds_per_epoch:.2f} s/epoch")

    @ham_app.command("predict")
    @user_errors
    def predict_command(
        config: Path = typer.Argument(..., help="TOML config file."),
        structures: List[Path] = typer.Argument(..., help="Structure files (any ASE format; every frame)."),
        model: Path = typer.Option(..., "--model", "-m", help="Hamiltonian model or ensemble directory (first member is used)."),
        overlap_model: Optional[Path] = typer.Option(None, "--overlap-model", help="Overlap model (two-center JSON file or model directory); omitted = no overlaps.h5."),
        output: Path = typer.Option(..., "--output", "-o", help="Directory for one DeepH folder per frame."),
        n_electrons: float = typer.Option(0.0, "--n-electrons", help="Valence electrons recorded in info.json (0 = unknown)."),
    ) -> None:
        """Predict H(R) (and S(R)) and write DeepH-layout folders."""
        from ase.io import read

        from thermodefect.data.deeph import write_deeph
        from thermodefect.data.operators import HamiltonianSample
        from thermodefect.errors import UserInputError
        from thermodefect.hamiltonian import predict

        s = load_config(config)
        _threads(s)
        h_model = _load_models(model)[0]
        from thermodefect.hamiltonian.two_center import load_overlap_model

        s_model = load_overlap_model(overlap_model) if overlap_model else None
        frames = []
        for path in structures:
            try:
                frames += [(path, k, a) for k, a in enumerate(read(str(path), index=":"))]
            except Exception as exc:  # ASE raises many types for unreadable files
                raise UserInputError(f"{path}: cannot read structures ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
        atoms = [a for _, _, a in frames]
        _check_frames(frames)
        h_ops = predict(h_model, atoms)
        s_ops = predict(s_model, atoms) if s_model else [None] * len(atoms)
        for n, ((path, k, _), h_op, s_op) in enumerate(zip(frames, h_ops, s_ops)):
            sample = HamiltonianSample(structure=h_op.structure, basis=h_op.basis, n_electrons=n_electrons,
                                       realspace=(h_op, s_op),
                                       provenance={"model": str(model), "overlap_model": str(overlap_model or ""),
                                                   "source": f"{path}@{k}"})
            folder = write_deeph(sample, output / f"structure-{n:04d}")
            typer.echo(f"{folder}  {len(h_op.structure.numbers)} atoms, {h_op.n_edges} blocks")

    @ham_app.command("eval")
    @user_errors
    def evaluate_command(
        config: Path = typer.Argument(..., help="TOML config file."),
        model: Path = typer.Option(..., "--model", "-m", help="Model or ensemble directory."),
        data: Optional[Path] = typer.Option(None, "--data", help="Hamiltonian dataset; default <run>/data/hamiltonians.h5."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Metrics JSON; default <run>/results/ham-eval.json."),
    ) -> None:
        """Matrix-element and eigenvalue MAEs of each model against a dataset."""
        from thermodefect.hamiltonian import evaluate
        from thermodefect.workflow.rundir import atomic_write_json

        s = load_config(config)
        run = _open_run(s)
        _threads(s)
        samples = _read_samples(data or run.hamiltonian_dataset)
        members = _load_models(model)
        metrics = [evaluate(m, samples, bands_near_gap=s.electronic.bands_near_gap) for m in members]
        out = output or run.results / "ham-eval.json"
        atomic_write_json(out, {"model": str(model), "members": metrics})
        for k, m in enumerate(metrics):
            eig = f", eigenvalues {m['eigenvalue_mae']:.3g}" if "eigenvalue_mae" in m else ""
            typer.echo(f"member {k}: MAE {m['mae']:.3g} {m['unit']} (onsite {m['mae_onsite']:.3g}, "
                       f"hopping {m['mae_hopping']:.3g}){eig} on {m['n_samples']} samples")
        typer.echo(f"wrote {out}")


def _check_frames(frames) -> None:
    """Refuse non-finite or overlapping structures with one line (``frames``: (path, index, atoms))."""
    import numpy as np

    from thermodefect.errors import UserInputError
    from thermodefect.structures import check_no_overlap

    for path, k, atoms in frames:
        if not np.all(np.isfinite(atoms.positions)) or not np.all(np.isfinite(atoms.cell[:])):
            raise UserInputError(f"{path} frame {k}: positions and cell must be finite numbers")
        check_no_overlap(atoms, f"{path} frame {k}")
