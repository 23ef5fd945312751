"""Supercells and native point defects of zincblende compounds."""

import numpy as np
import pytest
from ase.neighborlist import neighbor_list

from thermodefect.structures import (
    StructureError,
    defect_neighbours,
    make_defect,
    parse_defect,
    pristine_supercell,
    rattle,
)

A = 5.65
BOND = np.sqrt(3) * A / 4
ATOL_ANGSTROM = 1e-6


@pytest.fixture(scope="module")
def pristine64():
    return pristine_supercell("Ga", "As", A, 64, "cubic")


@pytest.mark.parametrize(
    "n_atoms,kind", [(64, "cubic"), (216, "cubic"), (512, "cubic"), (16, "primitive"), (128, "primitive"), (250, "primitive"), (432, "primitive")]
)
def test_pristine_sizes_and_stoichiometry(n_atoms, kind):
    atoms = pristine_supercell("Ga", "As", A, n_atoms, kind)
    assert len(atoms) == n_atoms
    symbols = atoms.get_chemical_symbols()
    assert symbols.count("Ga") == symbols.count("As") == n_atoms // 2
    assert np.isclose(atoms.get_volume(), n_atoms / 8 * A**3)
    d = neighbor_list("d", atoms, BOND * 1.05)
    assert len(d) == 4 * n_atoms  # every atom four-fold coordinated
    assert np.allclose(d, BOND, atol=ATOL_ANGSTROM)


@pytest.mark.parametrize("n_atoms,kind", [(100, "cubic"), (128, "cubic"), (64, "primitive"), (7, "cubic")])
def test_impossible_sizes_rejected(n_atoms, kind):
    with pytest.raises(StructureError, match="supercell"):
        pristine_supercell("Ga", "As", A, n_atoms, kind)


@pytest.mark.parametrize(
    "name,n_ga,n_as",
    [("V_As", 32, 31), ("V_Ga", 31, 32), ("As_Ga", 31, 33), ("Ga_As", 33, 31), ("As_i", 32, 33), ("Ga_i", 33, 32)],
)
def test_defect_counts(pristine64, name, n_ga, n_as):
    atoms = make_defect(pristine64, parse_defect(name, "Ga", "As"))
    symbols = atoms.get_chemical_symbols()
    assert (symbols.count("Ga"), symbols.count("As")) == (n_ga, n_as)
    assert atoms.info["defect"] == name


@pytest.mark.parametrize("name,site", [("As_i", "Ga"), ("As_i", "As"), ("Ga_i", "Ga"), ("Ga_i", "As")])
def test_tetrahedral_interstitial_neighbours(pristine64, name, site):
    """A tetrahedral interstitial has 4 nearest neighbours of the site species at sqrt(3)a/4, then 6 at a/2."""
    atoms = make_defect(pristine64, parse_defect(name, "Ga", "As", site))
    k = atoms.info["defect_index"]
    assert atoms.info["interstitial_site"] == site
    d = atoms.get_distances(k, [i for i in range(len(atoms)) if i != k], mic=True)
    others = [i for i in range(len(atoms)) if i != k]
    order = np.argsort(d)
    assert np.allclose(d[order[:4]], BOND, atol=ATOL_ANGSTROM)
    assert {atoms[others[i]].symbol for i in order[:4]} == {site}
    assert np.allclose(d[order[4:10]], A / 2, atol=ATOL_ANGSTROM)
    assert {atoms[others[i]].symbol for i in order[4:10]} == ({"Ga", "As"} - {site})


def test_default_interstitial_site_is_other_species(pristine64):
    assert parse_defect("As_i", "Ga", "As").site_species == "Ga"
    assert parse_defect("Ga_i", "Ga", "As").site_species == "As"


