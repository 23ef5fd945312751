"""Reference samples made from a fixed random model (no reference calculator needed)."""

from __future__ import annotations

import numpy as np

from thermodefect.data.operators import HamiltonianSample, KSpaceMatrices, Structure
from thermodefect.hamiltonian import predict


def gamma_fold(op) -> np.ndarray:
    """Σ_R O_ij(R) by an explicit loop over the DeepH-style keys (independent of the model code)."""
    offsets = op.offsets()
    out = np.zeros((offsets[-1], offsets[-1]))
    for (_, _, _, i, j), block in op.as_dict().items():
        out[offsets[i]:offsets[i + 1], offsets[j]:offsets[j + 1]] += block
    return out


def realspace_sample(op, n_electrons: float = 8.0, defect: str = "pristine", overlap=None) -> HamiltonianSample:
    return HamiltonianSample(structure=op.structure, basis=op.basis, n_electrons=n_electrons,
                             realspace=(op, overlap), metadata={"defect": defect})


def gamma_sample(op, n_electrons: float = 8.0, defect: str = "pristine", overlap=None) -> HamiltonianSample:
    kspace = KSpaceMatrices(kpts_frac=np.zeros((1, 3)), hamiltonian=gamma_fold(op)[None],
                            overlap=None if overlap is None else overlap[None])
    return HamiltonianSample(structure=op.structure, basis=op.basis, n_electrons=n_electrons, kspace=kspace,
                             metadata={"defect": defect})


def model_samples(model, atoms_list, kind: str = "realspace", **kwargs) -> list[HamiltonianSample]:
    make = realspace_sample if kind == "realspace" else gamma_sample
    return [make(op, **kwargs) for op in predict(model, atoms_list)]


__all__ = ["Structure", "gamma_fold", "gamma_sample", "model_samples", "realspace_sample"]
