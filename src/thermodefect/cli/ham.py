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
        from thermodefect.workflow.pipeline import open_run

        return open_run(settings)

    def _read_samples(path: Path) -> list:
        from thermodefect.data.hamiltonians import HamiltonianDataset
        from thermodefect.core.errors import UserInputError

        if not path.exists():
            raise UserInputError(f"{path}: no Hamiltonian dataset; label structures first (`thermodefect label`) or pass --data")
        dataset = HamiltonianDataset(path)
        keys = sorted(dataset.keys())
        if not keys:
            raise UserInputError(f"{path}: the Hamiltonian dataset is empty")
        return [dataset[k] for k in keys]

    def _load_models(directory: Path) -> list:
        from thermodefect.hamiltonian.checkpoint import CONFIG_FILE, load_model
        from thermodefect.hamiltonian.recipe import load_members

        return [load_model(directory)] if (directory / CONFIG_FILE).is_file() else load_members(directory)

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
        all_labels: bool = typer.Option(False, "--all", help="Train on every label, also the run's held-out test snapshots."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars."),
    ) -> None:
        """Train with the pipeline's recipe (overlap, two-center baseline, network ensemble).

        On a run's own labels this gives the run's model: the training keys of
        its Hamiltonian active learning are used (its test snapshots stay held
        out) unless --all or --data is given.
        """
        from thermodefect.data.hamiltonians import HamiltonianDataset
        from thermodefect.core.errors import UserInputError
        from thermodefect.hamiltonian.recipe import HamiltonianRecipe
        from thermodefect.reference.registry import get_reference

        s = load_config(config)
        if target not in ("hamiltonian", "overlap"):
            raise UserInputError(f"--target must be 'hamiltonian' or 'overlap', got {target!r}")
        run = _open_run(s)
        _threads(s)
        path = data or run.hamiltonian_dataset
        if not path.exists():
            raise UserInputError(f"{path}: no Hamiltonian dataset; label structures first (`thermodefect label`) or pass --data")
        dataset = HamiltonianDataset(path)
        keys = sorted(dataset.keys())
        if not keys:
            raise UserInputError(f"{path}: the Hamiltonian dataset is empty")
        if data is None and not all_labels and run.training_keys.is_file():
            from thermodefect.core.results import read_results_json

            keys = sorted(read_results_json(run.training_keys, "hamiltonian_al", required=("training",))["training"])
            typer.echo(f"training on the run's {len(keys)} training labels (its test snapshots held out; --all uses every label)")
        recipe = HamiltonianRecipe(s.hamiltonian, s.run.seed, reference=lambda: get_reference(s.reference.hamiltonian),
                                   log=typer.echo, progress=progress,
                                   workers=s.compute.workers if s.compute.engine == "local" else 1)
        out = output or run.hamiltonian_models / f"trained-{target}"
        if target == "overlap":
            model = recipe.train_overlap(dataset, keys, out / "two_center_overlap.json", out)
            where = out / "two_center_overlap.json" if s.hamiltonian.overlap_model == "two_center" else out / "member-0"
            typer.echo(f"overlap model {where} (use it as --overlap-model)")
            return
        members = recipe.train_hamiltonian(dataset, keys, out, run.two_center_overlap, size)
        n_train, n_valid = (len(part) for part in recipe.split(keys, target))
        typer.echo(f"trained {len(members)} {target} models on {n_train} samples ({n_valid} validation)")
        for k in range(len(members)):
            typer.echo(f"model {out / f'member-{k}'}")

    @ham_app.command("predict")
    @user_errors
    def predict_command(
        config: Path = typer.Argument(..., help="TOML config file."),
        structures: List[Path] = typer.Argument(..., help="Structure files (any ASE format; every frame)."),
        model: Path = typer.Option(..., "--model", "-m", help="Hamiltonian model or ensemble directory (an ensemble predicts the mean of its members, as the pipeline does)."),
        overlap_model: Optional[Path] = typer.Option(None, "--overlap-model", help="Overlap model (two-center JSON file or model directory); omitted = no overlaps.h5."),
        output: Path = typer.Option(..., "--output", "-o", help="Directory for one DeepH folder per frame."),
        n_electrons: float = typer.Option(0.0, "--n-electrons", help="Valence electrons recorded in info.json (0 = unknown)."),
        layout: str = typer.Option("deeph", "--layout", help="Folder layout: deeph (legacy DeepH) or deeph-dock (DeepH-dock)."),
    ) -> None:
        """Predict H(R) (and S(R)) and write one DeepH folder per frame (legacy or DeepH-dock layout)."""
        from ase.io import read

        from thermodefect.data.deeph import write_deeph
        from thermodefect.data.deeph_dock import write_deeph_dock
        from thermodefect.data.operators import HamiltonianSample
        from thermodefect.core.errors import UserInputError
        from thermodefect.hamiltonian import predict

        writers = {"deeph": write_deeph, "deeph-dock": write_deeph_dock}
        if layout not in writers:
            raise UserInputError(f"--layout must be one of {', '.join(writers)}, got {layout!r}")
        s = load_config(config)
        _threads(s)
        from thermodefect.hamiltonian.recipe import load_overlap, load_predictor

        h_model = load_predictor(model)
        s_model = load_overlap(overlap_model) if overlap_model else None
        frames = []
        for path in structures:
            try:
                read_frames = list(read(str(path), index=":"))
            except Exception as exc:  # ASE raises many types for unreadable files
                raise UserInputError(f"{path}: cannot read structures ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
            if not read_frames:
                raise UserInputError(f"{path}: contains no structures")
            frames += [(path, k, a) for k, a in enumerate(read_frames)]
        atoms = [a for _, _, a in frames]
        _check_frames(frames, model_knowers([(h_model, model), (s_model, overlap_model)]))
        h_ops = predict(h_model, atoms)
        s_ops = predict(s_model, atoms) if s_model else [None] * len(atoms)
        for n, ((path, k, _), h_op, s_op) in enumerate(zip(frames, h_ops, s_ops)):
            sample = HamiltonianSample(structure=h_op.structure, basis=h_op.basis, n_electrons=n_electrons,
                                       realspace=(h_op, s_op),
                                       provenance={"model": str(model), "overlap_model": str(overlap_model or ""),
                                                   "source": f"{path}@{k}"})
            folder = writers[layout](sample, output / f"structure-{n:04d}")
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
        from thermodefect.core.files import atomic_write_json

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


def model_knowers(models) -> list[tuple[set[int], str]]:
    """``[(atomic numbers the model knows, "the model PATH")]`` for each loaded model of ``[(model or None, its path)]``."""
    from thermodefect.hamiltonian.predict import model_elements

    return [(model_elements(model), f"the model {path}") for model, path in models if model is not None]


def _check_frames(frames, knowers=()) -> None:
    """Refuse structures thermodefect cannot use with one line (``frames``: (path, index, atoms)).

    ``knowers``: ``[(known elements, who)]`` (models, a reference) that must know every element.
    """
    from thermodefect.structures.checks import check_structure, common_elements

    known, known_by = common_elements(knowers, {s for _, _, atoms in frames for s in atoms.get_chemical_symbols()})
    for path, k, atoms in frames:
        check_structure(atoms, source=f"{path} frame {k}", known_elements=known, known_by=known_by)
