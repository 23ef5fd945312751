"""DeepH-dock folder layout <-> HamiltonianSample, and conversions from and to the legacy DeepH layout."""

import json

import h5py
import numpy as np
import pytest
import scipy.linalg
from ase.build import bulk

from thermodefect.data.deeph import DeepHFormatError, read_deeph, write_deeph
from thermodefect.data.deeph_dock import (
    DOCK_LAYOUT,
    LEGACY_LAYOUT,
    deeph_layout,
    read_deeph_any,
    read_deeph_dock,
    read_fermi_level_ev,
    write_deeph_dock,
)
from thermodefect.data.operators import BlockOperator, HamiltonianSample
from thermodefect.electronic.bloch import bloch_pair
from thermodefect.reference.toy import ToyTightBinding

from .test_deeph import BASIS, random_sample

ATOL = 1e-12  # blocks after a write/read round trip (the order conversion is exact up to rounding)
ATOL_EV = 1e-9  # eigenvalues after a conversion
KPOINTS_FRAC = [(0.0, 0.0, 0.0), (0.5, 0.0, 0.0), (0.25, 0.25, 0.25), (0.1, 0.2, 0.3)]


def assert_same_blocks(a: BlockOperator, b: BlockOperator) -> None:
    assert a.as_dict().keys() == b.as_dict().keys()
    for key, block in a.as_dict().items():
        np.testing.assert_allclose(b.as_dict()[key], block, rtol=0, atol=ATOL)


def eigenvalues(sample: HamiltonianSample, k_frac) -> np.ndarray:
    h, s = bloch_pair(*sample.realspace, k_frac=np.asarray(k_frac))
    return scipy.linalg.eigh(h.toarray(), None if s is None else s.toarray(), eigvals_only=True)


@pytest.fixture(scope="module")
def toy_sample():
    """8-atom GaAs cell, s + p + d on both species, non-orthogonal, slightly rattled (no symmetry to hide an error)."""
    atoms = bulk("GaAs", "zincblende", a=5.65, cubic=True)
    atoms.rattle(0.05, seed=3)
    return ToyTightBinding(with_d=True).hamiltonian_sample(atoms)


def test_dock_round_trip_is_exact(tmp_path):
    sample = random_sample()
    folder = write_deeph_dock(sample, tmp_path / "0", fermi_level_ev=-2.25)
    back = read_deeph_dock(folder)
    assert back.basis == BASIS and back.n_electrons == 8.0
    assert back.metadata == {"defect": "pristine"} and back.provenance == {"reference": "test"}
    np.testing.assert_array_equal(back.structure.numbers, sample.structure.numbers)
    np.testing.assert_allclose(back.structure.positions, sample.structure.positions, atol=ATOL)
    np.testing.assert_allclose(back.structure.cell, sample.structure.cell, atol=ATOL)
    for original, read in zip(sample.realspace, back.realspace):
        assert_same_blocks(original, read)
    info = json.loads((folder / "info.json").read_text())
    assert info["elements_orbital_map"] == {"Ga": [0, 0, 1, 2], "As": [0, 1]}
    assert (info["atoms_quantity"], info["orbits_quantity"], info["spinful"], info["orthogonal_basis"]) == (2, 14, False, False)
    assert info["fermi_energy_eV"] == -2.25 and read_fermi_level_ev(folder) == -2.25


def test_dock_files_hold_chunked_blocks_with_zero_based_atoms(tmp_path):
    sample = random_sample()
    folder = write_deeph_dock(sample, tmp_path / "0")
    with h5py.File(folder / "hamiltonian.h5") as h, h5py.File(folder / "overlap.h5") as s:
        pairs = h["atom_pairs"][()]
        np.testing.assert_array_equal(pairs, s["atom_pairs"][()])  # one list of pairs for every file
        np.testing.assert_array_equal(pairs, [[0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 1, 1], [1, 0, -1, 0, 1]])
        np.testing.assert_array_equal(h["chunk_shapes"][()], [[10, 10], [10, 4], [4, 10], [4, 4], [10, 4]])
        np.testing.assert_array_equal(h["chunk_boundaries"][()], [0, 100, 140, 180, 196, 236])
        entries = h["entries"][()]
    assert entries.shape == (236,)
    # As-As onsite, s + p: Wikipedia p order (y, z, x) is the package's (x, y, z) rotated by one.
    stored = entries[180:196].reshape(4, 4)
    package = sample.realspace[0].as_dict()[(0, 0, 0, 1, 1)]
    order = [0, 2, 3, 1]  # Wikipedia (s, y, z, x) as package indices (s, x, y, z)
    np.testing.assert_allclose(stored, package[np.ix_(order, order)], atol=ATOL)


