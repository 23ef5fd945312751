"""Prediction for structures of any size, and the ensemble spread."""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from thermodefect.core.errors import UserInputError
from thermodefect.data.operators import BlockOperator, Structure, orbital_offsets
from thermodefect.hamiltonian.batch import collate
from thermodefect.hamiltonian.graph import CrystalGraph, build_graph
from thermodefect.orbitals import n_orbitals


def as_structure(item) -> Structure:
    return item if isinstance(item, Structure) else Structure.from_atoms(item)


def model_elements(model) -> set[int]:
    """Atomic numbers a model has an orbital basis for (network, mean ensemble or two-center model)."""
    basis = model.config.basis if hasattr(model, "config") else model.basis
    return {int(z) for z in basis}


def check_model_elements(model, structures: Sequence[Structure]) -> None:
    """Refuse, in one line, a structure with an element outside the model's basis."""
    from ase.data import chemical_symbols

    known = model_elements(model)
    for k, structure in enumerate(structures):
        unknown = sorted({int(z) for z in structure.numbers} - known)
        if unknown:
            raise UserInputError(
                f"structure {k}: element {', '.join(chemical_symbols[z] for z in unknown)} not known to the model "
                f"(it knows {', '.join(chemical_symbols[z] for z in sorted(known))}); predict only structures of the elements it was trained on"
            )


def predicted_blocks(model, graphs: Sequence[CrystalGraph], batch_size: int = 4) -> Iterator[np.ndarray]:
    """Blocks of each graph, (n_edges, max_orb, max_orb) float64 in target units, batched."""
    for blocks, _ in predicted_outputs(model, graphs, batch_size):
        yield blocks


def uses_potentials(model) -> bool:
    return bool(getattr(model, "uses_potentials", False))


def predicted_outputs(model, graphs: Sequence[CrystalGraph], batch_size: int = 4):
    """``(blocks, potentials)`` of each graph: blocks as :func:`predicted_blocks`, atom-shell
    potentials (n_atoms, max_shells) in eV, or None when the model does not use them."""
    import torch

    model.eval()
    with torch.no_grad():
        for start in range(0, len(graphs), batch_size):
            chunk = graphs[start:start + batch_size]
            batch = collate(list(chunk), model.layout).to(model.device, model.dtype)
            blocks, potentials = model.forward_with_potentials(batch)
            blocks = blocks.double().cpu().numpy()
            potentials = potentials.double().cpu().numpy() if uses_potentials(model) else None
            for k in range(len(chunk)):
                u = None if potentials is None else potentials[batch.node_ptr[k]:batch.node_ptr[k + 1]]
                yield blocks[batch.edge_ptr[k]:batch.edge_ptr[k + 1]], u


def orbital_potentials(potentials: np.ndarray, numbers: np.ndarray, layout) -> np.ndarray:
    """Atom-shell potentials (n_atoms, max_shells) spread over each atom's padded orbital slots, (n_atoms, max_orb)."""
    shells = layout.block_shells()[layout.species_index(numbers)]
    return np.take_along_axis(potentials, shells, axis=1)


def potential_blocks(potentials: np.ndarray, graph: CrystalGraph, overlap_blocks: np.ndarray, layout) -> np.ndarray:
    """``(u_i[a] + u_j[b]) / 2 · S_ij(R)[a, b]`` on every edge of ``graph``, (n_edges, max_orb, max_orb)."""
    u_orb = orbital_potentials(potentials, graph.numbers, layout)
    i, j = graph.edge_index
    m = overlap_blocks.shape[1]
    # One (n_edges, m, m) array, filled in place: a 21 Å graph of 1000 atoms has ~1.8 M edges (1.1 GB per array).
    out = np.add(u_orb[i][:, :m, None], u_orb[j][:, None, :m])
    out *= overlap_blocks
    out *= 0.5
    return out


