"""One symmetry test battery for every Hamiltonian/overlap model class.

In the style of NequIP's ``BasicModelTestsMixin`` and e3nn's
``assert_equivariant``: each model class is wrapped in a :class:`ModelCase`
(a factory plus the structures it is checked on), the ``model_case`` fixture
runs over all of them, and the ``*_error`` helpers below measure, through the
public :func:`thermodefect.hamiltonian.predict` (so network + baseline
composition is what gets tested), how far a model is from

1. rotation equivariance, proper and improper:
   ``H_ij(R·x) = D_i(R) H_ij(x) D_j(R)^T``, D from the orbital irreps (e3nn
   ``Irreps.D_from_matrix`` in the package order, see :mod:`thermodefect.orbitals`);
2. Hermiticity ``H_ij(R) = H_ji(-R)^T`` (onsite blocks symmetric included);
3. translation: of one atom by a lattice vector (cell shifts relabelled) and of
   the whole structure by any vector;
4. permutation of atoms permuting the blocks;
5. batch = single (models that take batches).

Errors are the largest absolute deviation divided by the largest block
element of the reference prediction (so the tolerances below are relative and
serve eV Hamiltonians and dimensionless overlaps alike).

Network models run at float32 (the shipped default) and float64. Two-center
models are numpy float64 throughout (coefficients, splines, blocks), with no
dtype option, so they run once, at their native float64.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from scipy.spatial.transform import Rotation

from thermodefect.core.compat import import_e3nn_o3
from thermodefect.hamiltonian import build_model, predict
from thermodefect.hamiltonian.two_center import ScaledTwoCenterModel, TwoCenterModel

from .conftest import SPD, molecule_box, tiny_settings

# ---------------------------------------------------------------- tolerances
# All relative to the largest block element (see the module docstring). Measured maxima
# over every case below, 3 random rotations x (proper, improper) x 3 structures each:
#
# Rotation, float32: <= 5.9e-7 for the small networks, <= 7.2e-7 for the lmax-4 one
#   (~6 ulps, eps = 1.2e-7; it grows with the number of tensor-product paths).
# Rotation, float64, two-center models: <= 3.4e-15.
# Rotation, float64, networks: ~1e-15 since HamiltonianModel builds its e3nn layers under its
#   own default dtype (e3nn 0.4.4 stores Wigner-3j constants in the default dtype at build
#   time; built under float32 and cast, a float64 network was equivariant only to ~1e-9).
ROTATION_RTOL = {torch.float32: 3e-6, torch.float64: 1e-13}
# Checks exact up to the round-off of re-ordered sums and of float64 edge vectors cast to
# the model dtype: Hermiticity, translation, permutation, batch = single.
# Measured: float32 <= 1.4e-7, float64 <= 1.6e-15 (Hermiticity of the bare networks: exactly 0).
ROUNDOFF_RTOL = {torch.float32: 1e-6, torch.float64: 1e-13}
MIN_BLOCK_NORM = 1e-3  # off-site predictions must not be trivially zero

DTYPES = (torch.float32, torch.float64)
DTYPE_NAMES = {torch.float32: "float32", torch.float64: "float64"}

# ---------------------------------------------------------------- structures
GAAS = {31: SPD, 33: SPD}
# Two s shells (H), sp (O), and 2s + p + d (Si) in one model: blocks of 2, 4 and 10
# orbitals, so padding and shells of equal l meet in every pair.
MIXED = {1: "2x0e", 8: "1x0e+1x1o", 14: "2x0e+1x1o+1x2e"}
NETWORK_CUTOFF = 4.2  # > 4.0 Å = primitive GaAs lattice vector: periodic self-images (i, i, R != 0) are edges
TWO_CENTER_CUTOFF = 5.0  # >= the network cutoff, as a baseline must be


def gaas_cubic(seed: int = 1, rattle_angstrom: float = 0.12) -> Atoms:
    """8-atom conventional GaAs cell, rattled so no symmetry hides errors."""
    atoms = bulk("GaAs", "zincblende", a=5.65, cubic=True)
    atoms.positions += np.random.default_rng(seed).normal(0, rattle_angstrom, atoms.positions.shape)
    return atoms


def gaas_primitive(seed: int = 2, rattle_angstrom: float = 0.1) -> Atoms:
    """2-atom primitive GaAs cell (lattice vectors 4.0 Å): each atom sees its own images."""
    atoms = bulk("GaAs", "zincblende", a=5.65)
    atoms.positions += np.random.default_rng(seed).normal(0, rattle_angstrom, atoms.positions.shape)
    return atoms


def mixed_box(seed: int = 3) -> Atoms:
    return molecule_box("SiHOSiHO", seed=seed)


# ---------------------------------------------------------------- model factories
# lmax 2 (the "fast" preset's), two scalar and one l > 0 channel per irrep: the quickest network that reaches spd blocks.
SMALL = dict(lmax=2, irreps_node="2x0e+1x1o+1x2e", irreps_edge="2x0e+1x1o+1x1e+1x2e+1x2o+1x3o+1x3e+1x4e")


def _network(basis: dict, dtype: torch.dtype, target: str = "hamiltonian", seed: int = 0, small: bool = True):
    """A tiny random network of the package's build path at ``dtype``, with a nonzero
    ``target_scale`` and an isotropic onsite baseline (what training sets). ``small=False``:
    conftest's tiny settings (lmax 4 like the published preset, two channels per irrep)."""
    torch.manual_seed(seed)
    settings = tiny_settings(cutoff_angstrom=NETWORK_CUTOFF, default_dtype=DTYPE_NAMES[dtype], **(SMALL if small else {}))
    model = build_model(settings, basis, target, avg_num_neighbors=8.0)
    rng = np.random.default_rng(seed)
    m = model.layout.max_orbitals
    # Onsite blocks are symmetric. Kept small: the errors are relative to the largest block,
    # and a large constant would hide the network's own.
    symmetric = [0.1 * (a + a.T) for a in rng.normal(size=(model.layout.n_species, m, m))]
    onsite = np.stack([model.layout.isotropic_onsite(a, z) for a, z in zip(symmetric, model.layout.numbers)])
    with torch.no_grad():
        model.target_scale.fill_(1.7)
        model.onsite_baseline.copy_(torch.as_tensor(onsite))
    assert model.dtype == dtype
    return model.eval()


