"""Band edges over k-points: an indirect-gap model against a dense scan, Γ folding of supercells, the "auto" rule."""

import numpy as np
import pytest

from thermodefect.electronic import analyze_sample
from thermodefect.electronic.kpoints import (
    cell_path_kpoints,
    edge_kpoint_set,
    folds_onto_gamma,
    gamma_centred_grid,
    grid_divisions,
    plane_spacings_angstrom,
    resolve_edge_kpoints,
)
from thermodefect.settings import ElectronicSettings, Settings

# The band path's points are ~0.03 1/Å apart near the CBM (30 per 1/Å); the band's curvature
# there puts the nearest point within 1 meV of the minimum, the dense grid holds it exactly.
PATH_TOL_EV = 2e-3
# Γ of a supercell and the matching grid of the primitive cell are the same eigenproblems.
FOLD_ATOL_EV = 1e-9


@pytest.fixture(scope="module")
def primitive(indirect):
    return indirect.sample()


@pytest.fixture(scope="module")
def scan(indirect):
    return indirect.dense_scan()  # 60³ grid: holds the CBM's k = ±1/3 exactly


def test_k_sampled_edges_of_the_primitive_cell_match_a_dense_scan(indirect, primitive, scan):
    atoms, sample = primitive
    result = analyze_sample(sample, atoms, ElectronicSettings(), edge_kpoints="auto")
    assert result.edge_kpoints == "grid+path" and result.n_kpoints > 500
    assert abs(result.gap_ev - scan["gap"]) < PATH_TOL_EV
    assert result.gap_ev >= scan["gap"] - 1e-9  # sampled points can only miss the extrema
    assert result.k_vbm_frac == [0.0, 0.0, 0.0] and np.allclose(scan["k_vbm"], 0)
    assert indirect.same_star(result.k_cbm_frac, scan["k_cbm"]) and indirect.same_star(scan["k_cbm"], [1 / 3] * 3)
    assert not result.gap_is_direct
    assert abs(result.direct_gap_ev - scan["direct_gap"]) < PATH_TOL_EV


def test_gamma_alone_overestimates_the_indirect_gap(primitive, scan):
    atoms, sample = primitive
    gamma = analyze_sample(sample, atoms, ElectronicSettings(), edge_kpoints="gamma")
    assert gamma.edge_kpoints == "gamma" and gamma.n_kpoints == 1 and gamma.gap_is_direct
    assert abs(gamma.gap_ev - scan["gamma_gap"]) < FOLD_ATOL_EV
    assert gamma.gap_ev > scan["gap"] + 5.0  # 5.95 eV at Γ against 0.53 eV
    default = analyze_sample(sample, atoms, ElectronicSettings())  # no edge_kpoints: Γ, as the pipeline uses
    assert default.edge_kpoints == "gamma" and default.gap_ev == gamma.gap_ev


def test_grid_and_path_alone(indirect, primitive, scan):
    atoms, sample = primitive
    grid = analyze_sample(sample, atoms, ElectronicSettings(), edge_kpoints="grid")
    path = analyze_sample(sample, atoms, ElectronicSettings(), edge_kpoints="path")
    # 3.5 points per 1/Å of |b| = 2π/3 Å: 8 divisions; the CBM falls between its points, 0.375 is nearest.
    assert grid.n_kpoints == 8**3 and indirect.same_star(grid.k_cbm_frac, [0.375] * 3)
    assert scan["gap"] + 0.05 < grid.gap_ev < scan["gamma_gap"]
    assert abs(path.gap_ev - scan["gap"]) < PATH_TOL_EV  # the minimum lies on Γ-R
    exact = analyze_sample(sample, atoms, ElectronicSettings(edge_grid=[6, 6, 6]), edge_kpoints="grid")
    assert exact.n_kpoints == 216 and indirect.same_star(exact.k_cbm_frac, scan["k_cbm"])
    assert abs(exact.gap_ev - scan["gap"]) < FOLD_ATOL_EV  # k = ±1/3 is on a 6³ grid, as on the 60³ scan


def test_gamma_of_a_supercell_is_the_primitive_grid_it_folds(indirect):
    atoms, sample = indirect.sample(repeat=4)  # 128 atoms, planes 12 Å apart
    settings = ElectronicSettings()
    supercell = analyze_sample(sample, atoms, settings, edge_kpoints="auto")
    assert supercell.edge_kpoints == "gamma" and supercell.n_kpoints == 1
    primitive_atoms, primitive = indirect.sample()
    folded = analyze_sample(primitive, primitive_atoms, ElectronicSettings(edge_grid=[4, 4, 4]), edge_kpoints="grid")
    assert abs(supercell.gap_ev - folded.gap_ev) < FOLD_ATOL_EV
    assert abs(supercell.vbm_ev - folded.vbm_ev) < FOLD_ATOL_EV


