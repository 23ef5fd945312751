"""Bloch sums against an analytic two-band chain, and their basic properties."""

import numpy as np
import pytest

from thermodefect.data.operators import BlockOperator, Structure
from thermodefect.electronic import bloch_pair, bloch_sum, cartesian_to_fractional, fractional_to_cartesian, solve_dense
from thermodefect.electronic.bloch import bloch_dense, pair_fill_fraction

ATOL_EV = 1e-10
CHAIN_A_ANGSTROM = 3.0
ONSITE_EV, T_INTRA_EV, T_INTER_EV = 0.7, -1.1, -0.4


def two_band_chain() -> BlockOperator:
    """Atoms A (Z=1, +Δ) at x=0 and B (Z=2, -Δ) at x=a/2, one s orbital each; SSH hoppings t1 (in cell), t2 (B to next A)."""
    structure = Structure(
        numbers=np.array([1, 2]),
        positions=np.array([[0.0, 0, 0], [CHAIN_A_ANGSTROM / 2, 0, 0]]),
        cell=np.diag([CHAIN_A_ANGSTROM, 20.0, 20.0]),
    )
    edges = [(0, 0, 0, ONSITE_EV), (1, 1, 0, -ONSITE_EV), (0, 1, 0, T_INTRA_EV), (1, 0, 0, T_INTRA_EV), (1, 0, 1, T_INTER_EV), (0, 1, -1, T_INTER_EV)]
    return BlockOperator(
        structure=structure,
        basis={1: "1x0e", 2: "1x0e"},
        edge_index=np.array([[e[0] for e in edges], [e[1] for e in edges]]),
        cell_shift=np.array([[e[2], 0, 0] for e in edges]),
        blocks=np.array([[[e[3]]] for e in edges]),
    )


@pytest.mark.parametrize("kx", [0.0, 0.13, 0.25, 0.5, 0.77])
def test_two_band_chain_matches_the_exact_bands(kx):
    h = bloch_sum(two_band_chain(), k_frac=[kx, 0, 0])
    ka = 2 * np.pi * kx
    off_diagonal = np.abs(T_INTRA_EV + T_INTER_EV * np.exp(-1j * ka))
    exact = np.array([-1, 1]) * np.sqrt(ONSITE_EV**2 + off_diagonal**2)
    np.testing.assert_allclose(solve_dense(h).energies_ev, exact, atol=ATOL_EV)
    np.testing.assert_allclose(h[0, 1], T_INTRA_EV + T_INTER_EV * np.exp(-1j * ka), atol=ATOL_EV)


def test_cartesian_and_fractional_k_agree():
    op = two_band_chain()
    k_frac = np.array([0.3, 0.1, -0.2])
    k_cart = fractional_to_cartesian(k_frac, op.structure.cell)
    np.testing.assert_allclose(cartesian_to_fractional(k_cart, op.structure.cell), k_frac)
    diff = bloch_sum(op, k_cart=k_cart) - bloch_sum(op, k_frac=k_frac)
    assert abs(diff).max() < ATOL_EV


def test_gamma_is_real_and_general_k_hermitian(toy, cells64):
    h_op, s_op = toy.operators(cells64["As_Ga"])
    h0, s0 = bloch_pair(h_op, s_op)
    assert h0.dtype == np.float64 and s0.dtype == np.float64
    h, s = bloch_pair(h_op, s_op, k_frac=[0.1, 0.2, 0.35])
    assert np.iscomplexobj(h.data)
    for m in (h, s, h0, s0):
        assert abs(m - m.conj().T).max() < ATOL_EV


def test_reciprocal_lattice_vector_is_gamma(toy, cells64):
    h_op, _ = toy.operators(cells64["pristine"])
    diff = bloch_sum(h_op, k_frac=[1, 0, -1]) - bloch_sum(h_op)
    assert abs(diff).max() < ATOL_EV


def _dense_bloch_sum(op: BlockOperator, k_frac) -> np.ndarray:
    """O(k) entry by entry, edge by edge: the definition, with no grouping."""
    offsets = op.offsets()
    k_cart = fractional_to_cartesian(np.asarray(k_frac, float), op.structure.cell)
    out = np.zeros((offsets[-1], offsets[-1]), complex)
    for e in range(op.n_edges):
        i, j = op.edge_index[:, e]
        phase = np.exp(1j * (op.cell_shift[e] @ op.structure.cell) @ k_cart)
        out[offsets[i]:offsets[i + 1], offsets[j]:offsets[j + 1]] += phase * op.block(e)
    return out


