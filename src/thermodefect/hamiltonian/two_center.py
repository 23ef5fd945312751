"""Two-center (Slater-Koster) operators fitted by linear least squares.

An overlap matrix in a localized atomic-orbital basis is exactly two-center:
the block of the shell pair ``(l1, l2)`` of atoms ``i, j`` depends only on
the species and the bond vector ``r``. In the equivariant form of the
Hamiltonian model (:mod:`.blocks`) it reads

    O[m1, m2](r) = sum_L f_L(|r|) sum_M sqrt(2L+1) C^{l1 l2 L}_{m1 m2 M} Y_LM(r/|r|),

with only the ``L`` of parity ``(-1)^L = (-1)^(l1+l2)`` present (one radial
function per Slater-Koster integral: ss sigma; sp sigma; pp sigma, pi; ...).
Each ``f_L`` is a clamped cubic B-spline on ``[r_min, cutoff]`` whose value
and slope vanish at the cutoff; onsite blocks are one constant per pair of
shells of equal ``l`` times the identity. Every number is a linear
coefficient, so a fit to reference matrices (at Γ, where each entry sums all
periodic images within the cutoff, or real-space blocks) is a linear
least-squares problem with a small smoothness penalty on the splines.

For a Hamiltonian the same form is the two-center tight-binding
approximation. It is used as a baseline: the equivariant network learns only
the many-body remainder inside its own (shorter) cutoff, while the baseline
carries the long-ranged tails of diffuse orbitals that a Γ-point reference
folds into every matrix element.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import scipy.sparse
from scipy.interpolate import BSpline

from thermodefect.data.operators import BlockOperator, HamiltonianSample, Structure, orbital_offsets
from thermodefect.core.errors import UserInputError
from thermodefect.hamiltonian.graph import CrystalGraph, build_graph
from thermodefect.orbitals import parse_basis, shell_slices

FORMAT = "thermodefect-two-center-v1"
_GRAPH_CACHE: list = []  # (key, CrystalGraph), most recent first


@dataclass(frozen=True)
class Channel:
    """One radial function: species (a <= b, model order), shells (s1 of a, s2 of b), and L."""

    a: int
    b: int
    s1: int
    s2: int
    big_l: int


@lru_cache(maxsize=None)
def _coupling(l1: int, l2: int, big_l: int) -> np.ndarray:
    """``sqrt(2L+1) C^{l1 l2 L}``, (2l1+1, 2l2+1, 2L+1), e3nn's ``wigner_3j``."""
    import torch

    from thermodefect.core.compat import import_e3nn_o3

    return (import_e3nn_o3().wigner_3j(l1, l2, big_l, dtype=torch.float64) * (2 * big_l + 1) ** 0.5).numpy()


def _harmonics(unit: np.ndarray, lmax: int) -> list[np.ndarray]:
    """Real spherical harmonics ``Y_L(unit)`` for L = 0..lmax (e3nn, component normalization)."""
    import torch

    from thermodefect.core.compat import import_e3nn_o3

    o3 = import_e3nn_o3()
    u = torch.as_tensor(unit, dtype=torch.float64)
    return [o3.spherical_harmonics(big_l, u, normalize=False, normalization="component").numpy() for big_l in range(lmax + 1)]


def _angular(l1: int, l2: int, big_l: int, y: np.ndarray) -> np.ndarray:
    """``T[e, m1, m2] = sum_M sqrt(2L+1) C_{m1 m2 M} Y_LM(r_e)``, (n, 2l1+1, 2l2+1), from ``y = Y_L`` (n, 2L+1)."""
    return np.einsum("abm,em->eab", _coupling(l1, l2, big_l), y, optimize=True)


