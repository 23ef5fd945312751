"""``thermodefect convert`` as a user runs it: DeepH legacy <-> DeepH-dock <-> HDF5 dataset."""

import json

import h5py
import numpy as np
import pytest
from ase.build import bulk

from thermodefect.cli.main import main
from thermodefect.data.deeph import write_deeph
from thermodefect.data.deeph_dock import read_deeph_any, write_deeph_dock
from thermodefect.data.hamiltonians import HamiltonianDataset
from thermodefect.data.operators import HamiltonianSample, KSpaceMatrices
from thermodefect.reference.toy import ToyTightBinding

ATOL = 1e-12


def convert(capsys, *args):
    code = main(["convert", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def toy_samples():
    toy = ToyTightBinding()
    cells = [bulk("GaAs", "zincblende", a=5.65, cubic=True) for _ in range(2)]
    cells[1].rattle(0.05, seed=1)
    return [toy.hamiltonian_sample(atoms) for atoms in cells]


def assert_same_sample(a: HamiltonianSample, b: HamiltonianSample) -> None:
    assert a.basis == b.basis and a.n_electrons == b.n_electrons
    np.testing.assert_allclose(b.structure.positions, a.structure.positions, atol=ATOL)
    for op_a, op_b in zip(a.realspace, b.realspace):
        assert op_a.as_dict().keys() == op_b.as_dict().keys()
        for key, block in op_a.as_dict().items():
            np.testing.assert_allclose(op_b.as_dict()[key], block, rtol=0, atol=ATOL)


def no_leftovers(folder):
    return not [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_dataset_to_dock_folders_and_back(tmp_path, capsys):
    samples = toy_samples()
    dataset = HamiltonianDataset(tmp_path / "hamiltonians.h5")
    keys = [dataset.append(sample) for sample in samples]
    code, out, err = convert(capsys, tmp_path / "hamiltonians.h5", tmp_path / "dft", "--to", "deeph-dock")
    assert code == 0, err
    assert "converted 2 sample(s) from the hdf5 dataset" in out
    assert sorted(p.name for p in (tmp_path / "dft").iterdir()) == sorted(keys)
    for key, sample in zip(keys, samples):
        assert (tmp_path / "dft" / key / "POSCAR").is_file()
        assert_same_sample(sample, read_deeph_any(tmp_path / "dft" / key))
    # The tree of dock folders (a DeepH-dock dft/ folder) back into a dataset: same samples.
    code, out, err = convert(capsys, tmp_path / "dft", tmp_path / "again.h5", "--to", "hdf5")
    assert code == 0, err
    again = HamiltonianDataset(tmp_path / "again.h5")
    assert sorted(again.keys()) == sorted(keys)
    for key, sample in zip(keys, samples):
        assert_same_sample(sample, again[key])
    assert no_leftovers(tmp_path)


def test_legacy_to_dock_to_legacy_keeps_blocks_and_fermi_level(tmp_path, capsys):
    sample = toy_samples()[1]
    legacy = write_deeph(sample, tmp_path / "legacy", fermi_level_ev=3.25)
    code, out, err = convert(capsys, legacy, tmp_path / "dock", "--to", "deeph-dock")
    assert code == 0, err
    assert "from the deeph folder" in out
    assert json.loads((tmp_path / "dock" / "info.json").read_text())["fermi_energy_eV"] == 3.25
    code, out, err = convert(capsys, tmp_path / "dock", tmp_path / "legacy-again", "--to", "deeph")
    assert code == 0, err
    assert "from the deeph-dock folder" in out
    assert json.loads((tmp_path / "legacy-again" / "info.json").read_text())["fermi_level"] == 3.25
    for name in ("hamiltonians.h5", "overlaps.h5"):
        with h5py.File(legacy / name) as a, h5py.File(tmp_path / "legacy-again" / name) as b:
            assert set(a) == set(b)
            for key in a:
                np.testing.assert_allclose(b[key][()], a[key][()], rtol=0, atol=ATOL)


def dock_tree_without_electrons(root):
    """Two DeepH-dock folders as DeepH-dock writes them: no n_electrons in info.json."""
    for name, sample in zip(("0", "1"), toy_samples()):
        folder = write_deeph_dock(sample, root / name)
        info = json.loads((folder / "info.json").read_text())
        del info["n_electrons"], info["metadata"], info["provenance"]
        (folder / "info.json").write_text(json.dumps(info))
    return root


def test_valence_electrons_fill_in_what_info_json_lacks(tmp_path, capsys):
    source = dock_tree_without_electrons(tmp_path / "dft")
    code, out, err = convert(capsys, source, tmp_path / "h.h5", "--to", "hdf5")
    assert code == 2 and "valence electrons" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "h.h5").exists() and not (tmp_path / "h.h5.d").exists() and no_leftovers(tmp_path)
    code, out, err = convert(capsys, source, tmp_path / "h.h5", "--to", "hdf5", "--valence-electrons", "Ga=3,As=5")
    assert code == 0, err
    dataset = HamiltonianDataset(tmp_path / "h.h5")
    assert len(dataset) == 2
    assert all(dataset[key].n_electrons == 4 * 3 + 4 * 5 for key in dataset.keys())


def test_a_bad_folder_leaves_no_target(tmp_path, capsys):
    source = dock_tree_without_electrons(tmp_path / "dft")
    with h5py.File(source / "1" / "hamiltonian.h5", "a") as f:
        del f["entries"]
    for to in ("deeph", "hdf5"):
        code, out, err = convert(capsys, source, tmp_path / "out", "--to", to, "--valence-electrons", "Ga=3,As=5")
        assert code == 2 and "Traceback" not in err
        assert err.startswith("error: ") and "1/hamiltonian.h5: missing dataset(s) entries" in err
        assert len(err.strip().splitlines()) == 1
        assert not (tmp_path / "out").exists() and not (tmp_path / "out.h5.d").exists() and no_leftovers(tmp_path)


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["missing", "out", "--to", "deeph"], "missing: not found"),
        (["src", "out", "--to", "deeph", "--valence-electrons", "Ga:3"], "--valence-electrons: 'Ga:3' is not ELEMENT=ELECTRONS"),
        (["src", "out", "--to", "openmx"], "--to"),
        (["src/hamiltonian.h5", "out", "--to", "deeph"], "give the structure folder that holds it"),
        (["src", "src", "--to", "deeph"], "already exists"),
        (["kspace.h5", "out", "--to", "deeph-dock"], "holds k-space matrices only"),
        (["empty", "out", "--to", "deeph"], "neither a DeepH structure folder"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, monkeypatch, args, fragment):
    write_deeph_dock(toy_samples()[0], tmp_path / "src")
    (tmp_path / "empty").mkdir()
    sample = toy_samples()[0]
    n_orbitals = 4 * len(sample.structure.numbers)  # s + p per atom
    h, s = (np.eye(n_orbitals)[None],) * 2
    kspace = HamiltonianSample(sample.structure, sample.basis, 32.0, kspace=KSpaceMatrices(np.zeros((1, 3)), h, s))
    HamiltonianDataset(tmp_path / "kspace.h5").append(kspace)
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = convert(capsys, *args)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and fragment in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, no temporary left


def test_duplicate_structures_cannot_share_a_dataset(tmp_path, capsys):
    sample = toy_samples()[0]
    write_deeph(sample, tmp_path / "dft" / "a")
    write_deeph_dock(sample, tmp_path / "dft" / "b")
    code, out, err = convert(capsys, tmp_path / "dft", tmp_path / "h.h5", "--to", "hdf5")
    assert code == 2 and "a and b hold the same structure" in err
    assert not (tmp_path / "h.h5").exists()


def test_the_command_offers_every_target_form():
    from thermodefect.cli.convert import TargetForm
    from thermodefect.data.conversion import TARGETS

    assert [form.value for form in TargetForm] == list(TARGETS)