def _two_center(target: str, seed: int) -> TwoCenterModel:
    """Smooth random radial functions (decaying with distance) and onsite constants."""
    model = TwoCenterModel(GAAS, TWO_CENTER_CUTOFF, r_min_angstrom=1.5, knot_spacing_angstrom=0.5, target=target)
    rng = np.random.default_rng(seed)
    centres = 0.5 * (model.knots[2:2 + model.n_radial] + model.knots[4:4 + model.n_radial])
    radial = rng.normal(size=(len(model.channels), 1)) * np.exp(-(centres - 1.5) / 1.5)[None, :]
    model.coefficients = np.concatenate([radial.ravel(), rng.normal(size=len(model.onsite_channels))])
    return model


def _scaled_two_center(seed: int) -> ScaledTwoCenterModel:
    model = ScaledTwoCenterModel(_two_center("overlap", seed), knot_spacing_angstrom=0.8)
    model.coefficients = np.random.default_rng(seed + 1).normal(size=model.n_unknowns)
    return model


def _with_baseline(dtype: torch.dtype, baseline):
    """The network with a two-center baseline attached, as ``train_model(..., baseline=)`` composes them."""
    model = copy.deepcopy(cached_model("network-hamiltonian", dtype))
    model.two_center = baseline
    if model.uses_potentials:
        with torch.no_grad():
            model.potential_scale.fill_(0.5)
            model.potential_offset.fill_(0.3)
    return model