def _three_atoms_two_shapes(rng) -> BlockOperator:
    """Three atoms, one with an s+p basis and one with s only (padded blocks), images included."""
    structure = Structure(np.array([31, 33, 31]), rng.random((3, 3)) * 4, np.diag([4.0, 5.0, 6.0]))
    basis = {31: "1x0e+1x1o", 33: "1x0e"}
    edge_index = np.array([[0, 0, 1, 2, 0, 1, 2, 0], [0, 1, 2, 2, 1, 0, 0, 0]])
    cell_shift = np.array([[0, 0, 0], [0, 0, 0], [1, 0, 0], [0, 0, 0], [1, 0, 0], [0, 0, 0], [0, -1, 0], [0, 0, 1]])
    return BlockOperator(structure, basis, edge_index, cell_shift, rng.normal(size=(8, 4, 4)))


@pytest.mark.parametrize("k", [None, [0.0, 0.0, 0.0], [1.0, 0.0, -1.0], [0.1, -0.25, 0.4]])
def test_dense_bloch_sum_is_the_definition(k, monkeypatch):
    """Padded blocks of atoms with different orbital counts, images summed, added in chunks of
    fewer edges than the operator has: the edge-by-edge definition, real at Γ."""
    import thermodefect.electronic.bloch as bloch

    monkeypatch.setattr(bloch, "DENSE_CHUNK_EDGES", 3)
    op = _three_atoms_two_shapes(np.random.default_rng(5))
    dense = bloch_dense(op, k_frac=k)
    assert dense.shape == (9, 9)
    np.testing.assert_allclose(dense, _dense_bloch_sum(op, [0, 0, 0] if k is None else k), atol=1e-12)
    np.testing.assert_allclose(dense, bloch_sum(op, k_frac=k).toarray(), atol=1e-12)
    assert (dense.dtype == np.float64) == (k is None or float(np.abs(np.asarray(k) - np.round(k)).max()) == 0.0)


def test_dense_pair_of_a_defect_cell_equals_the_sparse_pair(toy, cells64):
    h_op, s_op = toy.operators(cells64["As_Ga"])
    for k in ([0.0, 0.0, 0.0], [0.1, 0.2, 0.35]):
        for dense, sparse in zip(bloch_pair(h_op, s_op, k_frac=k, dense=True), bloch_pair(h_op, s_op, k_frac=k)):
            np.testing.assert_allclose(dense, sparse.toarray(), atol=1e-13)


def test_pair_fill_fraction_counts_each_atom_pair_once():
    op = _three_atoms_two_shapes(np.random.default_rng(6))
    # Pairs (0,0) (0,1) (1,2) (2,2) (1,0) (2,0): orbital counts 4, 1, 4 -> 16+4+4+16+4+16 of 81 entries.
    assert pair_fill_fraction(op) == pytest.approx(60 / 81)
    assert np.count_nonzero(bloch_sum(op).toarray()) == 60


def test_bloch_sums_sharing_an_edge_structure_stay_exact_call_after_call():
    """Operators on one edge structure (ensemble members, H and S) share the summation plan; every
    call, with zeros in the blocks or not, equals the edge-by-edge definition."""
    rng = np.random.default_rng(3)
    structure = Structure(np.array([31, 33, 31]), rng.random((3, 3)) * 4, np.diag([4.0, 5.0, 6.0]))
    basis = {31: "1x0e+1x1o", 33: "1x0e"}
    edge_index = np.array([[0, 0, 1, 2, 0, 1, 2, 0], [0, 1, 2, 2, 1, 0, 0, 0]])
    cell_shift = np.array([[0, 0, 0], [0, 0, 0], [1, 0, 0], [0, 0, 0], [1, 0, 0], [0, 0, 0], [0, -1, 0], [0, 0, 1]])
    first = BlockOperator(structure, basis, edge_index, cell_shift, rng.normal(size=(8, 4, 4)))
    zeros = rng.normal(size=(8, 4, 4))
    zeros[:, 0, :] = 0.0  # whole rows of zeros: eliminated from the matrix, which must not change the plan
    second = BlockOperator(structure, basis, edge_index, cell_shift, zeros)
    for _ in range(2):
        for op in (first, second, first):
            for k in ([0.0, 0.0, 0.0], [0.1, -0.25, 0.4]):
                np.testing.assert_allclose(bloch_sum(op, k_frac=k).toarray(), _dense_bloch_sum(op, k), atol=1e-12)
