import pytest

from thermodefect.reference.toy import ToyTightBinding
from thermodefect.structures import make_defect, parse_defect, pristine_supercell


@pytest.fixture(scope="session")
def toy():
    return ToyTightBinding()


@pytest.fixture(scope="session")
def cells64():
    """64-atom cubic GaAs cells: pristine and As_Ga (a = 5.65 Å)."""
    pristine = pristine_supercell("Ga", "As", 5.65, 64, "cubic")
    return {"pristine": pristine, "As_Ga": make_defect(pristine, parse_defect("As_Ga", "Ga", "As"))}
