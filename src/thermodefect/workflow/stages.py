"""The stages of ``thermodefect run``, in order, and nothing else.

Each stage reads what earlier stages wrote to the run directory, so any stage
can be rerun alone (``thermodefect run CONFIG --only NAME``). The bodies live
in :mod:`thermodefect.workflow.steps`, one module per stage.
"""

from __future__ import annotations

from thermodefect.workflow.context import Stage
from thermodefect.workflow.steps.accuracy import accuracy_stage
from thermodefect.workflow.steps.dynamics import production_md
from thermodefect.workflow.steps.forcefield import forcefield_active_learning
from thermodefect.workflow.steps.hamiltonian import hamiltonian_active_learning, overlap_model
from thermodefect.workflow.steps.predictions import predict_snapshots
from thermodefect.workflow.steps.report import report_stage
from thermodefect.workflow.steps.statistics import thermal_statistics_stage
from thermodefect.workflow.steps.structures import build_structures
from thermodefect.workflow.steps.validation import validation_stage

STAGES: tuple[Stage, ...] = (
    Stage("structures", "Structures", build_structures),
    Stage("forcefield_al", "Force-field active learning", forcefield_active_learning),
    Stage("production_md", "Production MD (MACE)", production_md),
    Stage("hamiltonian_al", "Hamiltonian active learning", hamiltonian_active_learning),
    Stage("overlap_model", "Overlap model", overlap_model),
    Stage("predictions", "Predicted electronic structure of MD snapshots", predict_snapshots),
    Stage("accuracy", "Accuracy against the reference", accuracy_stage),
    Stage("validation", "Model against reference over temperature", validation_stage),
    Stage("statistics", "Thermal statistics", thermal_statistics_stage),
    Stage("report", "Report", report_stage),
)

STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in STAGES)