def predict(model, atoms_list, batch_size: int = 4) -> list[BlockOperator]:
    """Real-space blocks ``H_ij(R)`` (or ``S_ij(R)``) for every structure (ase.Atoms or Structure).

    Returns one :class:`BlockOperator` per structure with every edge within
    the model's cutoff, both directions and onsite blocks included; eV for a
    Hamiltonian model, dimensionless for an overlap model.
    """
    from thermodefect.hamiltonian.two_center import TwoCenterModel

    structures = [as_structure(a) for a in atoms_list]
    check_model_elements(model, structures)
    if isinstance(model, TwoCenterModel):
        return [model.operator(s) for s in structures]
    graphs = [build_graph(s, model.config.cutoff_angstrom) for s in structures]
    outputs = predicted_outputs(model, graphs, batch_size)
    return [_Assembly(model, s, g).operator(*out) for s, g, out in zip(structures, graphs, outputs)]


def predict_members(model, atoms_list, batch_size: int = 4) -> list[tuple[BlockOperator, list[BlockOperator]]]:
    """``(mean operator, [operator of each member])`` per structure for an ensemble (``model.members``).

    The mean equals :func:`predict` of the ensemble (blocks and potentials are
    linear in the members); the two-center baseline of a structure is built
    once and shared. A single model gives ``(predict(model), [])``.
    """
    members = list(getattr(model, "members", None) or [])
    if len(members) < 2:
        return [(op, []) for op in predict(model, atoms_list, batch_size)]
    structures = [as_structure(a) for a in atoms_list]
    check_model_elements(model, structures)
    graphs = [build_graph(s, model.config.cutoff_angstrom) for s in structures]
    outputs = [list(predicted_outputs(m, graphs, batch_size)) for m in members]
    result = []
    for k, (s, g) in enumerate(zip(structures, graphs)):
        assembly = _Assembly(model, s, g)
        ops = [assembly.operator(*out[k]) for out in outputs]
        # The mean of the members' networks on the shared baseline: one assembly instead of a mean of full operators.
        potentials = [out[k][1] for out in outputs]
        mean = assembly.operator(np.mean([out[k][0] for out in outputs], axis=0),
                                 None if potentials[0] is None else np.mean(potentials, axis=0))
        result.append((mean, ops))
    return result


class _Assembly:
    """Network blocks (and potentials) of one structure onto its two-center baseline, built once."""

    def __init__(self, model, structure: Structure, graph: CrystalGraph):
        self.model, self.structure, self.graph = model, structure, graph
        self.baseline = getattr(model, "two_center", None)
        self._base = self._long_graph = self._long_overlap = None

    def operator(self, blocks: np.ndarray, potentials: np.ndarray | None) -> BlockOperator:
        from thermodefect.hamiltonian.two_center import add_blocks

        s, g = self.structure, self.graph
        if self.baseline is None:
            return BlockOperator(structure=s, basis=dict(self.model.config.basis), edge_index=g.edge_index,
                                 cell_shift=g.cell_shift, blocks=blocks)
        if self._base is None:
            self._base = self.baseline.operator(s)
        op, owned = self._base, False
        if potentials is not None:  # the potential term on every edge of the (long-ranged) baseline
            if self._long_graph is None:
                self._long_graph = self.baseline.graph(s)
                self._long_overlap = self.baseline.overlap.edge_blocks(self._long_graph)
            total = potential_blocks(potentials, self._long_graph, self._long_overlap, self.model.layout)
            total += op.blocks
            op, owned = BlockOperator(op.structure, dict(op.basis), op.edge_index, op.cell_shift, total), True
        return add_blocks(op, g, blocks, in_place=owned)


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
    check_model_elements(models[0], structures)
    graphs = [build_graph(s, models[0].config.cutoff_angstrom) for s in structures]
    layout = models[0].layout
    per_model = []
    for m in models:
        outputs = list(predicted_outputs(m, graphs, batch_size))
        if uses_potentials(m):  # the spread of the potentials counts, on the network's edges
            overlap = m.two_center.overlap
            outputs = [(b + potential_blocks(u, g, overlap.edge_blocks(g), layout), u) for (b, u), g in zip(outputs, graphs)]
        per_model.append([b for b, _ in outputs])
    out = []
    for k, g in enumerate(graphs):
        species = layout.species_index(g.numbers)
        mask = layout.block_mask()[layout.pair_index(species[g.edge_index[0]], species[g.edge_index[1]])]
        stack = np.stack([blocks[k][mask] for blocks in per_model])  # (n_models, n_entries)
        variance = stack.var(axis=0)
        out.append({"max_std": float(np.sqrt(variance.max())), "rmsd": float(np.sqrt(variance.mean()))})
    return out