def write_hand_built_folder(folder, block_wiki):
    """One As atom (s + p shell) in a cubic 4 Å cell, written without the package's writer."""
    folder.mkdir()
    (folder / "POSCAR").write_text("hand built\n1.0\n4.0 0.0 0.0\n0.0 4.0 0.0\n0.0 0.0 4.0\nAs\n1\nDirect\n0.0 0.0 0.0\n")
    info = {"atoms_quantity": 1, "orbits_quantity": 4, "orthogonal_basis": True, "spinful": False,
            "fermi_energy_eV": 0.5, "elements_orbital_map": {"As": [0, 1]}}
    (folder / "info.json").write_text(json.dumps(info))
    with h5py.File(folder / "hamiltonian.h5", "w") as f:  # the onsite block and a hop to the image at +a1
        f["atom_pairs"] = np.array([[0, 0, 0, 0, 0], [1, 0, 0, 0, 0]])
        f["chunk_boundaries"] = np.array([0, block_wiki.size, 2 * block_wiki.size])
        f["chunk_shapes"] = np.array([block_wiki.shape] * 2)
        f["entries"] = np.concatenate([block_wiki.ravel(), -block_wiki.T.ravel()])
    return folder


def test_hand_built_p_shell_is_read_from_the_wikipedia_order(tmp_path):
    # Rows and columns in the file: s, p_y, p_z, p_x (Wikipedia, m = -1, 0, 1).
    block_wiki = np.arange(16.0).reshape(4, 4)
    folder = write_hand_built_folder(tmp_path / "as", block_wiki)
    sample = read_deeph_dock(folder, n_electrons=5.0)
    assert sample.basis == {33: "1x0e+1x1o"} and sample.realspace[1] is None  # orthogonal: no overlap
    # The package orders the p shell x, y, z, so element [a, b] is the file's element at
    # (s->0, x->3, y->1, z->2). Written out by hand:
    expected = np.array([
        [0.0, 3.0, 1.0, 2.0],
        [12.0, 15.0, 13.0, 14.0],
        [4.0, 7.0, 5.0, 6.0],
        [8.0, 11.0, 9.0, 10.0],
    ])
    blocks = sample.realspace[0].as_dict()
    assert list(blocks) == [(0, 0, 0, 0, 0), (1, 0, 0, 0, 0)]  # R = (1, 0, 0) stays the cell shift of atom j
    np.testing.assert_allclose(blocks[(0, 0, 0, 0, 0)], expected, atol=ATOL)
    np.testing.assert_allclose(blocks[(1, 0, 0, 0, 0)], -expected.T, atol=ATOL)
    # Written back, the file's numbers come out in the file's order again.
    again = write_deeph_dock(sample, tmp_path / "again", fermi_level_ev=read_fermi_level_ev(folder))
    with h5py.File(again / "hamiltonian.h5") as f:
        np.testing.assert_array_equal(f["atom_pairs"][()], [[0, 0, 0, 0, 0], [1, 0, 0, 0, 0]])
        np.testing.assert_allclose(f["entries"][()], np.concatenate([block_wiki.ravel(), -block_wiki.T.ravel()]), atol=ATOL)
    with h5py.File(again / "overlap.h5") as f:  # the layout requires an overlap: the identity for an orthogonal basis
        np.testing.assert_allclose(f["entries"][()], np.concatenate([np.eye(4).ravel(), np.zeros(16)]), atol=ATOL)
    assert json.loads((again / "info.json").read_text())["fermi_energy_eV"] == 0.5


def test_crystal_field_on_p_x_lands_on_the_package_p_x(tmp_path):
    # A field that lowers only p_x: the last p orbital in the file, the first in the package.
    folder = write_hand_built_folder(tmp_path / "as", np.diag([0.0, 0.0, 0.0, -1.0]))  # (s, y, z, x)
    block = read_deeph_dock(folder, n_electrons=5.0).realspace[0].as_dict()[(0, 0, 0, 0, 0)]
    np.testing.assert_allclose(np.diag(block), [0.0, -1.0, 0.0, 0.0], atol=ATOL)


