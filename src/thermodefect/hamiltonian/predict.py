"""Prediction for structures of any size, and the ensemble spread."""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from thermodefect.data.operators import BlockOperator, Structure
from thermodefect.hamiltonian.batch import collate
from thermodefect.hamiltonian.graph import CrystalGraph, build_graph


def as_structure(item) -> Structure:
    return item if isinstance(item, Structure) else Structure.from_atoms(item)


def predicted_blocks(model, graphs: Sequence[CrystalGraph], batch_size: int = 4) -> Iterator[np.ndarray]:
    """Blocks of each graph, (n_edges, max_orb, max_orb) float64 in target units, batched."""
    import torch

    model.eval()
    with torch.no_grad():
        for start in range(0, len(graphs), batch_size):
            chunk = graphs[start:start + batch_size]
            batch = collate(list(chunk), model.layout).to(model.device, model.dtype)
            blocks = model(batch).double().cpu().numpy()
            for k in range(len(chunk)):
                yield blocks[batch.edge_ptr[k]:batch.edge_ptr[k + 1]]


def predict(model, atoms_list, batch_size: int = 4) -> list[BlockOperator]:
    """Real-space blocks ``H_ij(R)`` (or ``S_ij(R)``) for every structure (ase.Atoms or Structure).

    Returns one :class:`BlockOperator` per structure with every edge within
    the model's cutoff, both directions and onsite blocks included; eV for a
    Hamiltonian model, dimensionless for an overlap model.
    """
    from thermodefect.hamiltonian.two_center import TwoCenterModel, add_blocks

    structures = [as_structure(a) for a in atoms_list]
    if isinstance(model, TwoCenterModel):
        return [model.operator(s) for s in structures]
    graphs = [build_graph(s, model.config.cutoff_angstrom) for s in structures]
    baseline = getattr(model, "two_center", None)
    out = []
    for s, g, b in zip(structures, graphs, predicted_blocks(model, graphs, batch_size)):
        if baseline is None:
            out.append(BlockOperator(structure=s, basis=dict(model.config.basis), edge_index=g.edge_index,
                                     cell_shift=g.cell_shift, blocks=b))
        else:
            out.append(add_blocks(baseline.operator(s), g, b))
    return out


def ensemble_uncertainty(models: Sequence, atoms_list, batch_size: int = 4) -> list[dict[str, float]]:
    """Spread of an ensemble's predicted matrix elements, per structure.

    ``max_std``: the largest standard deviation over models of any matrix
    element; ``rmsd``: the root-mean-square deviation of the models from their
    mean over all elements (``sqrt(mean var)``). Target units (eV for H).
    All models must share the cutoff and basis.
    """
    if len(models) < 2:
        raise ValueError("an ensemble needs at least two models")
    cutoffs = {m.config.cutoff_angstrom for m in models}
    bases = {tuple(sorted(m.config.basis.items())) for m in models}
    if len(cutoffs) != 1 or len(bases) != 1:
        raise ValueError("ensemble members differ in cutoff or basis")
    structures = [as_structure(a) for a in atoms_list]
    graphs = [build_graph(s, models[0].config.cutoff_angstrom) for s in structures]
    layout = models[0].layout
    per_model = [list(predicted_blocks(m, graphs, batch_size)) for m in models]
    out = []
    for k, g in enumerate(graphs):
        species = layout.species_index(g.numbers)
        mask = layout.block_mask()[layout.pair_index(species[g.edge_index[0]], species[g.edge_index[1]])]
        stack = np.stack([blocks[k][mask] for blocks in per_model])  # (n_models, n_entries)
        variance = stack.var(axis=0)
        out.append({"max_std": float(np.sqrt(variance.max())), "rmsd": float(np.sqrt(variance.mean()))})
    return out
