"""The resumable pipeline: wiring only. Stages are listed in :mod:`~thermodefect.workflow.stages`,
their bodies live in :mod:`~thermodefect.workflow.steps`, run data is read through
:mod:`~thermodefect.workflow.rundata`, and :func:`~thermodefect.workflow.pipeline.run_pipeline` runs them."""