def test_legacy_to_dock_to_legacy_is_identical(tmp_path):
    legacy = write_deeph(random_sample(seed=4), tmp_path / "legacy")
    dock = write_deeph_dock(read_deeph_any(legacy), tmp_path / "dock")
    legacy_again = write_deeph(read_deeph_any(dock), tmp_path / "legacy-again")
    for name in ("hamiltonians.h5", "overlaps.h5"):
        with h5py.File(legacy / name) as a, h5py.File(legacy_again / name) as b:
            assert set(a) == set(b)
            for key in a:
                np.testing.assert_allclose(b[key][()], a[key][()], rtol=0, atol=ATOL)
    for name in ("element.dat", "orbital_types.dat"):
        assert (legacy_again / name).read_text() == (legacy / name).read_text()
    for name in ("lat.dat", "site_positions.dat"):
        np.testing.assert_allclose(np.loadtxt(legacy_again / name), np.loadtxt(legacy / name), atol=ATOL)


def test_conversions_keep_eigenvalues_and_bands(tmp_path, toy_sample):
    dock = read_deeph_any(write_deeph_dock(toy_sample, tmp_path / "dock"))
    legacy = read_deeph_any(write_deeph(dock, tmp_path / "legacy"))
    dock_again = read_deeph_any(write_deeph_dock(legacy, tmp_path / "dock-again"))
    for k_frac in KPOINTS_FRAC:
        reference = eigenvalues(toy_sample, k_frac)
        assert np.ptp(reference) > 10.0  # a real band structure, not a degenerate toy
        for converted in (dock, legacy, dock_again):
            np.testing.assert_allclose(eigenvalues(converted, k_frac), reference, rtol=0, atol=ATOL_EV)


def test_layout_is_recognised_from_the_files(tmp_path, toy_sample):
    dock = write_deeph_dock(toy_sample, tmp_path / "dock")
    legacy = write_deeph(toy_sample, tmp_path / "legacy")
    assert deeph_layout(dock) == DOCK_LAYOUT and deeph_layout(legacy) == LEGACY_LAYOUT
    assert deeph_layout(tmp_path) is None
    assert read_deeph_any(dock).provenance == read_deeph_any(legacy).provenance == toy_sample.provenance
    assert_same_blocks(read_deeph_any(dock).realspace[0], read_deeph_any(legacy).realspace[0])
    with pytest.raises(DeepHFormatError, match="looks like a DeepH-dock folder"):
        read_deeph(dock)  # the legacy reader says where to look instead


def test_orthogonal_sample_gets_identity_overlap_and_reads_back_without_one(tmp_path):
    atoms = bulk("GaAs", "zincblende", a=5.65, cubic=True)
    sample = ToyTightBinding(orthogonal=True).hamiltonian_sample(atoms)
    folder = write_deeph_dock(sample, tmp_path / "0")
    assert json.loads((folder / "info.json").read_text())["orthogonal_basis"] is True
    back = read_deeph_dock(folder)
    assert back.realspace[1] is None
    assert_same_blocks(sample.realspace[0], back.realspace[0])
    np.testing.assert_allclose(eigenvalues(back, (0.0, 0.0, 0.0)), eigenvalues(sample, (0.0, 0.0, 0.0)), atol=ATOL_EV)


def test_pairs_only_one_operator_has_are_stored_as_zeros(tmp_path):
    sample = random_sample()
    h, s = sample.realspace
    keep = [0, 1, 2, 3]  # the overlap lacks the (1, 0, -1) pair
    s_fewer = BlockOperator(s.structure, s.basis, s.edge_index[:, keep], s.cell_shift[keep], s.blocks[keep])
    sample = HamiltonianSample(sample.structure, sample.basis, 8.0, realspace=(h, s_fewer))
    back = read_deeph_dock(write_deeph_dock(sample, tmp_path / "0"))
    assert back.realspace[1].as_dict().keys() == h.as_dict().keys()
    np.testing.assert_array_equal(back.realspace[1].as_dict()[(1, 0, -1, 0, 1)], 0.0)
    k = np.array([0.2, 0.1, 0.3])
    np.testing.assert_allclose(bloch_pair(*back.realspace, k_frac=k)[1].toarray(), bloch_pair(h, s_fewer, k_frac=k)[1].toarray(), atol=ATOL)


# -- bad files -------------------------------------------------------------------
def _edit_h5(path, **datasets):
    with h5py.File(path, "a") as f:
        for name, value in datasets.items():
            del f[name]
            if value is not None:
                f[name] = value


