"""Orbital order and sign conventions of other codes, converted to the package's.

The package orders the ``2l+1`` orbitals of a shell as e3nn's real spherical
harmonics (see :mod:`thermodefect.orbitals`). Other codes use:

* the "Wikipedia" real spherical harmonics, m = -l..l
  (p: y, z, x; d: xy, yz, z², xz, x²-y²) -- tblite uses exactly this order;
* OpenMX (and the DeepH layout written from it): p: x, y, z;
  d: z², x²-y², xy, xz, yz; the permutation to the Wikipedia order is the
  one DeepH-E3 applies (``Us_openmx2wiki``).

A code's orbitals are ``phi_code = M_l phi_package`` shell by shell
(``M_l`` orthogonal), so an operator converts as
``O_package = M^T O_code M`` with ``M`` block-diagonal over all shells.

e3nn's harmonics are the Wikipedia ones with the Cartesian axes relabelled
(x, y, z) -> (y, z, x), hence ``M_l(wikipedia) = D_l(P)`` with ``P`` that
cyclic permutation -- verified against explicit formulas in the tests.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.linalg

from thermodefect.orbitals import parse_basis

# Rows of the cyclic axis permutation taking (x, y, z) -> (y, z, x).
_AXES_WIKIPEDIA_FROM_E3NN = np.eye(3)[[1, 2, 0]]

# OpenMX orbital index -> position in the Wikipedia order, per l (DeepH-E3's
# ``Us_openmx2wiki``: wiki = U openmx with U = eye[perm]).
_OPENMX_TO_WIKIPEDIA_PERMUTATION = {
    0: [0],
    1: [1, 2, 0],
    2: [2, 4, 0, 3, 1],
    3: [6, 4, 2, 0, 1, 3, 5],
}


@lru_cache(maxsize=None)
def wikipedia_from_package(l: int) -> np.ndarray:
    """``M_l`` with ``phi_wikipedia = M_l phi_package``, shape (2l+1, 2l+1)."""
    from thermodefect.orbitals import wigner_d

    irreps = f"1x{l}{'e' if l % 2 == 0 else 'o'}"
    return wigner_d(irreps, _AXES_WIKIPEDIA_FROM_E3NN)


@lru_cache(maxsize=None)
def openmx_from_package(l: int) -> np.ndarray:
    """``M_l`` with ``phi_openmx = M_l phi_package``, shape (2l+1, 2l+1)."""
    if l not in _OPENMX_TO_WIKIPEDIA_PERMUTATION:
        raise ValueError(f"OpenMX orbital order is known up to l=3, got l={l}")
    wiki_from_openmx = np.eye(2 * l + 1)[_OPENMX_TO_WIKIPEDIA_PERMUTATION[l]]
    return wiki_from_openmx.T @ wikipedia_from_package(l)


CONVENTIONS = {
    "package": lambda l: np.eye(2 * l + 1),
    "wikipedia": wikipedia_from_package,
    "tblite": wikipedia_from_package,
    "openmx": openmx_from_package,
}


def atom_transform(irreps: str, convention: str) -> np.ndarray:
    """Block-diagonal ``M`` of one atom's basis, ``phi_code = M phi_package``."""
    per_l = CONVENTIONS[convention]
    return scipy.linalg.block_diag(*[per_l(l) for l, _ in parse_basis(irreps)])


def structure_transform(numbers: np.ndarray, basis: dict[int, str], convention: str) -> np.ndarray:
    """Block-diagonal ``M`` over all atoms of a structure, shape (n_orb, n_orb)."""
    return scipy.linalg.block_diag(*[atom_transform(basis[int(z)], convention) for z in numbers])


def matrix_to_package(matrix: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """``M^T O M``: a full matrix or block from a code's order into the package order."""
    return transform.T @ matrix @ transform


def block_to_package(block: np.ndarray, irreps_i: str, irreps_j: str, convention: str) -> np.ndarray:
    """One block ``O_ij`` (n_orb_i, n_orb_j) from a code's convention into the package's."""
    return atom_transform(irreps_i, convention).T @ block @ atom_transform(irreps_j, convention)


def block_from_package(block: np.ndarray, irreps_i: str, irreps_j: str, convention: str) -> np.ndarray:
    """Inverse of :func:`block_to_package`."""
    return atom_transform(irreps_i, convention) @ block @ atom_transform(irreps_j, convention).T
