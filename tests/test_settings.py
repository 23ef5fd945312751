"""Config file -> validated settings: defaults, round trip, one-line errors."""

import tomllib
from importlib import resources

import pytest

from thermodefect.settings import Settings, SettingsError, load_settings, settings_from_dict, settings_to_toml


def _shipped(name):
    return resources.files("thermodefect.configs").joinpath(name)


@pytest.mark.parametrize("name", ["default.toml", "demo.toml"])
def test_shipped_configs_valid(name, tmp_path):
    path = tmp_path / name
    path.write_text(_shipped(name).read_text())
    s = load_settings(path)
    assert s.reference.forces.name == "xtb"


def test_defaults_follow_published_protocol():
    s = Settings()
    assert s.defects.names == ["As_i", "Ga_i", "V_As", "V_Ga", "As_Ga"]
    assert s.supercells.training_atoms == 128 and 432 in s.supercells.transfer_atoms
    assert s.forcefield.ensemble_size == 3 and s.hamiltonian.ensemble_size == 3
    assert s.forcefield_al.threshold_ev_per_angstrom == pytest.approx(0.010)
    assert s.electronic.bands_near_gap == 30 and s.electronic.points_per_segment == 15
    assert s.hamiltonian_al.top_k_per_stratum == 3


def test_round_trip_through_toml(tmp_path):
    s = load_settings(_write(tmp_path, _shipped("demo.toml").read_text()))
    text = settings_to_toml(s)
    assert Settings.model_validate(tomllib.loads(text)) == s


def _write(tmp_path, text):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


BAD = [
    ({"md": {"timestep": 2}}, "md.timestep: unknown key"),
    ({"bogus": {}}, "bogus: unknown key"),
    ({"temperatures": {"production_k": [-100.0]}}, "temperatures.production_k.0"),
    ({"temperatures": {"training_k": []}}, "needs at least one temperature"),
    ({"defects": {"names": ["Si_i"]}}, "neither the cation nor the anion"),
    ({"defects": {"names": ["Ga-As"]}}, "is not of the form"),
    ({"defects": {"names": ["V_As", "V_As"]}}, "repeat"),
    ({"defects": {"names": ["As_i"], "interstitial_sites": {"As_i": "Si"}}}, "expected one of"),
    ({"supercells": {"kind": "cubic", "training_atoms": 100}}, "not a cubic supercell size"),
    ({"supercells": {"training_atoms": 64}}, "not a primitive supercell size"),
    ({"supercells": {"kind": "hexagonal"}}, "supercells.kind"),
    ({"material": {"cation": "Xx"}}, "unknown element"),
    ({"material": {"cation": "As"}}, "must differ"),
    ({"forcefield": {"ensemble_size": 0}}, "forcefield.ensemble_size"),
    ({"forcefield": {"ensemble_size": "three"}}, "valid integer"),
    ({"md": {"thermostat": "berendsen"}}, "md.thermostat"),
    ({"md": {"timestep_fs": -1.0}}, "md.timestep_fs"),
]


@pytest.mark.parametrize("data,fragment", BAD)
def test_bad_values_rejected_with_one_line(data, fragment):
    with pytest.raises(SettingsError) as info:
        settings_from_dict(data, "c.toml")
    msg = str(info.value)
    assert "\n" not in msg
    assert fragment in msg


def test_not_toml_and_missing_file(tmp_path):
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(_write(tmp_path, "[md\nx=1"))
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "missing.toml")


def test_structure_file_resolved_relative_to_config(tmp_path):
    (tmp_path / "sub").mkdir()
    p = tmp_path / "sub" / "c.toml"
    p.write_text('[material]\nstructure_file = "cell.cif"\n')
    with pytest.raises(SettingsError, match="material.structure_file"):
        load_settings(p)
    (tmp_path / "sub" / "cell.cif").write_text("")
    assert load_settings(p).material.structure_file == (tmp_path / "sub" / "cell.cif").resolve()


def test_network_options_are_declared_once():
    """Every preset-filled field of ModelConfig (the checkpoint schema) is a [hamiltonian] option and vice versa."""
    from thermodefect.hamiltonian.config import PRESET_FIELDS, PRESETS
    from thermodefect.settings import HamiltonianModelSettings

    settable = {name for name, f in HamiltonianModelSettings.model_fields.items() if f.default is None}
    assert settable == set(PRESET_FIELDS)
    for preset in PRESETS.values():
        assert set(preset) == set(PRESET_FIELDS)