def test_a_vacancy_keeps_its_shell_when_one_neighbour_moves_in_and_the_crystal_drifts(pristine64):
    """MD frames: one Ga moves 0.9 Å towards the As vacancy (1.2 x its distance would drop the other
    three) and the whole crystal drifts by 0.3 Å; the vacancy site follows the drift."""
    from thermodefect.workflow.snapshots import tag_frame

    cell = make_defect(pristine64, parse_defect("V_As", "Ga", "As"))
    expected = defect_neighbours(cell)
    frame = cell.copy()
    frame.info = {}
    site = np.asarray(cell.info["defect_site"])
    k = expected[0]
    towards = site - frame.positions[k]
    frame.positions[k] += 0.9 / np.linalg.norm(towards) * towards
    frame.positions += np.array([0.3, -0.2, 0.1])
    tagged = tag_frame(frame, cell)
    assert np.allclose(tagged.info["defect_site"], site + np.array([0.3, -0.2, 0.1]) + (frame.positions[k] - cell.positions[k] - [0.3, -0.2, 0.1]) / len(cell), atol=1e-6)
    assert defect_neighbours(tagged) == expected


@pytest.mark.parametrize("name,neighbour", [("V_As", "Ga"), ("V_Ga", "As"), ("As_Ga", "As"), ("Ga_As", "Ga")])
def test_vacancy_and_antisite_neighbours(pristine64, name, neighbour):
    atoms = make_defect(pristine64, parse_defect(name, "Ga", "As"))
    shell = defect_neighbours(atoms)
    centre = atoms.info["defect_index"]
    ring = [i for i in shell if i != centre]
    assert len(ring) == 4
    assert {atoms[i].symbol for i in ring} == {neighbour}
    probe = atoms.copy()
    probe.append("H")
    probe.positions[-1] = atoms.info["defect_site"]
    d = [probe.get_distance(len(probe) - 1, i, mic=True) for i in ring]
    assert np.allclose(d, BOND, atol=ATOL_ANGSTROM)
    if name.startswith("V_"):
        assert centre == -1
    else:
        assert atoms[centre].symbol == name.split("_")[0]


@pytest.mark.parametrize("bad", ["X_i", "V_Si", "Ga_Ga", "As", "Ga_As_i"])
def test_bad_defect_names(bad):
    with pytest.raises(StructureError):
        parse_defect(bad, "Ga", "As")


def test_rattle_deterministic_and_prefix_stable(pristine64):
    a = rattle(pristine64, 3, 0.05, seed=11)
    b = rattle(pristine64, 5, 0.05, seed=11)
    c = rattle(pristine64, 3, 0.05, seed=12)
    for x, y in zip(a, b):
        assert np.array_equal(x.positions, y.positions)
    assert not np.allclose(a[0].positions, c[0].positions)
    assert not np.allclose(a[0].positions, a[1].positions)
    disp = a[0].positions - pristine64.positions
    assert abs(disp.std() - 0.05) < 0.01
    assert np.array_equal(pristine64.positions, pristine_supercell("Ga", "As", A, 64, "cubic").positions)


@pytest.mark.parametrize("name, shell", [("V_As", 4), ("As_Ga", 4), ("Ga_i", 4)])
def test_defect_shell_in_the_two_atom_primitive_cell(name, shell):
    """A cell smaller than the 6 Å search radius: the site marker sees its own periodic images, which are
    no atoms of the cell. Every index is an atom; the shell is the 4 bonds (images of the cell's atoms)."""
    from ase.build import bulk
    from ase.neighborlist import neighbor_list

    cell = make_defect(bulk("GaAs", "zincblende", a=5.65), parse_defect(name, "Ga", "As"))
    found = defect_neighbours(cell)
    assert all(0 <= k < len(cell) for k in found)
    probe = cell.copy()
    probe.append("H")
    probe.positions[-1] = cell.info["defect_site"]
    i, j, d = neighbor_list("ijd", probe, 2.6)
    bond = (i == len(probe) - 1) & (j != len(probe) - 1) & (d > 1e-6)  # not the marker, not the defect atom on the site
    assert np.count_nonzero(bond) == shell
    assert {int(x) for x in j[bond]} <= set(found)
