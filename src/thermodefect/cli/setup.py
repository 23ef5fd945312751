"""``init``, ``validate`` and ``structures``: configs and supercells."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    from thermodefect.cli.main import load_config, user_errors

    @app.command()
    @user_errors
    def init(
        output: Path = typer.Option(Path("thermodefect.toml"), "--output", "-o", help="Where to write the config."),
        demo: bool = typer.Option(False, "--demo", help="The small embedded demo instead of the published protocol."),
        force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
    ) -> None:
        """Write a commented example config."""
        from thermodefect.core.errors import UserInputError
        from thermodefect.core.files import atomic_write_text

        if output.exists() and not force:
            raise UserInputError(f"{output} exists; pass --force to overwrite it")
        text = resources.files("thermodefect.configs").joinpath("demo.toml" if demo else "default.toml").read_text()
        atomic_write_text(output, text)
        typer.echo(f"wrote {output} ({'demo' if demo else 'published protocol'}); check it with `thermodefect validate {output}`")

    @app.command()
    @user_errors
    def validate(config: Path = typer.Argument(..., help="TOML config file.")) -> None:
        """Check a config (values, references, devices) and print a summary of what it will run."""
        from thermodefect.workflow.preflight import preflight

        s = load_config(config)
        resolved = preflight(s)
        typer.echo(f"{config}: valid")
        typer.echo(f"  material    {s.material.cation}{s.material.anion}, a = {s.material.lattice_constant_angstrom} Å ({s.material.lattice})")
        typer.echo(f"  defects     {', '.join(s.defects.names)}")
        typer.echo(
            f"  cells       {s.supercells.kind}: training {s.supercells.training_atoms}, production "
            f"{s.supercells.production_atoms}, transfer {s.supercells.transfer_atoms}"
        )
        typer.echo(f"  T (K)       training {s.temperatures.training_k}, production {s.temperatures.production_k}")
        typer.echo(f"  references  forces: {resolved.references['forces']}, hamiltonian: {resolved.references['hamiltonian']}")
        typer.echo(f"  devices     {', '.join(f'{key} {device}' for key, device in resolved.devices.items())}")
        typer.echo(f"  run dir     {s.run.directory}")

    @app.command()
    @user_errors
    def structures(
        config: Path = typer.Argument(..., help="TOML config file."),
        output: Path = typer.Option(
            None, "--output", "-o", help="Directory (default: <run dir>/structures, with --doped <run dir>/structures/doped)."
        ),
        doped: Path = typer.Option(
            None, "--doped", help="A doped DefectsGenerator or DefectEntry JSON (.json, .json.gz): write its neutral cells instead."
        ),
    ) -> None:
        """Write pristine and defect supercells (extxyz) for every configured size, or those of a doped defect set."""
        from ase.io import write

        from thermodefect.core.errors import RunDirectoryError

        s = load_config(config)
        if doped is not None:
            first, built, paths = _doped_cells(s, doped)  # fail before writing
            out = output or (s.run.directory / "structures" / "doped")
        else:
            from thermodefect.structures import build_cells

            first = "set"
            sizes = {"training": s.supercells.training_atoms, "production": s.supercells.production_atoms}
            for n in s.supercells.transfer_atoms:
                sizes[f"transfer-{n}"] = n
            built = {label: build_cells(s, n_atoms) for label, n_atoms in sizes.items()}  # fail before writing
            paths = {
                label: {name: f"{len(atoms) if name == 'pristine' else sizes[label]}atoms-{name}.extxyz" for name, atoms in cells.items()}
                for label, cells in built.items()
            }
            out = output or (s.run.directory / "structures")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunDirectoryError(f"{out}: cannot create ({exc.strerror})") from None
        width = max([14, *(len(label) + 2 for label in built)])
        typer.echo(f"{first:<{width}}{'defect':<10}{'atoms':>6}  {'formula':<12}{'site':<8}{'nn (Å)':>8}  file")
        written = set()
        for label, cells in built.items():
            for name, atoms in cells.items():
                path = out / paths[label][name]
                if path not in written:
                    write(str(path), atoms, format="extxyz")
                    written.add(path)
                typer.echo(f"{label:<{width}}{name:<10}{len(atoms):>6}  {atoms.get_chemical_formula():<12}{_site_label(atoms):<8}"
                           f"{_nn_distance(atoms):>8.3f}  {path}")
        typer.echo(f"wrote {len(written)} files to {out}")


def _doped_cells(settings, path: Path):
    """Rows of a doped set: (first column header, {doped name: {name: atoms}}, {doped name: {name: file name}})."""
    from thermodefect.structures.doped import read_doped

    doped = read_doped(path, settings.material.cation, settings.material.anion)
    cells = ({"bulk": doped.pristine} if doped.pristine is not None else {}) | doped.defects
    built, paths = {}, {}
    for label, atoms in cells.items():
        name = atoms.info["defect"]
        # N is the pristine cell's atom count, as for the configured cells; doped's name keeps the files apart.
        n_atoms = len(atoms) + (1 if name.startswith("V_") else -1 if name.endswith("_i") else 0)
        built[label] = {name: atoms}
        paths[label] = {name: f"{n_atoms}atoms-{'pristine' if name == 'pristine' else label}.extxyz"}
    return "doped name", built, paths


def _site_label(atoms) -> str:
    """``T_As`` for the tetrahedral site surrounded by As, doped's label (``C3v``) for another site, "" otherwise."""
    from ase.data import chemical_symbols

    site = atoms.info.get("interstitial_site", "")
    return f"T_{site}" if site in chemical_symbols else site


def _nn_distance(atoms) -> float:
    from thermodefect.structures import defect_neighbours

    if atoms.info.get("defect", "pristine") == "pristine":
        return _bond_length(atoms)
    return _defect_nn_distance(atoms, defect_neighbours)


def _bond_length(atoms) -> float:
    from ase.neighborlist import neighbor_list

    return float(neighbor_list("d", atoms, 3.5).min())


def _defect_nn_distance(atoms, defect_neighbours) -> float:
    import numpy as np

    from thermodefect.core.keys import DEFECT_INDEX, DEFECT_SITE

    site = np.asarray(atoms.info[DEFECT_SITE])
    shell = [k for k in defect_neighbours(atoms) if k != atoms.info.get(DEFECT_INDEX, -1)]
    probe = atoms.copy()
    probe.append("H")
    probe.positions[-1] = site
    return float(min(probe.get_distance(len(probe) - 1, k, mic=True) for k in shell))
