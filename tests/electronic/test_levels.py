"""Band edges and defect levels by localization."""

import numpy as np
import pytest

from thermodefect.data.operators import HamiltonianSample, KSpaceMatrices
from thermodefect.electronic import analyze_operators, analyze_sample, bloch_pair
from thermodefect.electronic.eigen import Eigenstates
from thermodefect.electronic.levels import band_edges_and_levels, group_levels, occupations
from thermodefect.settings import ElectronicSettings
from thermodefect.structures import make_defect, parse_defect

ATOL_EV = 1e-8


def test_pristine_has_a_gap_and_no_levels(toy, cells64):
    atoms = cells64["pristine"]
    result = analyze_operators(*toy.operators(atoms), toy.n_electrons(atoms), atoms)
    assert result.levels == []
    assert 1.0 < result.gap_ev < 2.5
    assert result.gap_ev == pytest.approx(result.lumo_ev - result.homo_ev)


def test_antisite_has_a_localized_in_gap_level(toy, cells64):
    atoms = cells64["As_Ga"]
    result = analyze_operators(*toy.operators(atoms), toy.n_electrons(atoms), atoms)
    occupied = [lv for lv in result.levels if lv.electrons > 0]
    assert occupied, "the As_Ga donor level (2 electrons) is missing"
    level = occupied[0]
    assert level.electrons == 2.0 and level.degeneracy == 1
    assert 0.5 < level.above_vbm_ev < result.gap_ev
    assert level.defect_weight >= ElectronicSettings().localization_threshold
    assert result.homo_ev == pytest.approx(level.energy_ev)  # the pristine-like VBM skips the defect state
    assert result.vbm_ev < result.homo_ev


def test_sparse_and_dense_analysis_agree(toy, cells64):
    atoms = cells64["As_Ga"]
    ops = toy.operators(atoms)
    dense = analyze_operators(*ops, toy.n_electrons(atoms), atoms, solver="dense")
    sparse = analyze_operators(*ops, toy.n_electrons(atoms), atoms, solver="sparse")
    assert sparse.gap_ev == pytest.approx(dense.gap_ev, abs=ATOL_EV)
    assert [lv.energy_ev for lv in sparse.levels] == pytest.approx([lv.energy_ev for lv in dense.levels], abs=ATOL_EV)


def test_automatic_sparse_choice_falls_back_to_dense_for_filled_matrices(toy, cells64, monkeypatch):
    import scipy.sparse

    from thermodefect.electronic import analysis
    from thermodefect.electronic.analysis import DENSE_FILL, fill_fraction
    from thermodefect.electronic.bloch import pair_fill_fraction

    assert fill_fraction(scipy.sparse.csr_matrix(np.eye(4))) == 0.25
    assert fill_fraction(np.ones((3, 3))) == 1.0
    atoms = cells64["As_Ga"]
    ops = toy.operators(atoms)
    h, _ = bloch_pair(*ops, k_frac=np.zeros(3))
    assert fill_fraction(h) < DENSE_FILL  # nearest-neighbour toy: sparse stays sparse
    # The estimate before H(k) is built: every entry of each atom pair's block, zeros included.
    assert fill_fraction(h) <= pair_fill_fraction(ops[0]) < DENSE_FILL
    small = ElectronicSettings(sparse_above_atoms=10)
    n_electrons = toy.n_electrons(atoms)
    sparse = analyze_operators(*ops, n_electrons, atoms, small)
    assert sparse.solver == "sparse"
    monkeypatch.setattr(analysis, "DENSE_FILL", 0.0)  # now every matrix counts as filled
    dense = analyze_operators(*ops, n_electrons, atoms, small)
    assert dense.solver == "dense" and dense.gap_ev == pytest.approx(sparse.gap_ev, abs=ATOL_EV)
    assert analyze_operators(*ops, n_electrons, atoms, small, solver="sparse").solver == "sparse"  # asked for


