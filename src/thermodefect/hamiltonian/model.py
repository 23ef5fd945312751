"""The E(3)-equivariant Hamiltonian (or overlap) model, DeepH-E3 style.

Pipeline for a batch of crystal graphs:

1. species one-hot -> node scalars; radial Bessel basis and both species ->
   edge scalars (the input of every radial MLP) and the first edge features;
2. ``num_layers`` :class:`InteractionLayer` (node then edge updates);
3. a linear head maps each edge's features to the irreps of its species
   pair's shell pairs, which Clebsch-Gordan coefficients turn into the
   padded orbital block ``X_ij(R)`` (see :mod:`.blocks`);
4. Hermiticity by construction: ``H_ij(R) = (X_ij(R) + X_ji(-R)^T) / 2``,
   so onsite blocks are symmetric;
5. output = ``target_scale · H + onsite_baseline`` (eV for Hamiltonians).
"""

from __future__ import annotations

import torch
from torch import nn

from thermodefect.core.errors import UserInputError
from thermodefect.hamiltonian.batch import GraphBatch
from thermodefect.hamiltonian.blocks import OrbitalLayout
from thermodefect.hamiltonian.config import ModelConfig
from thermodefect.hamiltonian.layers import BesselBasis, InteractionLayer, e3nn_modules, edge_spherical_harmonics


def unreachable_irreps(irreps_head, irreps_node, irreps_edge, irreps_sh, num_layers: int) -> list[str]:
    """Head irreps that no edge feature can carry after ``num_layers`` layers.

    Features start as scalars; each layer multiplies node and pair features by
    the spherical harmonics up to ``lmax`` (l = 4 blocks arise from l = 2
    features times l = 2 harmonics), keeping the (l, p) of the target irreps.
    """
    node_types = {ir for _, ir in irreps_node}
    edge_types = {ir for _, ir in irreps_edge}
    sh_types = [ir for _, ir in irreps_sh]

    def products(types):
        return {out for ir in types for sh in sh_types for out in ir * sh}

    scalar = {ir for _, ir in irreps_node if ir.l == 0 and ir.p == 1}
    node_reach, edge_reach = set(scalar), set(scalar)
    for _ in range(num_layers):
        node_reach = (products(node_reach) | node_reach) & node_types
        edge_reach = (products(node_reach | edge_reach) | edge_reach) & edge_types
    return [str(ir) for _, ir in irreps_head if ir not in edge_reach]


