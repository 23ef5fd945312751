"""E(3)-equivariant model of Hamiltonian and overlap blocks (DeepH-E3 style).

Public API::

    model = build_model(settings, basis, target)            # settings: HamiltonianModelSettings
    result = train_model(train, valid, settings, out_dir, seed, target)
    results = train_ensemble(train, valid, settings, out_dir, seed, target)
    model = load_model(directory); models = load_ensemble(directory)
    operators = predict(model, atoms_list)                   # list[BlockOperator]
    at_k = KPointOperators(model, overlap, atoms)            # dense H(k), S(k) without the blocks
    spread = ensemble_uncertainty(models, atoms_list)       # [{"max_std", "rmsd"}]
    metrics = evaluate(model, samples, bands_near_gap=30)
"""

from thermodefect.hamiltonian.checkpoint import load_model, save_model
from thermodefect.hamiltonian.config import PRESETS, ModelConfig
from thermodefect.hamiltonian.metrics import evaluate
from thermodefect.hamiltonian.model import HamiltonianModel
from thermodefect.hamiltonian.predict import KPointOperators, ensemble_uncertainty, predict, predict_members
from thermodefect.hamiltonian.train import TrainResult, build_model, load_ensemble, train_ensemble, train_model

__all__ = [
    "KPointOperators",
    "PRESETS",
    "HamiltonianModel",
    "ModelConfig",
    "TrainResult",
    "build_model",
    "ensemble_uncertainty",
    "evaluate",
    "load_ensemble",
    "load_model",
    "predict",
    "predict_members",
    "save_model",
    "train_ensemble",
    "train_model",
]