# Edges of a long-ranged two-center operator evaluated at a time by the k-point assembly: bounds
# its blocks to ~65 MB (9 x 9 float64 blocks) whatever the cell size.
ASSEMBLY_CHUNK_EDGES = 100_000


class KPointOperators:
    """``H(k)`` of a Hamiltonian model (its mean, then each ensemble member) and ``S(k)`` of its overlap,
    assembled as dense matrices, without the real-space blocks of the whole structure.

    The matrices equal ``bloch_dense`` of :func:`predict` / :func:`predict_members`. What is long-ranged
    -- the two-center overlap, the overlap-scaled baseline and the potential term
    ``(u_i[a] + u_j[b]) / 2 · S_ij(R)[a, b]``, whose Bloch sum is ``(u_a + u_b) / 2 · S(k)[a, b]`` --
    is evaluated :data:`ASSEMBLY_CHUNK_EDGES` edges at a time and added straight into the matrices;
    only the network's short-ranged blocks exist in full. A 21 Å operator of a 1000-atom cell has
    ~1.8 M edges, 1.1 GB of blocks per operator, against 0.65 GB for its dense Γ matrix.

    ``members``: also each member of an ensemble (:meth:`hamiltonians` yields them after the mean).
    :meth:`applies` says whether a (model, overlap) pair can be assembled this way.
    """

    def __init__(self, model, overlap, atoms, k_cart: np.ndarray | None = None, members: bool = False, batch_size: int = 4):
        from thermodefect.electronic.bloch import edge_pair_fill

        if not self.applies(model, overlap):
            raise ValueError("this model/overlap pair is predicted as real-space blocks (predict), not assembled at k")
        self.structure = as_structure(atoms)
        check_model_elements(model, [self.structure])
        self.model, self.overlap, self.k_cart = model, overlap, k_cart
        self.members = members and len(getattr(model, "members", None) or []) >= 2
        self.batch_size = batch_size
        self.basis = dict(model.config.basis) if hasattr(model, "config") else dict(model.basis)
        self.offsets = orbital_offsets(self.structure.numbers, self.basis)
        self.m = max(n_orbitals(irreps) for irreps in self.basis.values())  # padded orbital slots per atom
        self.baseline = model if not hasattr(model, "config") else getattr(model, "two_center", None)
        self.graph = None if self.baseline is model else build_graph(self.structure, model.config.cutoff_angstrom)
        # H's edges: the baseline's (long-ranged) when there is one, else the network's.
        self.edge_index = (self.graph if self.baseline is None else self.baseline.graph(self.structure)).edge_index
        self._fill = edge_pair_fill(self.edge_index, np.diff(self.offsets))
        self._parts = None

    @staticmethod
    def applies(model, overlap) -> bool:
        """True for a network model (or ensemble mean) with no baseline, a two-center baseline or an
        overlap-scaled one on ``overlap`` itself, or a bare two-center Hamiltonian; ``overlap`` a
        two-center model, a network, or None."""
        from thermodefect.hamiltonian.two_center import ScaledTwoCenterModel, TwoCenterModel

        baseline = model if isinstance(model, TwoCenterModel) else getattr(model, "two_center", None)
        if baseline is not None and not isinstance(baseline, TwoCenterModel):
            return False
        if isinstance(baseline, ScaledTwoCenterModel) and overlap is not baseline.overlap:
            return False  # its potential term and S(k) would need two different overlaps
        return overlap is None or isinstance(overlap, TwoCenterModel) or hasattr(overlap, "config")

    def pair_fill_fraction(self) -> float:
        """Fraction of the entries of H(k) inside some atom pair's block (no matrix is built)."""
        return self._fill

    def _sum(self):
        from thermodefect.electronic.bloch import DenseBlochSum

        return DenseBlochSum(self.structure.numbers, self.basis, self.m, self.structure.cell, self.k_cart)

    def _assemble(self):
        """(baseline H sum or None, S sum or None, baseline overlap sum for the potentials or None)."""
        from thermodefect.hamiltonian.graph import edge_chunks
        from thermodefect.hamiltonian.two_center import ScaledTwoCenterModel

        if self._parts is not None:
            return self._parts
        base = s_base = None
        if self.baseline is not None:
            base = self._sum()
            scaled = isinstance(self.baseline, ScaledTwoCenterModel)
            s_base = self._sum() if scaled else None
            for _, part in edge_chunks(self.baseline.graph(self.structure), ASSEMBLY_CHUNK_EDGES):
                if scaled:
                    s_blocks = self.baseline.overlap._edge_blocks(part)
                    s_base.add(part.edge_index, part.cell_shift, s_blocks)
                    base.add(part.edge_index, part.cell_shift, self.baseline.scaled_blocks(part, s_blocks))
                else:
                    base.add(part.edge_index, part.cell_shift, self.baseline._edge_blocks(part))
        if s_base is not None:  # applies(): the overlap is the baseline's own
            s = s_base
        elif self.overlap is None:
            s = None
        elif hasattr(self.overlap, "config"):  # a network overlap: short-ranged blocks
            op = predict(self.overlap, [self.structure], self.batch_size)[0]
            s = self._sum()
            s.add(op.edge_index, op.cell_shift, op.blocks)
        else:
            s = self._sum()
            for _, part in edge_chunks(self.overlap.graph(self.structure), ASSEMBLY_CHUNK_EDGES):
                s.add(part.edge_index, part.cell_shift, self.overlap._edge_blocks(part))
        self._parts = (base, s, s_base)
        return self._parts

    @property
    def overlap_matrix(self) -> np.ndarray | None:
        """``S(k)`` (n_orb, n_orb), or None for an orthogonal basis."""
        s = self._assemble()[1]
        return None if s is None else s.matrix()

    def hamiltonians(self):
        """``H(k)`` of the model (an ensemble's mean), then, with ``members``, of each member in turn.

        Each matrix is built when asked for; the last one is built in the baseline's own array.
        """
        base, _, s_base = self._assemble()
        if self.baseline is self.model:  # a bare two-center Hamiltonian
            yield base.matrix()
            return
        models = list(self.model.members) if self.members else []
        outputs = [list(predicted_outputs(m, [self.graph], self.batch_size))[0] for m in models or [self.model]]
        if self.members:
            potentials = [u for _, u in outputs]
            outputs.insert(0, (np.mean([b for b, _ in outputs], axis=0),
                               None if potentials[0] is None else np.mean(potentials, axis=0)))
        for k, (blocks, potentials) in enumerate(outputs):
            last = k == len(outputs) - 1
            total = self._sum() if base is None else base if last else base.like()
            total.add(self.graph.edge_index, self.graph.cell_shift, blocks)
            if potentials is not None:
                total.add_potential(orbital_potentials(potentials, self.graph.numbers, self.model.layout)[:, :total.m], s_base)
            if last:
                self._parts = None  # the baseline's array now holds this member's H
            yield total.matrix()
