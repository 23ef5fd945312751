"""Labelled datasets: forces (extended XYZ) and Hamiltonians (HDF5; DeepH legacy and DeepH-dock folders)."""

from thermodefect.data.conversion import convert_hamiltonians
from thermodefect.data.deeph import read_deeph, write_deeph
from thermodefect.data.deeph_dock import read_deeph_any, read_deeph_dock, write_deeph_dock
from thermodefect.data.forces import ENERGY_KEY, FORCES_KEY, ForcesDataset, labelled_atoms
from thermodefect.data.hamiltonians import HamiltonianDataset
from thermodefect.core.keys import structure_key
from thermodefect.data.operators import BlockOperator, HamiltonianSample, KSpaceMatrices, Structure

__all__ = [
    "BlockOperator",
    "ENERGY_KEY",
    "FORCES_KEY",
    "ForcesDataset",
    "HamiltonianDataset",
    "HamiltonianSample",
    "KSpaceMatrices",
    "Structure",
    "convert_hamiltonians",
    "labelled_atoms",
    "read_deeph",
    "read_deeph_any",
    "read_deeph_dock",
    "structure_key",
    "write_deeph",
    "write_deeph_dock",
]
