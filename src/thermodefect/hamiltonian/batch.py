"""Several crystal graphs as one disconnected graph of torch tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from thermodefect.hamiltonian.blocks import OrbitalLayout
from thermodefect.hamiltonian.graph import CrystalGraph


@dataclass
class GraphBatch:
    """Tensors of a batch; atom and edge indices are global over the batch."""

    species: torch.Tensor  # (n_atoms,) long, model species index
    edge_index: torch.Tensor  # (2, n_edges) long
    edge_vector: torch.Tensor  # (n_edges, 3) float, Å
    partner: torch.Tensor  # (n_edges,) long, edge (j, i, -R)
    edge_pair: torch.Tensor  # (n_edges,) long, ordered species-pair index
    node_ptr: list[int]  # atom offsets of each graph, length n_graphs + 1
    edge_ptr: list[int]  # edge offsets of each graph, length n_graphs + 1

    @property
    def n_graphs(self) -> int:
        return len(self.node_ptr) - 1

    def to(self, device, dtype) -> "GraphBatch":
        return GraphBatch(
            species=self.species.to(device),
            edge_index=self.edge_index.to(device),
            edge_vector=self.edge_vector.to(device=device, dtype=dtype),
            partner=self.partner.to(device),
            edge_pair=self.edge_pair.to(device),
            node_ptr=self.node_ptr,
            edge_ptr=self.edge_ptr,
        )


def collate(graphs: list[CrystalGraph], layout: OrbitalLayout) -> GraphBatch:
    """Concatenate graphs, shifting atom and edge indices."""
    node_ptr = np.concatenate([[0], np.cumsum([g.n_atoms for g in graphs])]).astype(int)
    edge_ptr = np.concatenate([[0], np.cumsum([g.n_edges for g in graphs])]).astype(int)
    species = np.concatenate([layout.species_index(g.numbers) for g in graphs])
    edge_index = np.concatenate([g.edge_index + node_ptr[k] for k, g in enumerate(graphs)], axis=1)
    partner = np.concatenate([g.partner + edge_ptr[k] for k, g in enumerate(graphs)])
    vector = np.concatenate([g.edge_vector for g in graphs])
    pair = layout.pair_index(species[edge_index[0]], species[edge_index[1]])
    return GraphBatch(
        species=torch.as_tensor(species),
        edge_index=torch.as_tensor(edge_index),
        edge_vector=torch.as_tensor(vector),
        partner=torch.as_tensor(partner),
        edge_pair=torch.as_tensor(pair),
        node_ptr=node_ptr.tolist(),
        edge_ptr=edge_ptr.tolist(),
    )
