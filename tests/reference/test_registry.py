"""Registry: names, lazy imports, option validation."""

import pytest
from ase.build import bulk

from thermodefect.core.errors import UserInputError
from thermodefect.reference.registry import get_reference, known_references, register_reference
from thermodefect.reference.ase_calculator import CalculatorReference
from thermodefect.settings import ReferenceSettings


def test_builtin_names_are_registered():
    assert {"xtb", "gpaw", "ase", "toy", "albe", "deeph"} <= set(known_references())


def test_unknown_name_lists_known_ones():
    with pytest.raises(UserInputError, match="known references: .*xtb"):
        get_reference(ReferenceSettings(name="vasp-direct"))


def test_ase_reference_by_import_path_gives_energy_and_forces():
    ref = get_reference(ReferenceSettings(name="ase", options={"calculator": "ase.calculators.emt.EMT"}))
    label = ref.label(bulk("Cu", "fcc", a=3.6, cubic=True))
    assert ref.provides == {"energy", "forces"}
    assert label.sample is None and label.forces_ev_per_angstrom.shape == (4, 3)


def test_ase_reference_rejects_unknown_options_and_bad_paths():
    with pytest.raises(UserInputError, match="unknown option"):
        get_reference(ReferenceSettings(name="ase", options={"calculator": "ase.calculators.emt.EMT", "kwarg": {}}))
    with pytest.raises(UserInputError, match="cannot import"):
        get_reference(ReferenceSettings(name="ase", options={"calculator": "nowhere.Calc"}))


def test_register_reference_adds_a_plain_ase_calculator():
    from ase.calculators.emt import EMT

    @register_reference("emt-test")
    class MyEMT(EMT):
        pass

    ref = get_reference(ReferenceSettings(name="emt-test", options={}))
    assert isinstance(ref, CalculatorReference) and "emt-test" in known_references()


def test_albe_is_registered_lazily_as_forces_only():
    pytest.importorskip("thermodefect.potentials.albe")
    ref = get_reference(ReferenceSettings(name="albe", options={}))
    assert ref.provides == {"energy", "forces"}
    atoms = bulk("GaAs", "zincblende", a=5.65, cubic=True)
    assert ref.label(atoms).forces_ev_per_angstrom.shape == (8, 3)
