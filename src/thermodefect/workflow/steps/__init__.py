"""The bodies of the pipeline's stages, one module per stage (listed in order by :mod:`thermodefect.workflow.stages`)."""
