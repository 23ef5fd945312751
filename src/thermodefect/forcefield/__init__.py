"""MACE force fields: training through mace-torch, ensembles and force uncertainty."""

from thermodefect.forcefield.ensemble import EnsemblePrediction, ForceFieldEnsemble
from thermodefect.forcefield.training import (
    ENERGY_KEY,
    FORCES_KEY,
    ForceFieldError,
    mace_arguments,
    resolve_foundation_model,
    train_ensemble,
    train_model,
)

__all__ = [
    "ENERGY_KEY",
    "FORCES_KEY",
    "EnsemblePrediction",
    "ForceFieldEnsemble",
    "ForceFieldError",
    "mace_arguments",
    "resolve_foundation_model",
    "train_ensemble",
    "train_model",
]
