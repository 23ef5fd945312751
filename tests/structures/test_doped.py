"""doped names and defect sets: read from files doped wrote (fixtures/make_doped_fixture.py), without doped."""

import copy
import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.geometry import get_distances

from thermodefect.structures import StructureError, defect_neighbours, make_defect, parse_defect, pristine_supercell
from thermodefect.structures.doped import DopedName, parse_doped_name, read_doped, to_doped_name

FIXTURES = Path(__file__).parent / "fixtures"
GENERATOR = FIXTURES / "GaAs_defects_generator.json.gz"
DOPED_ENTRY = FIXTURES / "GaAs_As_Ga_0_defect_entry.json.gz"
PYMATGEN_ENTRY = FIXTURES / "GaAs_Ga_i_pmg_defect_entry.json"
A = 5.65  # Å, the lattice constant the fixture was generated with
BOND = np.sqrt(3) * A / 4
ATOL_ANGSTROM = 1e-6

# doped name -> (this package's name, interstitial site, Ga count, As count) for the 16-atom fixture
NATIVE = {
    "v_Ga": ("V_Ga", None, 7, 8),
    "v_As": ("V_As", None, 8, 7),
    "Ga_As": ("Ga_As", None, 9, 7),
    "As_Ga": ("As_Ga", None, 7, 9),
    "Ga_i_C3v": ("Ga_i", "C3v", 9, 8),
    "Ga_i_Td_As2.45": ("Ga_i", "As", 9, 8),
    "Ga_i_Td_Ga2.45": ("Ga_i", "Ga", 9, 8),
    "As_i_C3v": ("As_i", "C3v", 8, 9),
    "As_i_Td_As2.45": ("As_i", "As", 8, 9),
    "As_i_Td_Ga2.45": ("As_i", "Ga", 8, 9),
}
TETRAHEDRAL = [k for k, (_, site, _, _) in NATIVE.items() if site in ("Ga", "As")]


def raw(path: Path) -> dict:
    data = path.read_bytes()
    return json.loads(gzip.decompress(data) if path.suffix == ".gz" else data)


