"""Atomic-orbital bases as e3nn irreps, and how orbital blocks rotate.

Internal convention (used by every stage of the package): the orbitals of an
atom are ordered shell by shell as written in its irreps string (e.g. Ga
``"1x0e+1x1o+1x2e"`` = s, p, d), and within a shell of angular momentum ``l``
the ``2l+1`` real orbitals follow e3nn's real spherical harmonics order. For
``l = 1`` that order is (x, y, z), so ``D^1(R) = R`` for a proper rotation.
Reference adapters convert their own order and signs into this one, once, at
the boundary.

A Hamiltonian block between atoms i and j transforms under a rotation ``R`` of
the structure as ``H_ij -> D_i(R) H_ij D_j(R)^T`` with ``D_i`` the
block-diagonal Wigner matrix of atom i's basis.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.linalg

from thermodefect.core.compat import import_e3nn_o3

SHELL_LETTERS = "spdfgh"


@lru_cache(maxsize=None)
def parse_basis(irreps: str) -> tuple[tuple[int, int], ...]:
    """Shells of a basis as ``((l, parity), ...)`` in order, one entry per shell.

    ``"2x0e+1x1o+1x2e"`` -> ``((0, 1), (0, 1), (1, -1), (2, 1))``. Raises
    ``ValueError`` when a shell's parity is not ``(-1)^l`` (atomic orbitals
    always have that parity).
    """
    o3 = import_e3nn_o3()
    try:
        parsed = o3.Irreps(irreps)
    except Exception as exc:  # e3nn raises assorted errors on bad strings
        raise ValueError(f"not an e3nn irreps string: {irreps!r}") from exc
    shells = []
    for mul, ir in parsed:
        if ir.p != (-1) ** ir.l:
            raise ValueError(
                f"basis {irreps!r}: shell {ir} has parity {ir.p}, atomic orbitals with l={ir.l} need {(-1) ** ir.l}"
            )
        shells.extend([(ir.l, ir.p)] * mul)
    if not shells:
        raise ValueError(f"basis {irreps!r} has no shells")
    return tuple(shells)


def n_orbitals(irreps: str) -> int:
    """Number of orbitals (matrix rows) of one atom with this basis."""
    return sum(2 * l + 1 for l, _ in parse_basis(irreps))


def shell_slices(irreps: str) -> list[tuple[int, slice]]:
    """``(l, slice)`` of each shell's rows inside an atom's orbital block."""
    out, start = [], 0
    for l, _ in parse_basis(irreps):
        out.append((l, slice(start, start + 2 * l + 1)))
        start += 2 * l + 1
    return out


def basis_labels(irreps: str) -> list[str]:
    """Human-readable orbital labels, e.g. ``["s", "p-1", "p0", "p+1", ...]``.

    Labels use the index m = -l..l of e3nn's real basis; for p that is x, y, z.
    """
    labels = []
    counts: dict[int, int] = {}
    for l, _ in parse_basis(irreps):
        counts[l] = counts.get(l, 0) + 1
        prefix = f"{counts[l]}{SHELL_LETTERS[l]}" if counts[l] > 1 else SHELL_LETTERS[l]
        labels.extend([prefix] if l == 0 else [f"{prefix}{m:+d}" for m in range(-l, l + 1)])
    return labels


def wigner_d(irreps: str, rotation: np.ndarray) -> np.ndarray:
    """Orbital rotation matrix ``D(R)`` of one atom's basis, shape (n_orb, n_orb).

    ``rotation`` is a 3x3 orthogonal matrix acting on Cartesian column vectors
    (``r' = R r``); an improper one (det = -1) applies inversion through the
    parity of each shell.
    """
    o3 = import_e3nn_o3()
    import torch

    rot = torch.as_tensor(np.asarray(rotation, dtype=np.float64))
    return scipy.linalg.block_diag(*[o3.Irrep(l, p).D_from_matrix(rot).numpy() for l, p in parse_basis(irreps)])
