"""Labelled datasets: forces (extended XYZ) and Hamiltonians (HDF5, DeepH layout)."""

from thermodefect.data.deeph import read_deeph, write_deeph
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
    "labelled_atoms",
    "read_deeph",
    "structure_key",
    "write_deeph",
]