@dataclass(frozen=True)
class Family:
    """What a model class is built from and checked on."""

    build: object  # dtype -> model
    basis: dict
    network: bool  # a HamiltonianModel (takes batches, has a dtype) or a two-center model (numpy float64)
    structures: object = lambda: [gaas_cubic(), gaas_primitive()]  # () -> list[Atoms], the symmetry checks
    # () -> list[Atoms] of different sizes, batch = single
    batch_structures: object = lambda: [gaas_cubic(), gaas_primitive(), gaas_primitive(seed=7), gaas_cubic(seed=9)]


FAMILIES: dict[str, Family] = {
    "network-hamiltonian": Family(lambda dt: _network(GAAS, dt), GAAS, True),
    "network-overlap": Family(lambda dt: _network(GAAS, dt, "overlap", seed=1), GAAS, True),
    "network-mixed-bases": Family(lambda dt: _network(MIXED, dt, seed=2, small=False), MIXED, True, lambda: [mixed_box()],
                                  lambda: [mixed_box(seed) for seed in (3, 4, 5)]),
    "network+two-center": Family(lambda dt: _with_baseline(dt, _two_center("hamiltonian", seed=5)), GAAS, True),
    "network+scaled-two-center": Family(lambda dt: _with_baseline(dt, _scaled_two_center(seed=8)), GAAS, True),
    "two-center-hamiltonian": Family(lambda dt: _two_center("hamiltonian", seed=5), GAAS, False),
    "two-center-overlap": Family(lambda dt: _two_center("overlap", seed=3), GAAS, False),
    "scaled-two-center": Family(lambda dt: _scaled_two_center(seed=8), GAAS, False),
}


@lru_cache(maxsize=None)
def cached_model(family: str, dtype: torch.dtype):
    """Each model is built once per session; the checks never modify it."""
    return FAMILIES[family].build(dtype)


@dataclass(frozen=True)
class ModelCase:
    family: str
    dtype: torch.dtype  # the network's dtype; float64 (native) for two-center models

    @property
    def id(self) -> str:
        return f"{self.family}-{DTYPE_NAMES[self.dtype]}"

    @property
    def spec(self) -> Family:
        return FAMILIES[self.family]

    @property
    def basis(self) -> dict:
        return self.spec.basis

    @property
    def batched(self) -> bool:
        return self.spec.network

    @property
    def rotation_rtol(self) -> float:
        return ROTATION_RTOL[self.dtype]

    @property
    def roundoff_rtol(self) -> float:
        return ROUNDOFF_RTOL[self.dtype]

    def model(self):
        return cached_model(self.family, self.dtype)

    def structures(self) -> list[Atoms]:
        return self.spec.structures()

    def batch_structures(self) -> list[Atoms]:
        return self.spec.batch_structures()

    def predict(self, atoms_list, batch_size: int = 4) -> list[dict]:
        """``{(Rx, Ry, Rz, i, j): block}`` of each structure, float64."""
        return [op.as_dict() for op in predict(self.model(), list(atoms_list), batch_size=batch_size)]


MODEL_CASES = [ModelCase(name, dt) for name, fam in FAMILIES.items() for dt in (DTYPES if fam.network else (torch.float64,))]
BATCHED_CASES = [c for c in MODEL_CASES if c.batched]


@pytest.fixture(params=MODEL_CASES, ids=lambda c: c.id)
def model_case(request) -> ModelCase:
    return request.param


# ---------------------------------------------------------------- helpers
def random_rotation(seed: int, improper: bool) -> np.ndarray:
    return Rotation.random(random_state=seed).as_matrix() * (-1.0 if improper else 1.0)


def rotated(atoms: Atoms, rotation: np.ndarray) -> Atoms:
    """Positions and cell rotated together (fractional coordinates, hence edge keys, unchanged)."""
    out = atoms.copy()
    out.positions = atoms.positions @ rotation.T
    out.set_cell(atoms.cell[:] @ rotation.T, scale_atoms=False)
    return out