class HamiltonianModel(nn.Module):
    """Predicts orbital blocks for every edge of a :class:`GraphBatch`.

    Buffers that travel in the checkpoint: ``target_scale`` (scalar, target
    units) and ``onsite_baseline`` (n_species, max_orb, max_orb).
    """

    def __init__(self, config: ModelConfig):
        # e3nn stores its Wigner-3j constants in torch's default dtype when a module is
        # built: a float64 model built under the float32 default keeps float32-rounded
        # constants and is equivariant only to ~1e-9. Build in the model's own dtype.
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64 if config.dtype == "float64" else torch.float32)
        try:
            self._build(config)
        finally:
            torch.set_default_dtype(previous)

    def _build(self, config: ModelConfig) -> None:
        super().__init__()
        o3, e3nn_nn = e3nn_modules()
        self.config = config
        self.layout = OrbitalLayout(config.basis)
        n_species = self.layout.n_species
        irreps_node = o3.Irreps(config.irreps_node).sort().irreps.simplify()
        irreps_edge = o3.Irreps(config.irreps_edge).sort().irreps.simplify()
        self.irreps_head = self.layout.output_irreps()
        have = {ir for _, ir in irreps_edge}
        missing = [str(ir) for _, ir in self.irreps_head if ir not in have]
        if missing:
            raise UserInputError(
                f"irreps_edge {config.irreps_edge!r} lacks {'+'.join(missing)} needed by the orbital basis; add them"
            )
        self.irreps_sh = o3.Irreps.spherical_harmonics(config.lmax)

        node_scalars = irreps_node.count("0e")
        edge_scalars0 = irreps_edge.count("0e")
        if node_scalars == 0 or edge_scalars0 == 0:
            raise UserInputError("irreps_node and irreps_edge need scalar (0e) channels")
        unreachable = unreachable_irreps(self.irreps_head, irreps_node, irreps_edge, self.irreps_sh, config.num_layers)
        if unreachable:
            raise UserInputError(
                f"lmax={config.lmax} with num_layers={config.num_layers} cannot produce the block irreps "
                f"{'+'.join(unreachable)}; raise lmax or num_layers"
            )
        self.radial = BesselBasis(config.cutoff_angstrom, config.radial_basis_size)
        self.n_edge_scalars = config.radial_basis_size + 2 * n_species
        self.species_embedding = nn.Linear(n_species, node_scalars, bias=False)
        self.edge_embedding = e3nn_nn.FullyConnectedNet(
            [self.n_edge_scalars, config.radial_hidden, edge_scalars0], torch.nn.functional.silu
        )
        layers = []
        node_in, edge_in = o3.Irreps(f"{node_scalars}x0e"), o3.Irreps(f"{edge_scalars0}x0e")
        for _ in range(config.num_layers):
            layer = InteractionLayer(node_in, edge_in, irreps_node, irreps_edge, self.irreps_sh,
                                     self.n_edge_scalars, config.radial_hidden, config.avg_num_neighbors)
            layers.append(layer)
            node_in, edge_in = layer.irreps_node_out, layer.irreps_edge_out
        self.layers = nn.ModuleList(layers)
        self.head = o3.Linear(edge_in, self.irreps_head)
        # One invariant potential per atom and shell (used with an overlap-scaled two-center
        # baseline: H += (U S + S U) / 2, see docs/hamiltonian.md).
        self.potential_head = o3.Linear(node_in, o3.Irreps(f"{self.layout.max_shells}x0e"))

        m = self.layout.max_orbitals
        self.register_buffer("target_scale", torch.ones((), dtype=torch.float64))
        # Potentials have their own scale: they are eV-sized near a defect where elements are meV.
        self.register_buffer("potential_scale", torch.ones((), dtype=torch.float64))
        # A constant added to every potential (eV): the shift-invariant loss leaves the global
        # c·S of each cell free, so training sets it to the training set's mean shift afterwards.
        self.register_buffer("potential_offset", torch.zeros((), dtype=torch.float64))
        self.register_buffer("onsite_baseline", torch.zeros(n_species, m, m, dtype=torch.float64))
        self.register_buffer("assembly", self.layout.assembly_tensors(), persistent=False)
        self.register_buffer("block_mask", torch.as_tensor(self.layout.block_mask()), persistent=False)
        self.to(torch.float64 if config.dtype == "float64" else torch.float32)
        # Optional two-center baseline added to the predictions (set by training, saved beside the weights).
        self.two_center = None

    @property
    def dtype(self) -> torch.dtype:
        return self.target_scale.dtype

    @property
    def device(self) -> torch.device:
        return self.target_scale.device

    def forward_normalized(self, batch: GraphBatch) -> torch.Tensor:
        """Hermitian blocks in units of ``target_scale``, without baseline; (n_edges, max_orb, max_orb)."""
        return self._normalized(batch)[0]

    def _normalized(self, batch: GraphBatch) -> tuple[torch.Tensor, torch.Tensor]:
        one_hot = torch.nn.functional.one_hot(batch.species, self.layout.n_species).to(self.dtype)
        length = batch.edge_vector.norm(dim=-1)
        i, j = batch.edge_index
        edge_scalars = torch.cat([self.radial(length), one_hot[i], one_hot[j]], dim=-1)
        envelope = self.radial.envelope(length).unsqueeze(-1)
        edge_sh = edge_spherical_harmonics(self.irreps_sh, batch.edge_vector)
        node = self.species_embedding(one_hot)
        edge = self.edge_embedding(edge_scalars)
        for layer in self.layers:
            node, edge = layer(node, edge, batch.edge_index, edge_sh, edge_scalars, envelope)
        features = self.head(edge)
        m = self.layout.max_orbitals
        raw = torch.zeros(features.shape[0], m * m, dtype=features.dtype, device=features.device)
        for pair in torch.unique(batch.edge_pair).tolist():
            chosen = batch.edge_pair == pair
            raw[chosen] = features[chosen] @ self.assembly[pair]
        raw = raw.view(-1, m, m)
        return 0.5 * (raw + raw[batch.partner].transpose(1, 2)), self.potential_head(node)

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        """Blocks in target units (eV or dimensionless); (n_edges, max_orb, max_orb), padding zero."""
        return self.forward_with_potentials(batch)[0]

    def forward_with_potentials(self, batch: GraphBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Blocks as :meth:`forward` and atom-shell potentials (n_atoms, max_shells) in target units."""
        blocks, potentials = self._normalized(batch)
        return blocks * self.target_scale + self.baseline(batch), potentials * self.potential_scale + self.potential_offset

    @property
    def uses_potentials(self) -> bool:
        """True with an overlap-scaled two-center baseline, whose overlap carries the potentials."""
        return getattr(self.two_center, "overlap", None) is not None

    def baseline(self, batch: GraphBatch) -> torch.Tensor:
        """Onsite baseline block on onsite edges, zero elsewhere; (n_edges, max_orb, max_orb)."""
        i, j = batch.edge_index
        onsite = ((i == j) & (batch.edge_vector.norm(dim=-1) < 1e-8)).to(self.dtype)
        return self.onsite_baseline[batch.species[i]] * onsite[:, None, None]