def test_odd_electron_count_half_fills_the_top_state(toy, cells64):
    vacancy = make_defect(cells64["pristine"], parse_defect("V_As", "Ga", "As"))
    n_electrons = toy.n_electrons(vacancy)
    assert n_electrons % 2 == 1
    result = analyze_operators(*toy.operators(vacancy), n_electrons, vacancy)
    assert sum(lv.electrons for lv in result.levels) % 2 == 1  # the half-filled state is a defect level
    np.testing.assert_array_equal(occupations(np.arange(3), 3.0), [2.0, 1.0, 0.0])


def test_kspace_sample_gives_the_realspace_answer(toy, cells64):
    atoms = cells64["As_Ga"]
    sample = toy.hamiltonian_sample(atoms)
    h, s = bloch_pair(*sample.realspace)
    kspace = HamiltonianSample(
        structure=sample.structure,
        basis=sample.basis,
        n_electrons=sample.n_electrons,
        kspace=KSpaceMatrices(np.zeros((1, 3)), h.toarray()[None], s.toarray()[None]),
    )
    a, b = analyze_sample(sample, atoms), analyze_sample(kspace, atoms)
    assert a.gap_ev == pytest.approx(b.gap_ev, abs=ATOL_EV)
    assert [lv.energy_ev for lv in a.levels] == pytest.approx([lv.energy_ev for lv in b.levels], abs=ATOL_EV)


def test_kset_edges_are_extrema_over_k(toy, cells64):
    atoms = cells64["pristine"]
    ops = toy.operators(atoms)
    kpts = np.array([[0, 0, 0], [0.5, 0, 0], [0.25, 0.25, 0]])
    combined = analyze_operators(*ops, toy.n_electrons(atoms), atoms, kpts_frac=kpts)
    singles = [analyze_operators(*ops, toy.n_electrons(atoms), atoms, kpts_frac=k[None]) for k in kpts]
    assert combined.vbm_ev == pytest.approx(max(r.vbm_ev for r in singles))
    assert combined.cbm_ev == pytest.approx(min(r.cbm_ev for r in singles))


def test_degenerate_levels_are_grouped():
    assert group_levels(np.array([0.1, 0.105, 0.5, 0.9, 0.91]), 0.02) == [[0, 1], [2], [3, 4]]
    energies = np.array([-1.0, 0.0, 0.4, 0.401, 0.402, 1.5])
    weights = np.full((10, 6), 0.1)
    weights[0, 2:5] = 0.9  # the triplet sits on atom 0
    states = Eigenstates(energies, np.zeros((1, 6)), np.arange(6), 6)
    result = band_edges_and_levels(states, weights, 7.0, [0], 0.2, 0.02)
    assert result.vbm_ev == 0.0 and result.cbm_ev == 1.5
    [level] = result.levels
    assert level.degeneracy == 3 and level.electrons == 3.0


def _xtb_sample(atoms):
    pytest.importorskip("thermodefect.reference.xtb", reason="xtb reference not importable")
    pytest.importorskip("tblite.interface", reason="tblite not installed")
    from thermodefect.reference.registry import get_reference
    from thermodefect.settings import ReferenceSettings

    return get_reference(ReferenceSettings()).label(atoms).sample


def test_xtb_antisite_has_a_localized_level_and_pristine_none(cells64):
    pristine = analyze_sample(_xtb_sample(cells64["pristine"]), cells64["pristine"])
    antisite = analyze_sample(_xtb_sample(cells64["As_Ga"]), cells64["As_Ga"])
    assert pristine.levels == []
    assert pristine.gap_ev > 0.3
    assert antisite.levels, "GFN1-xTB As_Ga: no localized in-gap state found"
    assert all(lv.above_vbm_ev > 0 for lv in antisite.levels)


def test_choose_solver_by_size_and_fill():
    import scipy.sparse

    from thermodefect.electronic.analysis import choose_solver

    settings = ElectronicSettings(sparse_above_atoms=100)
    assert choose_solver(50, settings) == "dense"
    assert choose_solver(500, settings) == "sparse"
    assert choose_solver(500, settings, matrix=scipy.sparse.identity(200, format="csr")) == "sparse"
    assert choose_solver(500, settings, matrix=np.ones((20, 20))) == "dense"  # filled: dense beats shift-invert
    assert choose_solver(50, settings, "sparse", np.ones((20, 20))) == "sparse"  # an explicit choice is kept
