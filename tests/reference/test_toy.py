"""The Slater–Koster toy reference: SK table, hermiticity, equivariance, forces."""

import numpy as np
import pytest

from thermodefect.orbitals import wigner_d
from thermodefect.reference.toy import ToyTightBinding, _bond_frame_block, _frame_wigner, gaas_parameters
from thermodefect.structures import pristine_supercell, rattle

ATOL_EV = 1e-10
FORCE_ATOL_EV_PER_ANGSTROM = 1e-5
FD_STEP_ANGSTROM = 1e-4


def _cell(n_atoms=8, scale=1.0, stdev=0.1):
    atoms = pristine_supercell("Ga", "As", 5.65 * scale, n_atoms, "cubic")
    return rattle(atoms, 1, stdev, seed=3)[0]


def _keyed(op):
    return op.as_dict()


def test_sp_blocks_follow_the_slater_koster_table():
    params = gaas_parameters()
    u = np.array([0.3, -0.5, 0.8])
    u /= np.linalg.norm(u)
    frame = _bond_frame_block(params.hopping_ev["Ga"], params.hopping_ev["As"], "1x0e+1x1o")
    d = _frame_wigner("1x0e+1x1o", u[None])[0]
    block = d @ frame @ d.T
    ss, sp_ga, sp_as = params.hopping_ev["Ga"][0, 0, 0], params.hopping_ev["Ga"][0, 1, 0], params.hopping_ev["As"][0, 1, 0]
    pps, ppp = params.hopping_ev["Ga"][1, 1, 0], params.hopping_ev["Ga"][1, 1, 1]
    expected = np.zeros((4, 4))
    expected[0, 0] = ss
    expected[0, 1:] = u * sp_ga  # s on atom i (Ga), p on j: E_{s,x} = l V_spσ
    expected[1:, 0] = -u * sp_as  # p on i, s on j (As): E_{x,s} = -l V_spσ
    expected[1:, 1:] = np.outer(u, u) * (pps - ppp) + np.eye(3) * ppp
    np.testing.assert_allclose(block, expected, atol=ATOL_EV)


@pytest.mark.parametrize("with_d", [False, True])
def test_blocks_are_hermitian(with_d):
    h, s = ToyTightBinding(with_d=with_d).operators(_cell())
    for op in (h, s):
        blocks = _keyed(op)
        for (rx, ry, rz, i, j), block in blocks.items():
            np.testing.assert_allclose(block, blocks[(-rx, -ry, -rz, j, i)].T, atol=ATOL_EV)


@pytest.mark.parametrize("with_d", [False, True])
def test_blocks_rotate_with_the_structure(with_d):
    atoms = _cell()
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rotation = q * np.sign(np.linalg.det(q))
    rotated = atoms.copy()
    rotated.set_cell(atoms.cell[:] @ rotation.T, scale_atoms=False)
    rotated.positions = atoms.positions @ rotation.T
    calc = ToyTightBinding(with_d=with_d)
    h, s = calc.operators(atoms)
    h_rot, s_rot = calc.operators(rotated)
    d = wigner_d(calc.toy.basis_irreps, rotation)
    for op, op_rot in ((h, h_rot), (s, s_rot)):
        blocks, blocks_rot = _keyed(op), _keyed(op_rot)
        assert blocks.keys() == blocks_rot.keys()
        for key, block in blocks.items():
            np.testing.assert_allclose(blocks_rot[key], d @ block @ d.T, atol=1e-9)


@pytest.mark.parametrize("scale", [1.0, 1.25])  # 1.25 puts bonds inside the cutoff taper
def test_forces_match_finite_differences(scale):
    atoms = _cell(scale=scale, stdev=0.15)
    calc = ToyTightBinding()
    _, forces = calc.morse_energy_forces(atoms)
    numeric = np.zeros_like(forces)
    for a in range(len(atoms)):
        for c in range(3):
            plus, minus = atoms.copy(), atoms.copy()
            plus.positions[a, c] += FD_STEP_ANGSTROM
            minus.positions[a, c] -= FD_STEP_ANGSTROM
            numeric[a, c] = -(calc.morse_energy_forces(plus)[0] - calc.morse_energy_forces(minus)[0]) / (2 * FD_STEP_ANGSTROM)
    assert np.abs(forces).max() > 0.01
    np.testing.assert_allclose(forces, numeric, atol=FORCE_ATOL_EV_PER_ANGSTROM)


def test_bond_length_is_the_equilibrium():
    atoms = pristine_supercell("Ga", "As", 5.65, 8, "cubic")
    atoms.calc = ToyTightBinding()
    energies = []
    for a in (5.60, 5.65, 5.70):
        atoms.set_cell(np.eye(3) * a, scale_atoms=True)
        energies.append(atoms.get_potential_energy())
    assert energies[1] < energies[0] and energies[1] < energies[2]
    assert np.abs(atoms.get_forces()).max() < 1e-10  # symmetric cell


def test_hamiltonian_sample_contract():
    atoms = _cell()
    atoms.info["defect"] = "pristine"
    sample = ToyTightBinding().hamiltonian_sample(atoms)
    assert sample.provenance["reference"] == "toy"
    assert sample.n_electrons == 4 * 3 + 4 * 5
    assert sample.metadata["defect"] == "pristine"
    h, s = sample.realspace
    assert set(sample.basis.values()) == {"1x0e+1x1o"}
    assert h.blocks.shape[1:] == (4, 4) and s is not None
    onsite = [e for e in range(h.n_edges) if h.edge_index[0, e] == h.edge_index[1, e] and not h.cell_shift[e].any()]
    assert len(onsite) == len(atoms)
    np.testing.assert_allclose(s.blocks[onsite], np.broadcast_to(np.eye(4), (len(atoms), 4, 4)))


def test_unknown_species_is_a_user_error():
    from thermodefect.core.errors import UserInputError

    atoms = _cell()
    atoms[0].symbol = "Si"
    with pytest.raises(UserInputError, match="no parameters for Si"):
        ToyTightBinding().operators(atoms)