def test_auto_keeps_a_64_atom_supercell_at_gamma(toy, cells64):
    settings = ElectronicSettings()
    for name, atoms in cells64.items():
        sample = toy.hamiltonian_sample(atoms)
        auto = analyze_sample(sample, atoms, settings, edge_kpoints="auto")
        plain = analyze_sample(sample, atoms, settings)
        assert auto.edge_kpoints == "gamma" and auto.n_kpoints == 1, name
        assert (auto.gap_ev, auto.vbm_ev, auto.cbm_ev) == (plain.gap_ev, plain.vbm_ev, plain.cbm_ev), name
        assert [lv.energy_ev for lv in auto.levels] == [lv.energy_ev for lv in plain.levels], name


def test_auto_rule(indirect, cells64):
    settings = ElectronicSettings()
    assert np.allclose(plane_spacings_angstrom(indirect.cell().cell), 3.0)
    assert np.allclose(plane_spacings_angstrom(cells64["pristine"].cell), 4 * 5.65 / 2)
    assert resolve_edge_kpoints(indirect.cell().cell, True, settings) == "grid+path"
    assert resolve_edge_kpoints(cells64["pristine"].cell, True, settings) == "gamma"
    assert resolve_edge_kpoints(indirect.cell().cell, False, settings) == "gamma"  # a defect cell is a supercell
    assert resolve_edge_kpoints(indirect.cell(2).cell, True, settings) == "grid+path"  # planes 6 Å apart
    assert resolve_edge_kpoints(indirect.cell(4).cell, True, settings) == "gamma"  # 12 Å
    assert not folds_onto_gamma(indirect.cell(2).cell, settings) and folds_onto_gamma(indirect.cell(4).cell, settings)
    # A requested sampling holds, except that aligned defect edges are Γ quantities.
    assert resolve_edge_kpoints(cells64["pristine"].cell, True, settings, "path") == "path"
    assert resolve_edge_kpoints(indirect.cell().cell, False, settings, "grid") == "gamma"
    cell_edges = ElectronicSettings(band_edges="cell")
    assert resolve_edge_kpoints(indirect.cell().cell, False, cell_edges, "grid") == "grid"
    assert resolve_edge_kpoints(indirect.cell().cell, True, settings, "gamma") == "gamma"
    with pytest.raises(ValueError, match="edge k-points"):
        resolve_edge_kpoints(indirect.cell().cell, True, settings, "mesh")


def test_kpoint_sets():
    from ase.build import bulk

    si = bulk("Si", "diamond", a=5.43).cell
    assert grid_divisions(si, 3.5) == (8, 8, 8)  # |b| = 2.00 1/Å: 7.0 points, rounded up to even
    grid = gamma_centred_grid((4, 4, 2))
    assert len(grid) == 32 and np.all(grid[0] == 0) and grid.min() == -0.25 and grid.max() == 0.5
    path = cell_path_kpoints(si, 30.0)
    for special in ([0.5, 0.0, 0.5], [0.5, 0.5, 0.5], [0.375, 0.375, 0.75]):  # X, L, K of the fcc zone
        assert np.any(np.all(np.isclose(path, special), axis=1)), special
    both = edge_kpoint_set(si, "grid+path", ElectronicSettings())
    assert np.all(both[0] == 0) and len(both) == len(np.unique(np.round(both, 10), axis=0))
    assert len(both) < 8**3 + len(path)  # Γ, X, L of the path are already on the grid
    assert edge_kpoint_set(si, "gamma", ElectronicSettings()).tolist() == [[0.0, 0.0, 0.0]]


def test_settings_refuse_bad_edge_options():
    with pytest.raises(Exception, match="3 divisions"):
        Settings.model_validate({"electronic": {"edge_grid": [4, 4]}})
    with pytest.raises(Exception, match="edge_kpoints"):
        Settings.model_validate({"electronic": {"edge_kpoints": "mesh"}})
    with pytest.raises(Exception, match="edge_grid"):
        Settings.model_validate({"electronic": {"edge_grid": [4, 4, 0]}})
    assert Settings.model_validate({"electronic": {"edge_grid": [3, 3, 3]}}).electronic.edge_grid == [3, 3, 3]
