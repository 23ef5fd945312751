"""A labelled run directory and a valid Hamiltonian checkpoint, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import rattled_gaas, run_cli

TINY_TOY = Path(__file__).parents[1] / "workflow" / "tiny_toy.toml"
CORPUS = Path(__file__).parent / "corpus"


def base_config_text(run_dir: Path) -> str:
    return TINY_TOY.read_text().replace('directory = "run"', f'directory = "{run_dir}"')


@pytest.fixture(scope="session")
def labelled_run(tmp_path_factory) -> dict[str, Path]:
    """``{"config", "run", "structures"}``: a run directory with 2 toy labels (forces + Hamiltonian)."""
    from ase.io import write

    root = tmp_path_factory.mktemp("existing")
    config = root / "config.toml"
    config.write_text(base_config_text(root / "run"))
    structures = root / "good.extxyz"
    write(structures, rattled_gaas(2, seed=9))
    result = run_cli(["label", config, "-s", structures, "--quiet"])
    assert result.returncode == 0, result.stderr
    return {"config": config, "run": root / "run", "structures": structures}


@pytest.fixture(scope="session")
def good_checkpoint(tmp_path_factory) -> Path:
    """A tiny randomly initialised Hamiltonian model for the toy sp basis, saved as a checkpoint."""
    import torch

    from thermodefect.hamiltonian import build_model
    from thermodefect.hamiltonian.checkpoint import save_model
    from thermodefect.reference.toy import SP_BASIS
    from thermodefect.settings import HamiltonianModelSettings

    torch.manual_seed(0)
    settings = HamiltonianModelSettings(preset="fast", irreps_node="4x0e+2x1o", irreps_edge="4x0e+2x1o+2x1e+2x2e",
                                        num_layers=1, radial_basis_size=4, radial_hidden=8, cutoff_angstrom=4.5)
    model = build_model(settings, {31: SP_BASIS, 33: SP_BASIS})
    return save_model(model, tmp_path_factory.mktemp("ckpt") / "good")
