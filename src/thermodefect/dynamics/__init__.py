"""NVT molecular dynamics with any ASE calculator, and trajectory analysis (VDOS, RDF)."""

from thermodefect.dynamics.analysis import RDF, VDOS, rdf, rdf_max_difference, vdos, vdos_overlap
from thermodefect.dynamics.nvt import NVTRun, read_frames, run_nvt, trajectory_name
from thermodefect.dynamics.sanity import COLLAPSE_FRACTION, is_physical
from thermodefect.dynamics.thermostats import THERMOSTATS, get_thermostat

__all__ = [
    "COLLAPSE_FRACTION",
    "NVTRun",
    "RDF",
    "THERMOSTATS",
    "VDOS",
    "get_thermostat",
    "is_physical",
    "rdf",
    "rdf_max_difference",
    "read_frames",
    "run_nvt",
    "trajectory_name",
    "vdos",
    "vdos_overlap",
]