def _edit_info(folder, **changes):
    info = json.loads((folder / "info.json").read_text())
    info.update(changes)
    (folder / "info.json").write_text(json.dumps(info))


def _transpose_second_block(folder):
    with h5py.File(folder / "hamiltonian.h5") as f:
        shapes = f["chunk_shapes"][()]
    shapes[1] = shapes[1][::-1]  # (10, 4) stored as (4, 10): same size, wrong for the orbitals
    _edit_h5(folder / "hamiltonian.h5", chunk_shapes=shapes)


def _atom_out_of_range(folder):
    with h5py.File(folder / "hamiltonian.h5") as f:
        pairs = f["atom_pairs"][()]
    pairs[4, 4] = 7
    _edit_h5(folder / "hamiltonian.h5", atom_pairs=pairs)


def _short_boundaries(folder):
    with h5py.File(folder / "hamiltonian.h5") as f:
        boundaries = f["chunk_boundaries"][()]
    boundaries[-1] -= 1
    _edit_h5(folder / "hamiltonian.h5", chunk_boundaries=boundaries)


BAD_FOLDERS = {
    "missing dataset": (lambda d: _edit_h5(d / "hamiltonian.h5", chunk_shapes=None), r"hamiltonian.h5: missing dataset\(s\) chunk_shapes"),
    "block shape vs orbitals": (_transpose_second_block, r"block #1 \[0, 0, 0, 0, 1\] has shape \(4, 10\), the orbital basis of its atoms needs \(10, 4\)"),
    "atom out of range": (_atom_out_of_range, r"block #4 \[1, 0, -1, 0, 7\] names an atom outside the structure's 2 atoms"),
    "boundaries": (_short_boundaries, "chunk_boundaries do not match chunk_shapes"),
    "spinful": (lambda d: _edit_info(d, spinful=True), "spinful"),
    "element missing from map": (lambda d: _edit_info(d, elements_orbital_map={"Ga": [0, 0, 1, 2]}), "no entry for As"),
    "bad l list": (lambda d: _edit_info(d, elements_orbital_map={"Ga": [0, 0, 1, 2], "As": ["s", "p"]}), r"elements_orbital_map\['As'\] must be"),
    "orbital count": (lambda d: _edit_info(d, elements_orbital_map={"Ga": [0, 1, 2], "As": [0, 1]}), "orbits_quantity is 14, elements_orbital_map gives 13"),
    "atom count": (lambda d: _edit_info(d, atoms_quantity=3), "atoms_quantity is 3, POSCAR gives 2"),
    "missing overlap": (lambda d: (d / "overlap.h5").unlink(), "missing overlap.h5"),
    "overlap not identity": (lambda d: _edit_info(d, orthogonal_basis=True), "orthogonal_basis but this overlap is not the identity"),
    "POSCAR": (lambda d: (d / "POSCAR").write_text("not a structure\n"), "POSCAR: not a readable VASP structure"),
    "HDF5": (lambda d: (d / "hamiltonian.h5").write_text("text"), "hamiltonian.h5: not a readable HDF5 file"),
    "info JSON": (lambda d: (d / "info.json").write_text("{"), "info.json: not readable JSON"),
}


@pytest.mark.parametrize("case", list(BAD_FOLDERS))
def test_bad_dock_folder_is_a_one_line_format_error(tmp_path, case):
    corrupt, message = BAD_FOLDERS[case]
    folder = write_deeph_dock(random_sample(), tmp_path / "0")
    corrupt(folder)
    with pytest.raises(DeepHFormatError, match=message) as info:
        read_deeph_dock(folder)
    assert "\n" not in str(info.value)


def test_missing_files_and_electrons_are_named(tmp_path):
    folder = write_deeph_dock(random_sample(), tmp_path / "0")
    info = json.loads((folder / "info.json").read_text())
    del info["n_electrons"]
    (folder / "info.json").write_text(json.dumps(info))
    with pytest.raises(DeepHFormatError, match="no n_electrons"):
        read_deeph_dock(folder)
    assert read_deeph_dock(folder, n_electrons=8.0).n_electrons == 8.0
    (folder / "POSCAR").unlink()
    with pytest.raises(DeepHFormatError, match=r"not a DeepH-dock structure folder \(missing POSCAR\)"):
        read_deeph_dock(folder)
