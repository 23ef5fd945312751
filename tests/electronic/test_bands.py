"""High-symmetry band paths and band structures of supercells."""

import numpy as np
import pytest

from thermodefect.electronic import analyze_operators, band_figure_data, band_path, band_structure
from thermodefect.electronic.bands import BandPathError
from thermodefect.settings import ElectronicSettings
from thermodefect.structures import make_defect, parse_defect, pristine_supercell

POINTS_PER_SEGMENT = 15


def test_fcc_supercell_path_has_labels_and_points():
    atoms = pristine_supercell("Ga", "As", 5.65, 16, "primitive")
    path = band_path(atoms.cell, "LGXK", POINTS_PER_SEGMENT)
    assert path.labels == ["L", "Γ", "X", "K"]
    assert len(path.kpts_frac) == 3 * POINTS_PER_SEGMENT + 1
    assert path.label_positions == [0, 15, 30, 45]
    np.testing.assert_allclose(path.kpts_frac[15], 0.0, atol=1e-12)
    assert np.all(np.diff(path.distance) >= 0)


def test_labels_missing_from_the_lattice_are_a_user_error():
    cubic = pristine_supercell("Ga", "As", 5.65, 64, "cubic")
    with pytest.raises(BandPathError, match="choose from"):
        band_path(cubic.cell, "LGXK")
    assert band_path(cubic.cell, "GXMGR", 5).labels == ["Γ", "X", "M", "Γ", "R"]


def test_band_structure_at_gamma_matches_the_gap_and_plots(toy, tmp_path):
    pristine = pristine_supercell("Ga", "As", 5.65, 16, "primitive")
    atoms = make_defect(pristine, parse_defect("As_Ga", "Ga", "As"))
    ops = toy.operators(atoms)
    settings = ElectronicSettings(points_per_segment=4, bands_near_gap=12)
    bands = band_structure(*ops, toy.n_electrons(atoms), atoms, settings)
    assert bands.energies_ev.shape == (13, 12)
    gap = analyze_operators(*ops, toy.n_electrons(atoms), atoms, settings)
    gamma = bands.path.label_positions[1]
    assert np.any(np.isclose(bands.energies_ev[gamma], gap.vbm_ev))
    assert np.any(np.isclose(bands.energies_ev[gamma], gap.cbm_ev))
    from thermodefect.report.figures import plot_band_structure

    data = band_figure_data(bands, gap, title="As_Ga")
    assert data["energy_zero"] == "VBM" and data["cbm_above_vbm_ev"] == pytest.approx(gap.gap_ev)
    assert np.asarray(data["energies_ev"]).shape == (13, 12)
    out = tmp_path / "bands.png"
    plot_band_structure(data, out)
    assert out.stat().st_size > 1000


def test_primitive_path_in_a_cubic_supercell():
    """L, Γ, X, K of the fcc primitive cell at the same Cartesian k in a 2x2x2 cubic supercell."""
    import numpy as np
    from ase.build import bulk

    from thermodefect.electronic.bands import band_path

    a = 5.65
    supercell = bulk("GaAs", "zincblende", a, cubic=True).repeat(2)
    path = band_path(supercell.cell, "LGXK", 15, special_cell=bulk("GaAs", "zincblende", a).cell)
    assert path.labels == ["L", "Γ", "X", "K"] and len(path.kpts_frac) == 46
    # k_frac = k_cart . a_i / 2π with a_i = 2a along the axes
    assert np.allclose(path.kpts_frac[0], [1, 1, 1])  # L = π/a (1,1,1)
    assert np.allclose(path.kpts_frac[15], [0, 0, 0])
    assert np.allclose(np.sort(np.abs(path.kpts_frac[30])), [0, 0, 2])  # X = 2π/a along an axis


def test_zincblende_primitive_cell_of_supercells_with_defects():
    from ase.build import bulk

    from thermodefect.electronic.bands import zincblende_primitive_cell

    a = 5.65
    primitive = bulk("GaAs", "zincblende", a=a).cell[:]
    for atoms in (bulk("GaAs", "zincblende", a=a), bulk("GaAs", "zincblende", a=a, cubic=True).repeat(2)):
        np.testing.assert_allclose(zincblende_primitive_cell(atoms), primitive, atol=1e-12)
        vacancy = atoms.copy()
        del vacancy[0]
        if len(atoms) > 2:
            np.testing.assert_allclose(zincblende_primitive_cell(vacancy), primitive, atol=1e-12)
    # The default fcc path then exists on a cubic supercell, whose own lattice has no L or K.
    cubic = bulk("GaAs", "zincblende", a=a, cubic=True)
    assert band_path(cubic.cell, "LGXK", 5, special_cell=zincblende_primitive_cell(cubic)).labels == ["L", "Γ", "X", "K"]
