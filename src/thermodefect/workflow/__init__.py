"""The resumable pipeline: run directory, manifest, stages."""

from thermodefect.workflow.rundir import Manifest, RunDirectory, RunDirectoryError, atomic_write_bytes, atomic_write_text

__all__ = ["Manifest", "RunDirectory", "RunDirectoryError", "atomic_write_bytes", "atomic_write_text"]
