"""``convert``: Hamiltonians between the DeepH layouts (legacy, DeepH-dock) and the package's HDF5 dataset."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer


SOURCE_HELP = "A DeepH structure folder (legacy or DeepH-dock, recognised from its files), a folder of them, or a Hamiltonian dataset (.h5)."
VALENCE_HELP = "Valence electrons per element, e.g. 'Ga=13,As=15', for folders whose info.json records no n_electrons (needed for --to hdf5)."


class TargetForm(str, Enum):
    """The target forms of :data:`thermodefect.data.conversion.TARGETS`."""

    deeph = "deeph"
    deeph_dock = "deeph-dock"
    hdf5 = "hdf5"


def register(app: typer.Typer) -> None:
    from thermodefect.cli.main import user_errors

    @app.command()
    @user_errors
    def convert(
        source: Path = typer.Argument(..., help=SOURCE_HELP),
        target: Path = typer.Argument(..., help="New folder (deeph, deeph-dock) or dataset file (hdf5); must not exist."),
        to: TargetForm = typer.Option(..., "--to", help="What to write: legacy DeepH folders, DeepH-dock folders or a Hamiltonian dataset."),
        valence_electrons: str = typer.Option("", "--valence-electrons", help=VALENCE_HELP),
    ) -> None:
        """Convert Hamiltonians (H(R), S(R), eV) between DeepH layouts and the HDF5 dataset; nothing is written on bad input."""
        from thermodefect.data.conversion import convert_hamiltonians

        report = convert_hamiltonians(source, target, to.value, parse_valence_electrons(valence_electrons))
        typer.echo(f"converted {report.n_samples} sample(s) from the {report.source_kind} {source} to {to.value}: {report.target}")


def parse_valence_electrons(text: str) -> dict[str, float]:
    """``"Ga=13,As=15"`` -> ``{"Ga": 13.0, "As": 15.0}``; one-line error on anything else."""
    from ase.data import atomic_numbers

    from thermodefect.core.errors import UserInputError

    valence: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        symbol, _, count = item.partition("=")
        symbol = symbol.strip()
        try:
            electrons = float(count)
        except ValueError:
            electrons = float("nan")
        if symbol not in atomic_numbers or not electrons > 0:
            raise UserInputError(f"--valence-electrons: {item!r} is not ELEMENT=ELECTRONS with a positive count (e.g. 'Ga=13,As=15')")
        valence[symbol] = electrons
    return valence
