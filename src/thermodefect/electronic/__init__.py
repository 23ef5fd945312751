"""Electronic analysis: H(R), S(R) -> H(k), S(k) -> bands, gap, defect levels, thermal statistics.

Units: eV, Å, K; k Cartesian in 1/Å or fractional (reciprocal-lattice coordinates).
"""

from thermodefect.electronic.analysis import analyze_matrices, analyze_operators, analyze_sample, defect_atoms_of
from thermodefect.electronic.bands import BandPath, BandStructure, band_figure_data, band_path, band_structure
from thermodefect.electronic.bloch import (
    bloch_pair,
    bloch_sum,
    cartesian_to_fractional,
    fractional_to_cartesian,
    kspace_pair,
)
from thermodefect.electronic.eigen import (
    EigenSolverError,
    Eigenstates,
    OverlapError,
    check_overlap,
    count_below,
    solve_dense,
    solve_near,
    solve_near_gap,
)
from thermodefect.electronic.levels import DefectLevel, GapResult, atom_weights, band_edges_and_levels, inverse_participation_ratio
from thermodefect.electronic.thermal import (
    Statistic,
    block_standard_error,
    snapshot_statistics,
    thermal_row,
    thermal_statistics,
)

__all__ = [
    "BandPath",
    "BandStructure",
    "DefectLevel",
    "EigenSolverError",
    "Eigenstates",
    "GapResult",
    "OverlapError",
    "Statistic",
    "analyze_matrices",
    "analyze_operators",
    "analyze_sample",
    "atom_weights",
    "band_edges_and_levels",
    "band_figure_data",
    "band_path",
    "band_structure",
    "block_standard_error",
    "bloch_pair",
    "bloch_sum",
    "cartesian_to_fractional",
    "check_overlap",
    "count_below",
    "defect_atoms_of",
    "fractional_to_cartesian",
    "inverse_participation_ratio",
    "kspace_pair",
    "solve_dense",
    "solve_near",
    "solve_near_gap",
    "snapshot_statistics",
    "thermal_row",
    "thermal_statistics",
]