class TwoCenterModel:
    """Two-center operator for the elements of ``basis`` (atomic number -> irreps string)."""

    caches_blocks = True  # keep the last graph's edge blocks (see edge_blocks)

    def __init__(self, basis: dict[int, str], cutoff_angstrom: float = 21.0, r_min_angstrom: float = 1.2,
                 knot_spacing_angstrom: float = 0.25, target: str = "overlap"):
        if cutoff_angstrom <= r_min_angstrom + 4 * knot_spacing_angstrom:
            raise UserInputError(f"two-center cutoff {cutoff_angstrom} Å is too short for r_min {r_min_angstrom} Å")
        self.basis = {int(z): str(b) for z, b in sorted(basis.items())}
        self.numbers = list(self.basis)
        self.cutoff = float(cutoff_angstrom)
        self.r_min = float(r_min_angstrom)
        self.knot_spacing = float(knot_spacing_angstrom)
        self.target = target
        n_intervals = int(np.ceil((self.cutoff - self.r_min) / self.knot_spacing))
        inner = np.linspace(self.r_min, self.cutoff, n_intervals + 1)
        self.knots = np.concatenate([[self.r_min] * 3, inner, [self.cutoff] * 3])
        # Clamped cubic: the last two basis functions carry the value and slope at the cutoff; drop them.
        self.n_radial = len(self.knots) - 4 - 2
        self.shells = {z: [l for l, _ in parse_basis(self.basis[z])] for z in self.numbers}
        self.slices = {z: [s for _, s in shell_slices(self.basis[z])] for z in self.numbers}
        self.channels: list[Channel] = self._build_channels()
        self.channel_index = {c: k for k, c in enumerate(self.channels)}
        self.onsite_channels = [(a, s1, s2) for a, z in enumerate(self.numbers)
                                for s1, l1 in enumerate(self.shells[z]) for s2, l2 in enumerate(self.shells[z])
                                if l1 == l2 and s1 <= s2]
        self.n_unknowns = len(self.channels) * self.n_radial + len(self.onsite_channels)
        self.coefficients = np.zeros(self.n_unknowns)
        self.fit_info: dict = {}

    def _build_channels(self) -> list[Channel]:
        channels = []
        for a, za in enumerate(self.numbers):
            for b in range(a, len(self.numbers)):
                zb = self.numbers[b]
                for s1, l1 in enumerate(self.shells[za]):
                    for s2, l2 in enumerate(self.shells[zb]):
                        for big_l in range(abs(l1 - l2), l1 + l2 + 1):
                            if (big_l - l1 - l2) % 2 == 0:
                                channels.append(Channel(a, b, s1, s2, big_l))
        return channels

    # ------------------------------------------------------------------ terms
    def _radial_design(self, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cubic B-spline basis at ``length``: (columns, values), each (n, 4); dropped columns get value 0."""
        r = np.clip(length, self.r_min, np.nextafter(self.cutoff, 0.0))
        full = BSpline.design_matrix(r, self.knots, 3).tocsr()
        full.sort_indices()
        if full.nnz != 4 * len(r):  # pragma: no cover - scipy always stores k+1 entries per row
            dense = full.toarray()
            cols = np.argsort(-np.abs(dense), axis=1)[:, :4]
            vals = np.take_along_axis(dense, cols, axis=1)
        else:
            cols, vals = full.indices.reshape(-1, 4), full.data.reshape(-1, 4).copy()
        dropped = cols >= self.n_radial
        vals[dropped] = 0.0
        cols = np.where(dropped, 0, cols)
        return cols, vals

    def _terms(self, graph: CrystalGraph):
        """Yield ``(edges, channel, T (n, 2l1+1, 2l2+1), rows slice, cols slice, weight)``.

        The block of edge ``(i, j, R)`` is ``sum weight · f_channel(|r|) · T`` over its
        terms. Pairs with species a > b use the partner's form transposed, pairs of one
        species average both orientations, so ``O_ij(R) = O_ji(-R)^T`` by construction.
        """
        length = np.linalg.norm(graph.edge_vector, axis=1)
        offsite = length > 1e-8
        unit = np.zeros_like(graph.edge_vector)
        unit[offsite] = graph.edge_vector[offsite] / length[offsite, None]
        lmax = 2 * max(max(ls) for ls in self.shells.values())
        y_plus, y_minus = _harmonics(unit, lmax), None
        for a, b, edges in self._pair_groups(graph):
            za, zb = self.numbers[a], self.numbers[b]
            orientations = [(+1, 1.0)] if a < b else [(-1, 1.0)] if a > b else [(+1, 0.5), (-1, 0.5)]
            if y_minus is None and any(sign < 0 for sign, _ in orientations):
                y_minus = [y * (-1) ** big_l for big_l, y in enumerate(y_plus)]  # Y_L(-r) = (-1)^L Y_L(r)
            for sign, weight in orientations:
                for s1, l1 in enumerate(self.shells[za]):
                    for s2, l2 in enumerate(self.shells[zb]):
                        for big_l in range(abs(l1 - l2), l1 + l2 + 1):
                            if (big_l - l1 - l2) % 2:
                                continue
                            rows, cols = self.slices[za][s1], self.slices[zb][s2]
                            if sign > 0:
                                channel = self.channel_index[Channel(a, b, s1, s2, big_l)]
                                t = _angular(l1, l2, big_l, y_plus[big_l][edges])
                            else:  # the partner (j, i, -R) in canonical order, transposed
                                channel = self.channel_index[Channel(b, a, s2, s1, big_l)]
                                t = _angular(l2, l1, big_l, y_minus[big_l][edges]).transpose(0, 2, 1)
                            yield edges, channel, t, rows, cols, weight

    def _pair_groups(self, graph: CrystalGraph):
        """``(a, b, offsite edges)`` for every ordered pair of model species present."""
        species = np.array([self.numbers.index(int(z)) for z in graph.numbers])
        si, sj = species[graph.edge_index[0]], species[graph.edge_index[1]]
        offsite = np.linalg.norm(graph.edge_vector, axis=1) > 1e-8
        for a in range(len(self.numbers)):
            for b in range(len(self.numbers)):
                edges = np.flatnonzero(offsite & (si == a) & (sj == b))
                if edges.size:
                    yield a, b, edges

    def graph(self, structure: Structure) -> CrystalGraph:
        """The structure's graph at this model's cutoff (the last few are cached: H and S share them)."""
        key = (self.cutoff, np.asarray(structure.numbers).tobytes(), np.asarray(structure.positions, dtype=np.float64).tobytes(),
               np.asarray(structure.cell, dtype=np.float64).tobytes(), tuple(structure.pbc))
        for cached_key, graph in _GRAPH_CACHE:
            if cached_key == key:
                return graph
        graph = build_graph(structure, self.cutoff)
        _GRAPH_CACHE.insert(0, (key, graph))
        del _GRAPH_CACHE[2:]
        return graph

    def edge_blocks(self, graph: CrystalGraph) -> np.ndarray:
        """Blocks of every edge of ``graph``, (n_edges, max_orb, max_orb), read-only.

        The blocks of the last graph are kept (``caches_blocks``): the overlap
        of a structure is needed for S, for the overlap-scaled H baseline and
        for its potential term, and each member of an ensemble asks again.
        """
        import weakref

        if not self.caches_blocks:
            out = self._edge_blocks(graph)
            out.flags.writeable = False
            return out
        coefficients = self._coefficient_arrays()
        cached = getattr(self, "_blocks_cache", None)
        if cached is not None and cached[0]() is graph and all(a is b for a, b in zip(cached[1], coefficients)):
            return cached[2]
        out = self._edge_blocks(graph)
        out.flags.writeable = False
        self._blocks_cache = (weakref.ref(graph), coefficients, out)
        return out

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_blocks_cache", None)  # a weak reference: not picklable, and only a cache
        return state

    def _coefficient_arrays(self) -> tuple:
        """The arrays the blocks depend on (a refit replaces them, which invalidates the cache)."""
        return (self.coefficients,)

    def _edge_blocks(self, graph: CrystalGraph) -> np.ndarray:
        out, onsite_edges, radial = self._blocks_setup(graph)
        group, buffer = None, None  # terms arrive grouped by species pair: fill a dense buffer per group
        for edges, channel, t, rows, cols, weight in self._terms(graph):
            if edges is not group:
                if group is not None:
                    out[group] = buffer  # the groups are disjoint: each off-site edge has one species pair
                group, buffer = edges, np.zeros((len(edges), *out.shape[1:]))
                group_radial = radial(edges)
            buffer[:, rows, cols] += t * (weight * group_radial(channel))[:, None, None]
        if group is not None:
            out[group] = buffer
        self._add_onsite(out, graph, onsite_edges)
        return out

    def _blocks_setup(self, graph: CrystalGraph):
        """``(zero blocks (n_edges, m, m), on-site edge indices, radial)``: ``radial(edges)(channel)`` is
        that channel's radial function on those edges (their spline columns gathered once)."""
        m = max(sum(2 * l + 1 for l in self.shells[z]) for z in self.numbers)
        length = np.linalg.norm(graph.edge_vector, axis=1)
        kcols, kvals = self._radial_design(length)
        coef = self.coefficients[: len(self.channels) * self.n_radial].reshape(len(self.channels), self.n_radial)

        def radial(edges):
            columns, values = kcols[edges], kvals[edges]
            return lambda channel: np.einsum("ek,ek->e", coef[channel][columns], values)

        onsite_edges = np.flatnonzero((graph.edge_index[0] == graph.edge_index[1]) & (length < 1e-8))
        return np.zeros((graph.n_edges, m, m)), onsite_edges, radial

    def _add_onsite(self, out: np.ndarray, graph: CrystalGraph, onsite_edges: np.ndarray) -> None:
        base = len(self.channels) * self.n_radial
        for k, (a, s1, s2) in enumerate(self.onsite_channels):
            z = self.numbers[a]
            edges = onsite_edges[graph.numbers[graph.edge_index[0, onsite_edges]] == z]
            rows, cols = self.slices[z][s1], self.slices[z][s2]
            eye = np.eye(rows.stop - rows.start) * self.coefficients[base + k]
            out[edges, rows, cols] += eye
            if s1 != s2:
                out[edges, cols, rows] += eye

    def operator(self, structure: Structure | object) -> BlockOperator:
        """The operator of a structure (or ASE atoms) as real-space blocks."""
        if not isinstance(structure, Structure):
            structure = Structure.from_atoms(structure)
        self._check_elements(structure.numbers)
        graph = self.graph(structure)
        return BlockOperator(structure, dict(self.basis), graph.edge_index, graph.cell_shift, self.edge_blocks(graph))

    def _check_elements(self, numbers: Iterable[int]) -> None:
        missing = sorted(set(int(z) for z in numbers) - set(self.numbers))
        if missing:
            raise UserInputError(f"elements {missing} are not in the two-center model's basis {self.basis}")

    # ------------------------------------------------------------------ fit
    def _design_gamma(self, graph: CrystalGraph, rows_of_atoms: np.ndarray | None = None) -> scipy.sparse.csr_matrix:
        """Sparse map unknowns -> flattened O(Γ) entries, (n_orb² , n_unknowns)."""
        offsets = orbital_offsets(graph.numbers, self.basis)
        n = int(offsets[-1])
        length = np.linalg.norm(graph.edge_vector, axis=1)
        radial_cols, radial_vals = self._radial_design(length)
        keep = np.ones(graph.n_edges, dtype=bool) if rows_of_atoms is None else np.isin(graph.edge_index[0], rows_of_atoms)
        r_parts, c_parts, v_parts = [], [], []
        for edges, channel, t, rows, cols, weight in self._terms(graph):
            edges_kept = keep[edges]
            edges, t = edges[edges_kept], t[edges_kept]
            if edges.size == 0:
                continue
            ri = offsets[graph.edge_index[0, edges]][:, None, None] + rows.start + np.arange(rows.stop - rows.start)[None, :, None]
            ci = offsets[graph.edge_index[1, edges]][:, None, None] + cols.start + np.arange(cols.stop - cols.start)[None, None, :]
            flat = (ri * n + ci).reshape(len(edges), -1)  # (E, nm)
            kcols, kvals = radial_cols[edges], radial_vals[edges]  # (E, 4)
            values = weight * t.reshape(len(edges), -1)[:, :, None] * kvals[:, None, :]  # (E, nm, 4)
            r_parts.append(np.broadcast_to(flat[:, :, None], values.shape).ravel())
            c_parts.append(np.broadcast_to((channel * self.n_radial + kcols)[:, None, :], values.shape).ravel())
            v_parts.append(values.ravel())
        base = len(self.channels) * self.n_radial
        onsite = np.flatnonzero((graph.edge_index[0] == graph.edge_index[1]) & (length < 1e-8) & keep)
        for k, (a, s1, s2) in enumerate(self.onsite_channels):
            z = self.numbers[a]
            atoms = graph.edge_index[0, onsite[graph.numbers[graph.edge_index[0, onsite]] == z]]
            rows, cols = self.slices[z][s1], self.slices[z][s2]
            diag = np.arange(rows.stop - rows.start)
            for r0, c0 in {(rows.start, cols.start), (cols.start, rows.start)}:
                flat = ((offsets[atoms][:, None] + r0 + diag) * n + offsets[atoms][:, None] + c0 + diag).ravel()
                r_parts.append(flat)
                c_parts.append(np.full(flat.size, base + k))
                v_parts.append(np.ones(flat.size))
        matrix = scipy.sparse.coo_matrix((np.concatenate(v_parts), (np.concatenate(r_parts), np.concatenate(c_parts))),
                                         shape=(n * n, self.n_unknowns))
        return matrix.tocsr()

    def _smoothness(self) -> scipy.sparse.csr_matrix:
        """Second differences of every channel's spline coefficients."""
        d2 = scipy.sparse.diags([1.0, -2.0, 1.0], [0, 1, 2], shape=(self.n_radial - 2, self.n_radial))
        blocks = scipy.sparse.block_diag([d2] * len(self.channels))
        pad = scipy.sparse.csr_matrix((blocks.shape[0], len(self.onsite_channels)))
        return scipy.sparse.hstack([blocks, pad]).tocsr()

    def fit(self, samples: Sequence[HamiltonianSample], smoothing: float = 1e-4, atoms_per_sample: int | None = None,
            seed: int = 0, progress=None) -> dict:
        """Least-squares fit to reference matrices at Γ (or real-space blocks).

        ``atoms_per_sample`` limits the rows used per sample to that many atoms (chosen at
        random): a 64-atom Γ matrix already over-determines the coefficients many times.
        Returns the fit residual (MAE and max over the fitted entries).
        """
        if not samples:
            raise UserInputError("two-center fit: no samples")
        rng = np.random.default_rng(seed)
        gram = np.zeros((self.n_unknowns, self.n_unknowns))
        rhs = np.zeros(self.n_unknowns)
        systems = []
        for sample in samples:
            self._check_elements(sample.structure.numbers)
            if parse_basis(sample.basis[int(sample.structure.numbers[0])]) != parse_basis(self.basis[int(sample.structure.numbers[0])]):
                raise UserInputError(f"two-center fit: sample basis {sample.basis} differs from the model's {self.basis}")
            graph = self.graph(sample.structure)
            n_atoms = graph.n_atoms
            chosen = None
            if atoms_per_sample is not None and atoms_per_sample < n_atoms:
                chosen = np.sort(rng.choice(n_atoms, atoms_per_sample, replace=False))
            design = self._design_gamma(graph, chosen)
            target = np.real(self._gamma_target(sample)).ravel()
            offsets = orbital_offsets(graph.numbers, self.basis)
            if chosen is not None:
                rows = np.concatenate([np.arange(offsets[a], offsets[a + 1]) for a in chosen])
                n = int(offsets[-1])
                used = (rows[:, None] * n + np.arange(n)[None, :]).ravel()
            else:
                used = np.arange(target.size)
            design = design[used]
            gram += (design.T @ design).toarray()
            rhs += design.T @ target[used]
            systems.append((design, target[used]))
            if progress is not None:
                progress()
        penalty = self._smoothness()
        scale = np.trace(gram) / self.n_unknowns
        lhs = gram + smoothing * scale * (penalty.T @ penalty).toarray() + 1e-10 * scale * np.eye(self.n_unknowns)
        self.coefficients = np.linalg.solve(lhs, rhs)
        residual = np.concatenate([np.abs(d @ self.coefficients - t) for d, t in systems])
        self.fit_info = {"samples": len(samples), "entries": int(residual.size), "mae": float(residual.mean()),
                         "max_abs": float(residual.max()), "smoothing": smoothing, "cutoff_angstrom": self.cutoff}
        return dict(self.fit_info)

    def _gamma_target(self, sample: HamiltonianSample) -> np.ndarray:
        if sample.kspace is not None:
            k = np.flatnonzero(np.all(np.abs(np.asarray(sample.kspace.kpts_frac).reshape(-1, 3)) < 1e-12, axis=1))
            if k.size == 0:
                raise UserInputError("two-center fit: a k-space sample without Γ")
            matrices = sample.kspace.overlap if self.target == "overlap" else sample.kspace.hamiltonian
            if matrices is None:
                raise UserInputError("two-center fit: the sample has no overlap (orthogonal basis)")
            return np.asarray(matrices)[k[0]]
        from thermodefect.electronic.bloch import bloch_sum

        h_op, s_op = sample.realspace
        op = s_op if self.target == "overlap" else h_op
        if op is None:
            raise UserInputError("two-center fit: the sample has no overlap (orthogonal basis)")
        return np.real(bloch_sum(op, k_frac=np.zeros(3)).toarray())

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict:
        return {"format": FORMAT, "form": "slater_koster", "basis": {str(z): b for z, b in self.basis.items()},
                "cutoff_angstrom": self.cutoff, "r_min_angstrom": self.r_min, "knot_spacing_angstrom": self.knot_spacing,
                "target": self.target, "coefficients": self.coefficients.tolist(), "fit": self.fit_info}

    @classmethod
    def from_dict(cls, data: dict, source: str = "two-center model") -> "TwoCenterModel":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise UserInputError(f"{source}: not a two-center model file (format {FORMAT!r} expected)")
        try:
            if data.get("form", "slater_koster") == "overlap_scaled":
                model = ScaledTwoCenterModel(TwoCenterModel.from_dict(data["overlap"], f"{source} (its overlap)"),
                                             data["knot_spacing_angstrom"], data["target"])
            else:
                model = TwoCenterModel({int(z): b for z, b in data["basis"].items()}, data["cutoff_angstrom"],
                                       data["r_min_angstrom"], data["knot_spacing_angstrom"], data["target"])
            coefficients = np.asarray(data["coefficients"], dtype=np.float64)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UserInputError(f"{source}: malformed two-center model ({exc})") from None
        if coefficients.shape != (model.n_unknowns,) or not np.all(np.isfinite(coefficients)):
            raise UserInputError(f"{source}: {coefficients.shape[0] if coefficients.ndim else 0} coefficients, "
                                 f"expected {model.n_unknowns} finite numbers")
        model.coefficients = coefficients
        model.fit_info = dict(data.get("fit", {}))
        return model

    def save(self, path: str | Path) -> None:
        from thermodefect.core.files import atomic_write_json

        atomic_write_json(Path(path), self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "TwoCenterModel":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise UserInputError(f"{path}: no such two-center model file") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise UserInputError(f"{path}: cannot read two-center model ({exc})") from None
        return cls.from_dict(data, str(path))


class ScaledTwoCenterModel(TwoCenterModel):
    """``H_ij(R)[s1, s2] = F^{ab}_{s1 s2}(|r|) · S_ij(R)[s1, s2]`` on a two-center overlap ``S``.

    The extended-Hückel (Wolfsberg-Helmholz) form: one scalar radial function
    per species pair and shell pair scales the overlap sub-block; onsite blocks
    are constants per pair of equal-``l`` shells. Exact for GFN-xTB Hamiltonians
    when ``F`` may also depend on the environment (coordination numbers, charges):
    the two-center ``F(d)`` is the baseline, the network adds the rest. Because
    the long-ranged tails come from the exact overlap, ``F`` needs only coarse
    knots, and Γ-folded data pin it down far better than a free Slater-Koster fit.
    """

    # Built once per structure by the prediction's assembly; held on, the blocks would double the
    # memory of a large cell (1.1 GB per array at 1000 atoms and 21 Å).
    caches_blocks = False

    def __init__(self, overlap: TwoCenterModel, knot_spacing_angstrom: float = 0.5, target: str = "hamiltonian"):
        if isinstance(overlap, ScaledTwoCenterModel) or overlap.target != "overlap":
            raise UserInputError("the overlap-scaled form needs a two-center overlap model")
        self.overlap = overlap
        super().__init__(overlap.basis, overlap.cutoff, overlap.r_min, knot_spacing_angstrom, target)

    def _coefficient_arrays(self) -> tuple:
        return (self.coefficients, *self.overlap._coefficient_arrays())

    def _build_channels(self) -> list[Channel]:
        return [Channel(a, b, s1, s2, -1) for a, za in enumerate(self.numbers) for b in range(a, len(self.numbers))
                for s1 in range(len(self.shells[za])) for s2 in range(len(self.shells[self.numbers[b]]))]

    def _channels_of(self, a: int, b: int, s1: int, s2: int) -> list[tuple[int, float]]:
        """``(channel, weight)`` whose ``F`` scales shell pair ``(s1, s2)`` of species pair ``(a, b)``.

        F is symmetric under swapping the ends: F^{ab}_{s1 s2} = F^{ba}_{s2 s1}; like species average both.
        """
        index = self.channel_index
        if a < b:
            return [(index[Channel(a, b, s1, s2, -1)], 1.0)]
        if a > b:
            return [(index[Channel(b, a, s2, s1, -1)], 1.0)]
        return [(index[Channel(a, a, s1, s2, -1)], 0.5), (index[Channel(a, a, s2, s1, -1)], 0.5)]

    def _terms(self, graph: CrystalGraph):
        overlap_blocks = self.overlap.edge_blocks(graph)
        for a, b, edges in self._pair_groups(graph):
            za, zb = self.numbers[a], self.numbers[b]
            for s1 in range(len(self.shells[za])):
                for s2 in range(len(self.shells[zb])):
                    rows, cols = self.slices[za][s1], self.slices[zb][s2]
                    t = overlap_blocks[edges, rows, cols]
                    for channel, weight in self._channels_of(a, b, s1, s2):
                        yield edges, channel, t, rows, cols, weight

    def _edge_blocks(self, graph: CrystalGraph) -> np.ndarray:
        return self.scaled_blocks(graph, self.overlap.edge_blocks(graph))

    def scaled_blocks(self, graph: CrystalGraph, overlap_blocks: np.ndarray) -> np.ndarray:
        """The blocks of :meth:`_terms` from the overlap's blocks on ``graph``, computed in place: each
        species pair's overlap blocks, gathered once, scaled sub-block by sub-block (a view each) by its ``F``."""
        out, onsite_edges, radial = self._blocks_setup(graph)
        for a, b, edges in self._pair_groups(graph):
            za, zb = self.numbers[a], self.numbers[b]
            f_of, block = radial(edges), overlap_blocks[edges]
            for s1 in range(len(self.shells[za])):
                for s2 in range(len(self.shells[zb])):
                    f = sum(weight * f_of(channel) for channel, weight in self._channels_of(a, b, s1, s2))
                    block[:, self.slices[za][s1], self.slices[zb][s2]] *= f[:, None, None]
            out[edges] = block
        self._add_onsite(out, graph, onsite_edges)
        return out

    def to_dict(self) -> dict:
        return {**super().to_dict(), "form": "overlap_scaled", "overlap": self.overlap.to_dict()}


def atoms_per_sample_for(n_samples: int) -> int:
    """Atoms whose rows a fit on ``n_samples`` structures uses per structure: ~128 in all, 4 to 32 each.

    Every structure adds bond lengths; a few atoms' rows of each already over-determine the fit.
    """
    return int(np.clip(np.ceil(128 / n_samples), 4, 32))


def pair_structures(numbers: Sequence[int], r_min_angstrom: float, r_max_angstrom: float, step_angstrom: float = 0.1,
                    directions: int = 2, seed: int = 0):
    """Two atoms in vacuum (ASE atoms, non-periodic 100 Å box) for every species pair, distance and direction.

    Their overlaps are the real-space two-center blocks themselves, with no
    periodic images folded in: the data that pin down an overlap model exactly.
    """
    from ase import Atoms

    rng = np.random.default_rng(seed)
    units = rng.normal(size=(directions, 3))
    units /= np.linalg.norm(units, axis=1, keepdims=True)
    distances = np.arange(r_min_angstrom, r_max_angstrom + 1e-9, step_angstrom)
    numbers = sorted(set(int(z) for z in numbers))
    out = []
    for a, za in enumerate(numbers):
        for zb in numbers[a:]:
            for d in distances:
                for u in units:
                    atoms = Atoms(numbers=[za, zb], positions=[[50.0, 50.0, 50.0], 50.0 + d * u], cell=[100.0] * 3, pbc=False)
                    atoms.info["pair_distance_angstrom"] = float(d)
                    out.append(atoms)
    return out


def _pair_overlaps(item: tuple) -> list:
    """Worker side of :func:`fit_overlap_from_pairs`: the overlaps of one chunk of pairs (module level: pickled)."""
    _, reference, structures = item
    return [reference.pair_overlap(atoms) for atoms in structures]


def fit_overlap_from_pairs(reference, basis: dict[int, str], cutoff_angstrom: float, r_min_angstrom: float = 1.2,
                           step_angstrom: float = 0.1, directions: int = 2, seed: int = 0,
                           workers: int = 1) -> TwoCenterModel:
    """The two-center overlap fitted to ``reference.pair_overlap`` of atom pairs in vacuum.

    The pair calculations run in chunks on ``workers`` processes (one: in
    this process; more: the reference must pickle). The chunks are put back
    in order, so the fit does not depend on ``workers``. The first failing
    chunk's error is raised.
    """
    from thermodefect.core.executors import LocalExecutor

    structures = pair_structures(list(basis), r_min_angstrom + 0.05, cutoff_angstrom - 0.02, step_angstrom, directions, seed)
    workers = max(1, workers)
    size = max(1, -(-len(structures) // (8 * workers)))  # 8 chunks per worker: even finish, little pickling
    chunks = [(k, reference, structures[i:i + size]) for k, i in enumerate(range(0, len(structures), size))]
    done: dict[int, list] = {}
    with LocalExecutor(workers) as executor:
        for (k, _, _), result in executor.map(_pair_overlaps, chunks):
            if isinstance(result, BaseException):
                raise result
            done[k] = result
    samples = [sample for k in range(len(chunks)) for sample in done[k]]
    model = TwoCenterModel(basis, cutoff_angstrom, r_min_angstrom, target="overlap")
    model.fit(samples, smoothing=1e-6)
    model.fit_info["pairs"] = len(samples)
    return model


def add_blocks(op: BlockOperator, graph: CrystalGraph, blocks: np.ndarray, in_place: bool = False) -> BlockOperator:
    """``op`` plus padded ``blocks`` on the edges of ``graph`` (every one of which ``op`` must have).

    ``in_place``: add into ``op.blocks`` (the caller's own array) instead of a copy.
    """
    from thermodefect.hamiltonian.graph import encode_edges, match_edges

    n_atoms = len(op.structure.numbers)
    span = int(max(np.abs(op.cell_shift).max(initial=0), np.abs(graph.cell_shift).max(initial=0))) + 1
    where = match_edges(encode_edges(op.edge_index, op.cell_shift, n_atoms, span),
                        encode_edges(graph.edge_index, graph.cell_shift, n_atoms, span))
    if np.any(where < 0):
        raise ValueError("an edge of the network is beyond the two-center cutoff; the network cutoff must not exceed it")
    total = op.blocks if in_place else op.blocks.copy()
    m = min(total.shape[1], blocks.shape[1])
    total[where, :m, :m] += blocks[:, :m, :m]
    return BlockOperator(op.structure, dict(op.basis), op.edge_index, op.cell_shift, total)
