"""Equivariant building blocks: radial basis, gated tensor-product updates.

Node update (a NequIP/DeepH-E3 convolution)::

    m_i = 1/<n> sum_{(i,j,R)} TP(h_j, Y(r̂_ij); w(edge scalars)) · envelope(r_ij)
    h_i <- Linear(h_i) + Gate(Linear(m_i))

Edge update (DeepH-E3 style, with the pair input as a sum instead of a
concatenation, which gives the tensor product ~3x fewer paths)::

    p_ij = Linear_a(h_i) + Linear_b(h_j) + Linear_c(e_ij)
    e_ij <- Linear(e_ij) + Gate(Linear(TP(p_ij, Y(r̂_ij); w(edge scalars))))

``TP`` is a "uvu" tensor product whose weights come from an MLP of the edge
scalars (radial basis and both species), so every path is distance- and
species-dependent. It is evaluated as an unweighted tensor product times one
gathered weight per output channel (:class:`EdgeWeightedTensorProduct`): the
same function as e3nn's weighted "uvu" product, but its backward pass does not
zero-fill a full copy of the per-edge weight tensor for every path. Onsite
edges have ``r = 0``; their spherical harmonics are ``Y_0 = 1`` and
``Y_{l>0} = 0``, which keeps them rotation-invariant.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from thermodefect.core.compat import import_e3nn_o3


def e3nn_modules():
    o3 = import_e3nn_o3()
    from e3nn import nn as e3nn_nn

    return o3, e3nn_nn


class BesselBasis(nn.Module):
    """``sqrt(2/rc) sin(n π r / rc) / r`` times a smooth polynomial envelope; (n_edges,) Å -> (n_edges, n)."""

    def __init__(self, cutoff_angstrom: float, n_basis: int, envelope_power: int = 6):
        super().__init__()
        self.cutoff = float(cutoff_angstrom)
        self.p = envelope_power
        self.register_buffer("frequencies", torch.arange(1, n_basis + 1, dtype=torch.get_default_dtype()) * math.pi / self.cutoff)

    def envelope(self, r: torch.Tensor) -> torch.Tensor:
        """DimeNet polynomial cutoff: 1 at r = 0, zero value and derivatives at the cutoff."""
        x = (r / self.cutoff).clamp(max=1.0)
        p = self.p
        return (
            1.0
            - (p + 1) * (p + 2) / 2 * x**p
            + p * (p + 2) * x ** (p + 1)
            - p * (p + 1) / 2 * x ** (p + 2)
        )

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        r = r.unsqueeze(-1)
        safe_r = torch.where(r > 1e-8, r, torch.ones_like(r))
        values = torch.where(r > 1e-8, torch.sin(self.frequencies * safe_r) / safe_r, self.frequencies)
        return math.sqrt(2.0 / self.cutoff) * values * self.envelope(r)


def edge_spherical_harmonics(irreps_sh, edge_vector: torch.Tensor) -> torch.Tensor:
    """Y_lm of the unit bond direction, 'component' normalization; zero for l > 0 on onsite edges."""
    o3 = import_e3nn_o3()
    length = edge_vector.norm(dim=-1, keepdim=True)
    unit = torch.where(length > 1e-8, edge_vector / length.clamp(min=1e-8), torch.zeros_like(edge_vector))
    return o3.spherical_harmonics(irreps_sh, unit, normalize=False, normalization="component")


def gate_for(irreps_out):
    """Gate producing ``irreps_out``: scalars activated, l > 0 gated by extra scalars."""
    o3, e3nn_nn = e3nn_modules()
    irreps_out = o3.Irreps(irreps_out)
    scalars = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l == 0])
    gated = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l > 0])
    gates = o3.Irreps(f"{gated.num_irreps}x0e") if gated.num_irreps else o3.Irreps("")
    return e3nn_nn.Gate(
        scalars,
        [torch.nn.functional.silu if ir.p == 1 else torch.tanh for _, ir in scalars],
        gates,
        [torch.sigmoid] * len(gates),
        gated,
    )


class EdgeWeightedTensorProduct(nn.Module):
    """'uvu' tensor product ``x ⊗ Y`` with one weight per edge, path and channel.

    Keeps only outputs whose (l, p) appears in ``irreps_target``. Computes
    ``out[e, path, u, :] = w[e, path, u] · TP_path(x[e, u, :], Y[e, :])`` as an
    unweighted e3nn product times the weights gathered to every output
    component; the output groups the paths by irrep type. Inputs x (n_edges, irreps_in.dim), Y (n_edges, irreps_sh.dim),
    weights (n_edges, weight_numel); output (n_edges, irreps_out.dim).
    """

    def __init__(self, irreps_in, irreps_sh, irreps_target):
        super().__init__()
        o3, _ = e3nn_modules()
        wanted = {ir for _, ir in o3.Irreps(irreps_target)}
        mid, instructions = [], []
        for i, (mul, ir_in) in enumerate(o3.Irreps(irreps_in)):
            for j, (_, ir_sh) in enumerate(o3.Irreps(irreps_sh)):
                for ir_out in ir_in * ir_sh:
                    if ir_out in wanted:
                        instructions.append((i, j, len(mid), "uvu", False))
                        mid.append((mul, ir_out))
        self.tp = o3.TensorProduct(irreps_in, irreps_sh, o3.Irreps(mid), instructions)
        self.n_paths = len(instructions)
        self.weight_numel = sum(mul for mul, _ in mid)
        # Group the paths by (l, p) so the output has one chunk per irrep type: e3nn's
        # Linear after it then slices a handful of chunks instead of one per path.
        order = sorted(range(len(mid)), key=lambda k: (mid[k][1].l, -mid[k][1].p, k))
        component_start = _cumulative([mul * ir.dim for mul, ir in mid])
        weight_start = _cumulative([mul for mul, _ in mid])
        components, weight_index = [], []
        for k in order:
            mul, ir = mid[k]
            components.extend(range(component_start[k], component_start[k] + mul * ir.dim))
            weight_index.extend(weight_start[k] + u for u in range(mul) for _ in range(ir.dim))
        self.irreps_out = o3.Irreps([mid[k] for k in order]).simplify()
        self.register_buffer("component_order", torch.as_tensor(components, dtype=torch.long), persistent=False)
        self.register_buffer("weight_index", torch.as_tensor(weight_index, dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor, sh: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        unweighted = self.tp(x, sh).index_select(1, self.component_order)
        return unweighted * weights.index_select(1, self.weight_index)


def _cumulative(counts: list[int]) -> list[int]:
    out, total = [], 0
    for c in counts:
        out.append(total)
        total += c
    return out


def irreps_union(*irreps_list):
    """Irreps holding every (l, p) of the inputs, with the largest multiplicity of each; sorted."""
    o3, _ = e3nn_modules()
    mul: dict = {}
    for irreps in irreps_list:
        for m, ir in o3.Irreps(irreps):
            mul[ir] = max(mul.get(ir, 0), m)
    return o3.Irreps([(m, ir) for ir, m in mul.items()]).sort().irreps.simplify()


class InteractionLayer(nn.Module):
    """One round of node then edge updates; see the module docstring."""

    def __init__(self, irreps_node_in, irreps_edge_in, irreps_node_target, irreps_edge_target, irreps_sh,
                 n_edge_scalars: int, radial_hidden: int, avg_num_neighbors: float):
        super().__init__()
        o3, e3nn_nn = e3nn_modules()
        self.avg_num_neighbors = float(avg_num_neighbors)
        irreps_node_in, irreps_edge_in = o3.Irreps(irreps_node_in), o3.Irreps(irreps_edge_in)

        node_gate = gate_for(irreps_node_target)
        self.node_tp = EdgeWeightedTensorProduct(irreps_node_in, irreps_sh, node_gate.irreps_in)
        self.node_weights = e3nn_nn.FullyConnectedNet(
            [n_edge_scalars, radial_hidden, self.node_tp.weight_numel], torch.nn.functional.silu
        )
        self.node_linear = o3.Linear(self.node_tp.irreps_out, node_gate.irreps_in)
        self.node_gate = node_gate
        self.node_skip = o3.Linear(irreps_node_in, node_gate.irreps_out)
        self.irreps_node_out = node_gate.irreps_out

        edge_gate = gate_for(irreps_edge_target)
        self.irreps_pair = irreps_union(self.irreps_node_out, irreps_edge_in)
        self.pair_from_i = o3.Linear(self.irreps_node_out, self.irreps_pair)
        self.pair_from_j = o3.Linear(self.irreps_node_out, self.irreps_pair)
        self.pair_from_edge = o3.Linear(irreps_edge_in, self.irreps_pair)
        self.edge_tp = EdgeWeightedTensorProduct(self.irreps_pair, irreps_sh, edge_gate.irreps_in)
        self.edge_weights = e3nn_nn.FullyConnectedNet(
            [n_edge_scalars, radial_hidden, self.edge_tp.weight_numel], torch.nn.functional.silu
        )
        self.edge_linear = o3.Linear(self.edge_tp.irreps_out, edge_gate.irreps_in)
        self.edge_gate = edge_gate
        self.edge_skip = o3.Linear(irreps_edge_in, edge_gate.irreps_out)
        self.irreps_edge_out = edge_gate.irreps_out
        # (l, p) the edge output can hold with nonzero values: what the TP or the skip reaches.
        self.edge_reachable = {ir for _, ir in self.edge_tp.irreps_out} | {ir for _, ir in irreps_edge_in}

    def forward(self, node, edge, edge_index, edge_sh, edge_scalars, envelope):
        """node (n_atoms, irreps_node_in.dim); edge (n_edges, irreps_edge_in.dim); edge_sh
        (n_edges, irreps_sh.dim); edge_scalars (n_edges, n_edge_scalars); envelope (n_edges, 1)."""
        i, j = edge_index
        messages = self.node_tp(node[j], edge_sh, self.node_weights(edge_scalars)) * envelope
        summed = torch.zeros(node.shape[0], messages.shape[1], dtype=messages.dtype, device=messages.device)
        summed.index_add_(0, i, messages)
        node = self.node_skip(node) + self.node_gate(self.node_linear(summed / self.avg_num_neighbors))
        pair = self.pair_from_i(node)[i] + self.pair_from_j(node)[j] + self.pair_from_edge(edge)
        update = self.edge_tp(pair, edge_sh, self.edge_weights(edge_scalars))
        edge = self.edge_skip(edge) + self.edge_gate(self.edge_linear(update))
        return node, edge
