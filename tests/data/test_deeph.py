"""DeepH folder layout <-> HamiltonianSample, and the orbital conventions behind it."""

import json

import h5py
import numpy as np
import torch
from ase.build import bulk

from thermodefect.core.compat import import_e3nn_o3
from thermodefect.data.conventions import openmx_from_package, wikipedia_from_package
from thermodefect.data.deeph import read_deeph, write_deeph
from thermodefect.data.operators import BlockOperator, HamiltonianSample, Structure, orbital_offsets

ATOL = 1e-12
BASIS = {31: "2x0e+1x1o+1x2e", 33: "1x0e+1x1o"}  # different bases per species, two s shells


def wikipedia_harmonics(l, v):
    """Real spherical harmonics as tabulated on Wikipedia, m = -l..l (unit vectors)."""
    x, y, z = v.T
    pi = np.pi
    if l == 1:
        return np.sqrt(3 / (4 * pi)) * np.stack([y, z, x], 1)
    c = 0.5 * np.sqrt(15 / pi)
    return np.stack([c * x * y, c * y * z, 0.25 * np.sqrt(5 / pi) * (3 * z * z - 1), c * x * z, 0.5 * c * (x * x - y * y)], 1)


def test_wikipedia_convention_matches_explicit_formulas():
    o3 = import_e3nn_o3()
    v = np.random.default_rng(0).normal(size=(20, 3))
    v /= np.linalg.norm(v, axis=1)[:, None]
    for l in (1, 2):
        package = o3.spherical_harmonics(l, torch.tensor(v), normalize=True, normalization="integral").numpy()
        np.testing.assert_allclose(package @ wikipedia_from_package(l).T, wikipedia_harmonics(l, v), atol=ATOL)


def test_openmx_order_is_x_y_z_for_p_and_z2_first_for_d():
    o3 = import_e3nn_o3()
    v = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    p = o3.spherical_harmonics(1, torch.tensor(v), normalize=True, normalization="integral").numpy() @ openmx_from_package(1).T
    assert np.all(np.argmax(np.abs(p), axis=1) == [0, 1, 2])  # px, py, pz
    d = o3.spherical_harmonics(2, torch.tensor(v), normalize=True, normalization="integral").numpy() @ openmx_from_package(2).T
    assert np.argmax(np.abs(d[2])) == 0  # along z only d_z2 (first) is largest


def random_sample(seed=0) -> HamiltonianSample:
    atoms = bulk("GaAs", "zincblende", a=5.65)
    structure = Structure.from_atoms(atoms)
    off = orbital_offsets(structure.numbers, BASIS)
    width = int(np.diff(off).max())
    rng = np.random.default_rng(seed)
    edges = [(0, 0), (0, 1), (1, 0), (1, 1), (0, 1)]
    shifts = [(0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (1, 0, -1)]
    blocks = rng.normal(size=(len(edges), width, width))
    for e, (i, j) in enumerate(edges):  # zero the padding
        blocks[e, off[i + 1] - off[i] :, :] = 0
        blocks[e, :, off[j + 1] - off[j] :] = 0
    h = BlockOperator(structure, BASIS, np.array(edges).T, np.array(shifts), blocks)
    s = BlockOperator(structure, BASIS, np.array(edges).T, np.array(shifts), 0.1 * blocks)
    return HamiltonianSample(structure, BASIS, 8.0, realspace=(h, s), metadata={"defect": "pristine"}, provenance={"reference": "test"})


def test_deeph_round_trip(tmp_path):
    sample = random_sample()
    folder = write_deeph(sample, tmp_path / "structure-0")
    with h5py.File(folder / "hamiltonians.h5") as f:
        assert "[1, 0, -1, 1, 2]" in f  # 1-based atoms
        assert f["[0, 0, 0, 1, 2]"].shape == (10, 4)
    assert (folder / "orbital_types.dat").read_text().split("\n")[0] == "0 0 1 2"
    assert json.loads((folder / "info.json").read_text())["norbits"] == 14
    np.testing.assert_allclose(np.loadtxt(folder / "lat.dat").T, sample.structure.cell)
    back = read_deeph(folder)
    assert back.basis == BASIS and back.n_electrons == 8.0
    for original, read in zip(sample.realspace, back.realspace):
        assert original.as_dict().keys() == read.as_dict().keys()
        for key, block in original.as_dict().items():
            np.testing.assert_allclose(read.as_dict()[key], block, atol=ATOL)


def test_deeph_files_are_in_openmx_order(tmp_path):
    sample = random_sample()
    folder = write_deeph(sample, tmp_path / "s")
    with h5py.File(folder / "hamiltonians.h5") as f:
        stored = f["[0, 0, 0, 2, 2]"][()]  # As-As onsite, basis s + p
    package = sample.realspace[0].as_dict()[(0, 0, 0, 1, 1)]
    # OpenMX p order (x, y, z) equals the package's: the block is unchanged.
    np.testing.assert_allclose(stored, package, atol=ATOL)
    with h5py.File(folder / "hamiltonians.h5") as f:
        ga = f["[0, 0, 0, 1, 1]"][()]
    m = openmx_from_package(2)
    np.testing.assert_allclose(ga[5:, 5:], m @ sample.realspace[0].as_dict()[(0, 0, 0, 0, 0)][5:, 5:] @ m.T, atol=ATOL)


def test_deeph_reference_returns_the_folder_of_the_same_structure(tmp_path):
    from thermodefect.reference.registry import get_reference
    from thermodefect.settings import ReferenceSettings

    from thermodefect.data.deeph_dock import write_deeph_dock

    sample = random_sample()
    write_deeph(sample, tmp_path / "data" / "s0")
    # A second structure in the DeepH-dock layout, in the same tree.
    other = random_sample(seed=5)
    other.structure.positions[0] += 0.1
    write_deeph_dock(other, tmp_path / "data" / "dock" / "s1")
    ref = get_reference(ReferenceSettings(name="deeph", options={"directory": str(tmp_path / "data")}))
    for expected in (sample, other):
        label = ref.label(expected.structure.to_atoms())
        assert label.energy_ev is None and label.sample.basis == BASIS
        np.testing.assert_allclose(label.sample.realspace[0].blocks, expected.realspace[0].blocks, atol=1e-10)
