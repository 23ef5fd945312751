"""Generalized eigenproblem: dense against scipy, sparse against dense, overlap checks."""

import numpy as np
import pytest
import scipy.linalg as la
import scipy.sparse as sp

from thermodefect.electronic import OverlapError, bloch_pair, count_below, solve_dense, solve_near, solve_near_gap
from thermodefect.electronic.levels import highest_occupied_index

ATOL_EV = 1e-8
N_NEAR = 16


def test_dense_generalized_problem_matches_scipy(toy, cells64):
    h_op, s_op = toy.operators(cells64["As_Ga"])
    h, s = bloch_pair(h_op, s_op, k_frac=[0.25, 0.0, 0.1])
    assert abs(s - sp.identity(s.shape[0])).max() > 0.01  # a real, non-identity overlap
    states = solve_dense(h, s)
    reference = la.eigh(h.toarray(), s.toarray(), eigvals_only=True)
    np.testing.assert_allclose(states.energies_ev, reference, atol=ATOL_EV)
    c = states.vectors
    np.testing.assert_allclose(c.conj().T @ (s @ c), np.eye(len(reference)), atol=1e-8)
    np.testing.assert_allclose(h @ c, (s @ c) * states.energies_ev, atol=1e-8)


def test_inertia_counts_states_below(toy, cells64):
    h, s = bloch_pair(*toy.operators(cells64["As_Ga"]), k_frac=[0.1, 0.3, 0.0])
    energies = solve_dense(h, s).energies_ev
    for sigma in (-5.0, 0.5, 1.7, 3.0):
        assert count_below(h, s, sigma) == np.count_nonzero(energies < sigma)


@pytest.mark.parametrize("name", ["pristine", "As_Ga"])
def test_sparse_states_near_the_gap_match_dense(toy, cells64, name):
    atoms = cells64[name]
    h, s = bloch_pair(*toy.operators(atoms))
    n_occupied = highest_occupied_index(toy.n_electrons(atoms)) + 1
    dense = solve_dense(h, s)
    near = solve_near_gap(h, s, n_occupied, N_NEAR)
    assert near.indices[0] <= n_occupied - 1 < n_occupied <= near.indices[-1]
    np.testing.assert_allclose(near.energies_ev, dense.energies_ev[near.indices], atol=ATOL_EV)
    # Same states: |<c_dense|S|c_sparse>| = 1 for the non-degenerate ones.
    for col, index in enumerate(near.indices):
        if np.min(np.abs(np.delete(dense.energies_ev, index) - dense.energies_ev[index])) > 1e-4:
            assert abs(dense.vectors[:, index] @ (s @ near.vectors[:, col])) == pytest.approx(1.0, abs=1e-6)


def test_sparse_with_a_given_target(toy, cells64):
    h, s = bloch_pair(*toy.operators(cells64["pristine"]))
    dense = solve_dense(h, s).energies_ev
    near = solve_near(h, s, 8, sigma_ev=0.9)
    np.testing.assert_allclose(near.energies_ev, dense[near.indices], atol=ATOL_EV)
    assert np.all(np.abs(near.energies_ev - 0.9) <= np.sort(np.abs(dense - 0.9))[7] + 1e-9)


def test_nearly_singular_overlap_is_a_clear_error():
    h = sp.diags([1.0, 2.0, 3.0]).tocsr()
    s = sp.csr_matrix(np.array([[1.0, 0.9999999, 0], [0.9999999, 1.0, 0], [0, 0, 1.0]]))
    with pytest.raises(OverlapError, match=r"smallest eigenvalue 1\.0\d*e-07"):
        solve_dense(h, s)
    with pytest.raises(OverlapError, match="smallest eigenvalue"):
        solve_near(h, s, 1, 0.0)


def test_canonical_orthogonalization_matches_generalized_problem_and_drops_bad_directions():
    """Well-conditioned S: same spectrum. Indefinite S: the negative direction is dropped, not fatal."""
    import numpy as np
    import scipy.linalg

    from thermodefect.electronic.eigen import solve_canonical, solve_dense

    rng = np.random.default_rng(3)
    a = rng.normal(size=(12, 12))
    h = a + a.T
    b = rng.normal(size=(12, 12)) * 0.1
    s = np.eye(12) + b @ b.T
    full = solve_canonical(h, s, cutoff=1e-12)
    assert np.allclose(full.energies_ev, scipy.linalg.eigh(h, s, eigvals_only=True), atol=1e-9)
    w, u = np.linalg.eigh(s)
    w[0] = -0.5  # a learned overlap that lost definiteness in one direction
    bad = (u * w) @ u.T
    states = solve_dense(h, bad, 1e-6, canonical_cutoff=1e-2)
    assert len(states.energies_ev) == 11
    c = states.vectors
    assert np.allclose(c.T @ bad @ c, np.eye(11), atol=1e-8)  # S-orthonormal in the kept space
    assert np.allclose(c.T @ h @ c, np.diag(states.energies_ev), atol=1e-8)