def dump(tmp_path: Path, data: dict, name: str = "set.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def doped_set():
    return read_doped(GENERATOR, "Ga", "As")


@pytest.mark.parametrize("doped_name", NATIVE)
def test_names_map_both_ways(doped_name):
    name, site, _, _ = NATIVE[doped_name]
    parsed = parse_doped_name(doped_name)
    assert (parsed.name, parsed.interstitial_site, parsed.charge) == (name, site, None)
    assert to_doped_name(name, site, BOND) == doped_name
    assert parse_doped_name(f"{doped_name}_-2").charge == -2
    assert parse_doped_name(f"{doped_name}_0") == DopedName(name, parsed.point_group, site, 0)


@pytest.mark.parametrize(
    "doped_name,name,site,charge",
    [
        ("v_Ga_+1", "V_Ga", None, 1),
        ("Ga_i", "Ga_i", None, None),
        ("Ga_i_Td_0", "Ga_i", None, 0),
        ("Ga_i_C3v_As2.34b", "Ga_i", "C3v_As2.34b", None),
    ],
)
def test_charge_suffixes_and_names_without_site_information(doped_name, name, site, charge):
    parsed = parse_doped_name(doped_name)
    assert (parsed.name, parsed.interstitial_site, parsed.charge) == (name, site, charge)


@pytest.mark.parametrize("bad", ["Vac_Ga", "V_Ga", "Xx_Ga", "Ga", "Ga_", "Int_Ga_1"])
def test_bad_doped_names_are_refused(bad):
    with pytest.raises(StructureError):
        parse_doped_name(bad)


def test_td_interstitial_name_needs_the_distance():
    with pytest.raises(StructureError, match="distance"):
        to_doped_name("Ga_i", "As")
    assert to_doped_name("V_Ga") == "v_Ga" and to_doped_name("Ga_i") == "Ga_i"


def test_reader_gives_every_neutral_defect_with_its_counts(doped_set):
    assert list(doped_set.defects) == list(NATIVE)
    assert doped_set.pristine.get_chemical_formula() == "As8Ga8" and doped_set.pristine.info["defect"] == "pristine"
    for doped_name, atoms in doped_set.defects.items():
        name, site, n_ga, n_as = NATIVE[doped_name]
        symbols = atoms.get_chemical_symbols()
        assert (symbols.count("Ga"), symbols.count("As")) == (n_ga, n_as), doped_name
        assert atoms.info["defect"] == name
        assert atoms.info.get("interstitial_site") == site
        assert np.allclose(atoms.cell[:], doped_set.pristine.cell[:])


def test_names_of_the_fixture_map_back_to_dopeds(doped_set):
    for doped_name, atoms in doped_set.defects.items():
        shell = [k for k in defect_neighbours(atoms) if k != atoms.info["defect_index"]]
        nearest = get_distances(atoms.info["defect_site"], atoms.positions[shell], atoms.cell, pbc=True)[1].min()
        assert to_doped_name(atoms.info["defect"], atoms.info.get("interstitial_site"), nearest) == doped_name


def test_defect_site_is_where_doped_says(doped_set):
    entries = raw(GENERATOR)["defect_entries"]
    pristine = doped_set.pristine
    for doped_name, atoms in doped_set.defects.items():
        entry = entries[f"{doped_name}_0"]
        frac = np.asarray(entry["sc_defect_frac_coords"]["data"])
        lattice = np.asarray(entry["sc_entry"]["structure"]["lattice"]["matrix"])
        site = atoms.info["defect_site"]
        assert get_distances(site, frac @ lattice, atoms.cell, pbc=True)[1][0, 0] < ATOL_ANGSTROM, doped_name
        index = atoms.info["defect_index"]
        in_bulk = get_distances(site, pristine.positions, pristine.cell, pbc=True)[1][0]
        if doped_name.startswith("v_"):
            assert index == -1
            assert pristine[int(np.argmin(in_bulk))].symbol == NATIVE[doped_name][0][2:] and in_bulk.min() < ATOL_ANGSTROM
        else:
            assert np.allclose(atoms.positions[index], site)
            assert atoms[index].symbol == NATIVE[doped_name][0].split("_")[0]
            if "_i" in doped_name:
                assert in_bulk.min() > 2.0  # an empty site of the bulk
            else:
                assert pristine[int(np.argmin(in_bulk))].symbol == doped_name.split("_")[1]


def radial_signature(atoms) -> list:
    """(distance to the defect site, species) of every other atom: the cell seen from its defect."""
    others = [k for k in range(len(atoms)) if k != atoms.info["defect_index"]]
    d = get_distances(atoms.info["defect_site"], atoms.positions[others], atoms.cell, pbc=True)[1][0]
    return sorted((round(float(x), 4), atoms[k].symbol) for x, k in zip(d, others))


@pytest.mark.parametrize("doped_name", [k for k, v in NATIVE.items() if v[1] != "C3v"])
def test_doped_cells_match_the_cells_this_package_builds(doped_set, doped_name):
    name, site, _, _ = NATIVE[doped_name]
    own = make_defect(pristine_supercell("Ga", "As", A, 16, "primitive"), parse_defect(name, "Ga", "As", site))
    assert radial_signature(doped_set.defects[doped_name]) == radial_signature(own)


@pytest.mark.parametrize("doped_name,neighbour", [("v_Ga", "As"), ("v_As", "Ga"), ("As_Ga", "As"), ("Ga_As", "Ga")])
def test_vacancy_and_antisite_have_four_neighbours(doped_set, doped_name, neighbour):
    atoms = doped_set.defects[doped_name]
    shell = [k for k in defect_neighbours(atoms) if k != atoms.info["defect_index"]]
    assert len(shell) == 4 and {atoms[k].symbol for k in shell} == {neighbour}
    d = get_distances(atoms.info["defect_site"], atoms.positions[shell], atoms.cell, pbc=True)[1][0]
    assert np.allclose(d, BOND, atol=ATOL_ANGSTROM)


@pytest.mark.parametrize("doped_name", TETRAHEDRAL)
def test_td_interstitial_has_four_nearest_neighbours_of_its_site_species(doped_set, doped_name):
    """As for the package's own interstitials, the shell holds the 4 at sqrt(3)a/4 and the 6 at a/2 behind them."""
    atoms = doped_set.defects[doped_name]
    centre = atoms.info["defect_index"]
    shell = defect_neighbours(atoms)
    assert shell[0] == centre and len(shell) == 11
    d = atoms.get_distances(centre, shell[1:], mic=True)
    nearest = np.array(shell[1:])[np.argsort(d)[:4]]
    assert np.allclose(np.sort(d)[:4], BOND, atol=ATOL_ANGSTROM) and np.allclose(np.sort(d)[4:], A / 2, atol=ATOL_ANGSTROM)
    assert {atoms[int(k)].symbol for k in nearest} == {atoms.info["interstitial_site"]}


@pytest.mark.parametrize("doped_name", ["Ga_i_C3v", "As_i_C3v"])
def test_hexagonal_interstitial_sits_in_a_ring_of_three_ga_and_three_as(doped_set, doped_name):
    atoms = doped_set.defects[doped_name]
    shell = defect_neighbours(atoms)[1:]
    assert sorted(atoms[k].symbol for k in shell) == ["As"] * 3 + ["Ga"] * 3
    d = atoms.get_distances(atoms.info["defect_index"], shell, mic=True)
    assert np.ptp(d) < ATOL_ANGSTROM and d[0] < BOND


def test_single_doped_and_pymatgen_entries(doped_set):
    entry = read_doped(DOPED_ENTRY, "Ga", "As")
    assert list(entry.defects) == ["As_Ga"] and entry.pristine is not None
    assert np.allclose(entry.defects["As_Ga"].positions, doped_set.defects["As_Ga"].positions)
    plain = read_doped(PYMATGEN_ENTRY, "Ga", "As")  # no name in the file: named from the Defect and the geometry
    assert list(plain.defects) == ["Ga_i"] and plain.pristine is None
    atoms = plain.defects["Ga_i"]
    assert atoms.info["interstitial_site"] == "As"
    assert radial_signature(atoms) == radial_signature(doped_set.defects["Ga_i_Td_As2.45"])


def test_the_neutral_entry_is_used(tmp_path):
    data = raw(GENERATOR)
    entries = data["defect_entries"]
    for charged in ("v_Ga_-1", "v_Ga_+1"):  # charged entries given another cell: the reader must not take them
        entries[charged]["sc_entry"] = copy.deepcopy(entries["As_Ga_0"]["sc_entry"])
        entries[charged].pop("defect_supercell")
    atoms = read_doped(dump(tmp_path, data), "Ga", "As").defects["v_Ga"]
    assert atoms.get_chemical_formula() == "As8Ga7"


def test_plain_json_dict_of_entries(tmp_path):
    entries = raw(GENERATOR)["defect_entries"]
    path = dump(tmp_path, {k: v for k, v in entries.items() if k.startswith("v_")})
    assert list(read_doped(path, "Ga", "As").defects) == ["v_Ga", "v_As"]


def test_reading_needs_neither_doped_nor_pymatgen():
    code = (
        "import sys\n"
        "for m in ('doped', 'pymatgen', 'monty'): sys.modules[m] = None\n"
        "from thermodefect.structures.doped import read_doped\n"
        f"print(len(read_doped({str(GENERATOR)!r}, 'Ga', 'As').defects))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(len(NATIVE))


def bad_inputs(tmp_path: Path) -> dict:
    data = raw(GENERATOR)
    entries = data["defect_entries"]
    charged = copy.deepcopy(data)
    del charged["defect_entries"]["v_Ga_0"]
    extrinsic = copy.deepcopy(data)
    sites = extrinsic["defect_entries"]["v_As_0"]["defect_supercell"]["sites"]
    sites[0]["species"][0]["element"] = "Si"
    wrong_site = copy.deepcopy(entries["Ga_i_Td_As2.45_0"])
    wrong_site["name"] = "Ga_i_Td_Ga2.45_0"
    unlabelled = raw(PYMATGEN_ENTRY)
    unlabelled["sc_entry"] = entries["Ga_i_C3v_0"]["sc_entry"]
    unlabelled["sc_defect_frac_coords"] = entries["Ga_i_C3v_0"]["sc_defect_frac_coords"]
    (tmp_path / "not.json").write_text("Lattice= not json")
    return {
        "file not found": tmp_path / "missing.json",
        "not a JSON file": tmp_path / "not.json",
        "not a doped DefectsGenerator": dump(tmp_path, {"@module": "pymatgen.core.structure", "@class": "Structure"}, "s.json"),
        "without a supercell": dump(tmp_path, data["defects"]["vacancies"][0], "defect.json"),
        "no neutral entry (only charge -1, +1)": dump(tmp_path, charged, "charged.json"),
        "holds Si, not in GaAs": dump(tmp_path, extrinsic, "extrinsic.json"),
        "4 nearest neighbours are As": dump(tmp_path, wrong_site, "wrong_site.json"),
        "not at a tetrahedral site": dump(tmp_path, unlabelled, "unlabelled.json"),
    }


def test_bad_files_are_refused_with_one_line(tmp_path):
    for fragment, path in bad_inputs(tmp_path).items():
        with pytest.raises(StructureError) as info:
            read_doped(path, "Ga", "As")
        message = str(info.value)
        assert fragment in message and "\n" not in message and message.startswith(str(path)), message


def test_a_set_of_another_compound_is_refused():
    with pytest.raises(StructureError, match=r"a defect set of a As-Ga host, not of ZnSe"):
        read_doped(GENERATOR, "Zn", "Se")
    with pytest.raises(StructureError, match=r"holds As, Ga, not in ZnSe"):
        read_doped(PYMATGEN_ENTRY, "Zn", "Se")
