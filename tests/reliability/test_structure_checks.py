"""Structures and option values the commands must refuse: one ``error:`` line, exit 2, nothing written.

The geometry rules are tested on :func:`check_structure` directly; the
commands (``label``, ``gap``, ``bands``, ``ham predict``, MD) are run as a
user runs them, on the files in ``corpus/structures_checks/``.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from thermodefect.core.errors import UserInputError
from thermodefect.structures.checks import check_structure, common_elements

from .conftest import CORPUS
from .helpers import rattled_gaas, run_cli, tree_digest

CHECKS = CORPUS / "structures_checks"
A_ANGSTROM = 5.65
GA_AS_LIMIT_ANGSTROM = 0.5 * (1.22 + 1.19)  # half the covalent radii sum of Ga and As (ase.data.covalent_radii)


def _gaas() -> Atoms:
    return bulk("GaAs", "zincblende", a=A_ANGSTROM, cubic=True)


def _pair_at(distance_angstrom: float) -> Atoms:
    atoms = _gaas()
    atoms.positions[1] = atoms.positions[0] + [distance_angstrom, 0.0, 0.0]
    return atoms


def _refused(atoms: Atoms, **kwargs) -> str:
    with pytest.raises(UserInputError) as err:
        check_structure(atoms, source="cell.extxyz frame 0", **kwargs)
    message = str(err.value)
    assert "\n" not in message and message.startswith("cell.extxyz frame 0: ")
    return message


# --------------------------------------------------------------------------- check_structure
def test_a_crystal_passes():
    for atoms in [_gaas(), *rattled_gaas(3, seed=1, stdev_angstrom=0.1), _gaas().repeat((2, 2, 2))]:
        check_structure(atoms, source="ok", known_elements={"Ga", "As"})


@pytest.mark.parametrize("distance_angstrom", [0.0, 0.3, 0.70, 0.75, 0.78, 1.0, 1.2])
def test_atoms_closer_than_half_their_covalent_radii_are_refused(distance_angstrom):
    message = _refused(_pair_at(distance_angstrom))
    assert f"{distance_angstrom:.3f} Å apart" in message and "atoms 0 (Ga) and 1 (As)" in message
    assert f"{GA_AS_LIMIT_ANGSTROM:.3f} Å" in message


@pytest.mark.parametrize("distance_angstrom", [1.21, 1.5, 2.0])
def test_atoms_just_beyond_the_limit_pass(distance_angstrom):
    check_structure(_pair_at(distance_angstrom), source="ok")


def test_the_distance_fraction_is_configurable():
    close = _pair_at(0.75)
    check_structure(close, source="ok", min_distance_fraction=0.3)  # limit 0.72 Å
    assert "0.8 ×" in _refused(_pair_at(1.5), min_distance_fraction=0.8)  # limit 1.93 Å
    check_structure(close, source="ok", min_distance_fraction=0.0)  # 0 switches the distance check off


def test_distances_across_the_cell_boundary_count():
    atoms = _gaas()
    atoms.positions[1] = [A_ANGSTROM - 0.4, 0.0, 0.0]  # 0.4 Å from atom 0 through the periodic boundary
    assert "0.400 Å apart" in _refused(atoms)


def test_an_atom_too_close_to_its_own_image_is_refused():
    message = _refused(Atoms("Ga", cell=np.eye(3) * 1.0, pbc=True))
    assert "its own periodic image" in message and "1.000 Å apart" in message


def test_a_skewed_cell_is_searched_on_its_reduced_basis():
    # Same lattice as a 5.65 Å cube, written with a long third vector: neither slow nor wrong.
    atoms = _gaas()
    cell = atoms.cell[:].copy()
    cell[2] = cell[2] + 40 * cell[0] + 40 * cell[1]
    atoms.set_cell(cell, scale_atoms=False)
    check_structure(atoms, source="ok")


def test_no_atoms_is_refused():
    assert "has no atoms" in _refused(Atoms(cell=np.eye(3) * A_ANGSTROM, pbc=True))


def test_non_finite_positions_are_refused():
    atoms = _gaas()
    atoms.positions[3, 1] = np.nan
    assert "finite" in _refused(atoms)


@pytest.mark.parametrize("pbc", [False, (True, True, False)])
def test_a_structure_that_is_not_periodic_in_3d_is_refused(pbc):
    atoms = _gaas()
    atoms.pbc = pbc
    assert "not periodic" in _refused(atoms)


@pytest.mark.parametrize("third_vector", [[0.0, 0.0, 0.0], [A_ANGSTROM, A_ANGSTROM, 0.0], [1e-9, 0.0, 0.0]])
def test_a_cell_without_volume_is_refused(third_vector):
    atoms = _gaas()
    cell = atoms.cell[:].copy()
    cell[2] = third_vector
    atoms.set_cell(cell, scale_atoms=False)
    assert "volume" in _refused(atoms)


def test_unknown_elements_are_refused_by_symbol_or_atomic_number():
    atoms = _gaas()
    atoms.symbols[0] = "Si"
    message = _refused(atoms, known_elements={31, 33}, known_by="the model m")
    assert "element Si not known to the model m (it knows As, Ga)" in message
    check_structure(_gaas(), source="ok", known_elements={"Ga", "As"})


def test_common_elements_names_who_lacks_an_element():
    knowers = [({"Ga", "As", "Si"}, "reference 'xtb'"), ({31, 33}, "the model m"), (None, "reference 'albe'")]
    assert common_elements(knowers, {"Ga", "Si"}) == ({"Ga", "As"}, "the model m")
    assert common_elements(knowers, {"Ga"}) == ({"Ga", "As"}, "reference 'xtb' and the model m")
    assert common_elements([(None, "reference 'albe'")], {"Ga"}) == (None, "")


# --------------------------------------------------------------------------- commands
def _assert_refused(result, fragment: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout
    assert fragment.lower() in lines[0].lower(), lines[0]
    return lines[0]


def _run_unchanged(labelled_run, argv: list[str]):
    """Run ``argv``; the run directory (its datasets included) must be byte-identical afterwards."""
    run = labelled_run["run"]
    datasets = [run / "data" / "forces.extxyz", run / "data" / "hamiltonians.h5"]
    before, data_before = tree_digest(run), [p.read_bytes() for p in datasets]
    result = run_cli(argv)
    assert tree_digest(run) == before, "a refused structure changed the run directory"
    assert [p.read_bytes() for p in datasets] == data_before, "a refused structure was stored as a label"
    return result


LABEL_CASES = [
    ("zero_atoms.extxyz", "has no atoms"),
    ("zero_volume_cell.extxyz", "volume 0 Å³"),
    ("atoms_0.75_angstrom_apart.extxyz", "0.750 Å apart"),
    ("molecule_not_periodic.xyz", "not periodic"),
    ("element_unknown_to_model.extxyz", "Si not known to reference 'toy'"),
]


@pytest.mark.parametrize("name, fragment", LABEL_CASES, ids=[c[0] for c in LABEL_CASES])
def test_label_refuses_a_structure_before_storing_anything(labelled_run, name, fragment):
    result = _run_unchanged(labelled_run, ["label", labelled_run["config"], "-s", CHECKS / name, "--quiet"])
    _assert_refused(result, fragment)


@pytest.mark.parametrize("what", ["forces", "hamiltonian"])
def test_label_of_one_dataset_checks_too(labelled_run, what):
    result = _run_unchanged(labelled_run, ["label", labelled_run["config"], "-s", CHECKS / "atoms_0.75_angstrom_apart.extxyz",
                                           "--what", what, "--quiet"])
    _assert_refused(result, "Å apart")


def test_gap_with_the_reference_refuses_a_molecule(labelled_run, tmp_path):
    result = _run_unchanged(labelled_run, ["gap", labelled_run["config"], "-s", CHECKS / "molecule_not_periodic.xyz",
                                           "-o", tmp_path / "out"])
    _assert_refused(result, "not periodic")
    assert not (tmp_path / "out").exists()


def test_gap_refuses_a_cell_larger_than_max_atoms(labelled_run, tmp_path):
    from ase.io import write

    big = tmp_path / "big.extxyz"
    write(big, _gaas().repeat((11, 11, 11))[:10000])
    result = _run_unchanged(labelled_run, ["gap", labelled_run["config"], "-s", big, "-o", tmp_path / "out"])
    line = _assert_refused(result, "10000 atoms is more than --max-atoms 5000")
    assert "--max-atoms 10000" in line
    _assert_refused(run_cli(["gap", labelled_run["config"], "-s", big, "--max-atoms", "20", "-o", tmp_path / "out"]),
                    "--max-atoms 20")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_gap_announces_each_step_of_a_large_cell(labelled_run, tmp_path):
    from ase.io import write

    cell = tmp_path / "512.extxyz"
    write(cell, _gaas().repeat((4, 4, 4)))
    config = tmp_path / "dense.toml"
    text = labelled_run["config"].read_text().replace("bands_near_gap = 8", "bands_near_gap = 8\nsparse_above_atoms = 1000")
    config.write_text(text.replace(str(labelled_run["run"]), str(tmp_path / "run")))
    result = run_cli(["gap", config, "-s", cell, "-o", tmp_path / "out"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "frame 0 (512 atoms): Hamiltonian from reference 'toy'" in result.stderr
    assert "frame 0 (512 atoms): band edges, gap and defect levels" in result.stderr
    assert (tmp_path / "out" / "gap.json").is_file()


MODEL_CASES = [
    (["gap", "{config}", "-s", "{s}", "--model", "{ckpt}", "-o", "{tmp}/out"], "molecule_not_periodic.xyz", "not periodic"),
    (["gap", "{config}", "-s", "{s}", "--model", "{ckpt}", "-o", "{tmp}/out"], "element_unknown_to_model.extxyz", "Si not known"),
    (["bands", "{config}", "-s", "{s}", "--model", "{ckpt}", "-o", "{tmp}/out"], "zero_volume_cell.extxyz", "volume"),
    (["ham", "predict", "{config}", "{s}", "-m", "{ckpt}", "-o", "{tmp}/out"], "element_unknown_to_model.extxyz", "Si not known to the model"),
    (["ham", "predict", "{config}", "{s}", "-m", "{ckpt}", "-o", "{tmp}/out"], "molecule_not_periodic.xyz", "not periodic"),
    (["ham", "predict", "{config}", "{s}", "-m", "{ckpt}", "-o", "{tmp}/out"], "atoms_0.75_angstrom_apart.extxyz", "Å apart"),
    (["ham", "predict", "{config}", "{s}", "-m", "{ckpt}", "-o", "{tmp}/out"], "zero_atoms.extxyz", "no atoms"),
]


@pytest.mark.slow
@pytest.mark.parametrize("argv, name, fragment", MODEL_CASES, ids=[f"{c[0][0]}-{c[1]}" for c in MODEL_CASES])
def test_prediction_refuses_bad_structures(labelled_run, good_checkpoint, tmp_path, argv, name, fragment):
    fields = {"config": labelled_run["config"], "s": CHECKS / name, "ckpt": good_checkpoint, "tmp": tmp_path}
    result = _run_unchanged(labelled_run, [a.format(**fields) for a in argv])
    _assert_refused(result, fragment)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_predict_refuses_an_element_outside_the_model_basis(good_checkpoint):
    from thermodefect.hamiltonian import predict
    from thermodefect.hamiltonian.checkpoint import load_model

    atoms = _gaas()
    atoms.symbols[0] = "Si"
    with pytest.raises(UserInputError, match="element Si not known to the model"):
        predict(load_model(good_checkpoint), [atoms])


def test_md_refuses_overlapping_atoms_before_the_first_step(tmp_path):
    from ase.calculators.emt import EMT

    from thermodefect.dynamics import run_nvt
    from thermodefect.settings import MDSettings

    cell = bulk("Cu", "fcc", a=3.61, cubic=True)
    cell.positions[1] = cell.positions[0] + [0.5, 0.0, 0.0]
    with pytest.raises(UserInputError, match="Å apart"):
        run_nvt(cell, EMT(), 300.0, MDSettings(), seed=0, trajectory_path=tmp_path / "md" / "cu.extxyz", progress=False)
    assert not (tmp_path / "md" / "cu.extxyz").exists()


# --------------------------------------------------------------------------- option values
USAGE_CASES = [
    (["ham", "train", "{config}", "--size", "0"], "--size"),
    (["gap", "{config}", "-s", "{good}", "--max-atoms", "0"], "--max-atoms"),
    (["label", "{config}"], "--structures"),
    (["label"], "config"),
    (["label", "{config}", "-s"], "-s"),
    (["run", "{config}", "--bogus"], "--bogus"),
    (["frobnicate"], "frobnicate"),
]


@pytest.mark.parametrize("argv, fragment", USAGE_CASES, ids=[" ".join(c[0]) for c in USAGE_CASES])
def test_usage_errors_are_one_line(labelled_run, argv, fragment):
    fields = {"config": labelled_run["config"], "good": labelled_run["structures"]}
    result = _run_unchanged(labelled_run, [a.format(**fields) for a in argv])
    line = _assert_refused(result, fragment)
    assert "Usage:" not in result.stderr and "╭" not in result.stderr, line


def test_help_and_no_arguments_keep_their_exit_codes():
    result = run_cli(["--help"])
    assert result.returncode == 0 and "Usage" in result.stdout and "gap" in result.stdout
    result = run_cli(["gap", "--help"])
    assert result.returncode == 0 and "--max-atoms" in result.stdout
    result = run_cli([])
    assert result.returncode == 2 and "Usage" in result.stdout + result.stderr and "Traceback" not in result.stderr


def test_no_run_directory_is_created_for_a_refused_structure(labelled_run, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(labelled_run["config"].read_text().replace(str(labelled_run["run"]), str(tmp_path / "new-run")))
    try:
        result = run_cli(["label", config, "-s", CHECKS / "atoms_0.75_angstrom_apart.extxyz", "--quiet"])
        _assert_refused(result, "Å apart")
        assert not (tmp_path / "new-run").exists()
    finally:
        shutil.rmtree(tmp_path / "new-run", ignore_errors=True)
