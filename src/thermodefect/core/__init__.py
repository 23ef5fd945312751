"""Ground floor: infrastructure any package may import, and that imports no other package of thermodefect.

- :mod:`~thermodefect.core.errors` — the one-line user error types;
- :mod:`~thermodefect.core.files` — the one atomic file writer (tmp + fsync + rename);
- :mod:`~thermodefect.core.rundir` — the run directory, its paths and the manifest;
- :mod:`~thermodefect.core.executors` — local process pool and Parsl;
- :mod:`~thermodefect.core.seeds` — seeds derived from ``run.seed``;
- :mod:`~thermodefect.core.keys` — structure keys and the metadata keys of labelled data;
- :mod:`~thermodefect.core.compat` — shims for third-party packages.
"""