def orbital_d(irreps: str, rotation: np.ndarray) -> np.ndarray:
    """Block-diagonal orbital rotation of one atom's basis: e3nn ``Irreps.D_from_matrix`` of its
    irreps string, which is the package order (shells as written, e3nn's m order; parity for det < 0)."""
    o3 = import_e3nn_o3()
    return o3.Irreps(irreps).D_from_matrix(torch.as_tensor(rotation, dtype=torch.float64)).numpy()


def block_scale(blocks: dict) -> float:
    return max(float(np.abs(b).max()) for b in blocks.values())


def offsite_scale(blocks: dict) -> float:
    return max(float(np.abs(b).max()) for (rx, ry, rz, i, j), b in blocks.items() if (rx, ry, rz, i) != (0, 0, 0, j))


def _max_diff(expected: dict, got: dict, key_map=lambda k: k) -> float:
    assert len(expected) == len(got), f"{len(expected)} edges became {len(got)}"
    mapped = {key_map(k): k for k in expected}
    assert set(mapped) == set(got), "edge sets differ"
    return max(float(np.abs(got[new] - expected[old]).max()) for new, old in mapped.items())


def rotation_error(case: ModelCase, atoms: Atoms, rotation: np.ndarray) -> tuple[float, float]:
    """``max |H(R·x) - D H(x) D^T| / max |H|`` and ``max |H|`` (e3nn ``assert_equivariant`` style)."""
    before, after = case.predict([atoms, rotated(atoms, rotation)])
    d = {z: orbital_d(b, rotation) for z, b in case.basis.items()}
    z = atoms.numbers
    expected = {k: d[z[k[3]]] @ b @ d[z[k[4]]].T for k, b in before.items()}
    scale = block_scale(before)
    return _max_diff(expected, after) / scale, offsite_scale(before)


def hermiticity_error(case: ModelCase, atoms: Atoms) -> float:
    """``max |H_ij(R) - H_ji(-R)^T| / max |H|``; every edge must have its partner."""
    (blocks,) = case.predict([atoms])
    transposed = {(-rx, -ry, -rz, j, i): b.T for (rx, ry, rz, i, j), b in blocks.items()}
    return _max_diff(transposed, blocks) / block_scale(blocks)


def lattice_translation_error(case: ModelCase, atoms: Atoms, atom: int, lattice_shift) -> float:
    """Move ``atom`` by ``lattice_shift · cell``: edge (i, j, R) becomes (i, j, R + n[i==atom] - n[j==atom])."""
    n = np.asarray(lattice_shift, dtype=np.int64)
    moved = atoms.copy()
    moved.positions[atom] += n @ atoms.cell[:]

    def relabel(key):
        rx, ry, rz, i, j = key
        r = np.array([rx, ry, rz]) + n * (i == atom) - n * (j == atom)
        return (*map(int, r), i, j)

    before, after = case.predict([atoms, moved])
    return _max_diff(before, after, relabel) / block_scale(before)


def rigid_translation_error(case: ModelCase, atoms: Atoms, vector) -> float:
    moved = atoms.copy()
    moved.positions += np.asarray(vector, dtype=np.float64)
    before, after = case.predict([atoms, moved])
    return _max_diff(before, after) / block_scale(before)


def permutation_error(case: ModelCase, atoms: Atoms, perm: np.ndarray) -> float:
    """New atom k is old atom ``perm[k]``: block (R, i, j) moves to (R, p(i), p(j))."""
    new_of_old = np.argsort(perm)
    before, after = case.predict([atoms, atoms[perm]])
    return _max_diff(before, after, lambda k: (*k[:3], int(new_of_old[k[3]]), int(new_of_old[k[4]]))) / block_scale(before)


def batch_error(case: ModelCase, structures: list[Atoms]) -> float:
    """Structures of different sizes in one batch against one at a time."""
    batched = case.predict(structures, batch_size=len(structures))
    single = [case.predict([a], batch_size=1)[0] for a in structures]
    return max(_max_diff(s, b) / block_scale(s) for s, b in zip(single, batched))
