"""From equivariant edge features to orbital blocks, and back.

For a pair of shells with angular momenta ``(l1, l2)`` the
``(2l1+1) x (2l2+1)`` sub-block decomposes into irreps
``L = |l1-l2| .. l1+l2`` with parity ``(-1)^(l1+l2)``:

    H[m1, m2] = sum_{L, M} sqrt(2L+1) C^{l1 l2 L}_{m1 m2 M} x_{L M}

with ``C`` e3nn's ``wigner_3j`` (unit Frobenius norm), so the map is an
orthogonal change of basis. Because ``C`` is invariant, rotating ``x`` by
``D^L`` rotates the sub-block as ``D^{l1} H D^{l2 T}``.

All ordered species pairs share one output irreps vector: each pair uses the
first channels of each ``(L, parity)`` it needs, so the head's size is the
maximum over pairs, not the sum.
"""

from __future__ import annotations

import numpy as np
import torch

from thermodefect.core.compat import import_e3nn_o3
from thermodefect.orbitals import n_orbitals, parse_basis, shell_slices


class OrbitalLayout:
    """Species, orbital counts and the irreps each species pair needs.

    ``basis`` maps atomic number -> e3nn irreps string of its orbitals.
    """

    def __init__(self, basis: dict[int, str]):
        self.basis = {int(z): str(b) for z, b in sorted(basis.items())}
        self.numbers = list(self.basis)
        self.species_of = {z: k for k, z in enumerate(self.numbers)}
        self.n_species = len(self.numbers)
        self.orbitals = np.array([n_orbitals(self.basis[z]) for z in self.numbers], dtype=np.int64)
        self.max_orbitals = int(self.orbitals.max())
        self.max_l = max(l for z in self.numbers for l, _ in parse_basis(self.basis[z]))
        self.max_shells = max(len(parse_basis(self.basis[z])) for z in self.numbers)

    def block_shells(self) -> np.ndarray:
        """Shell index of each orbital row of a padded block, per species, (n_species, max_orb); padding 0."""
        out = np.zeros((self.n_species, self.max_orbitals), dtype=np.int64)
        for a, z in enumerate(self.numbers):
            for shell, (_, rows) in enumerate(shell_slices(self.basis[z])):
                out[a, rows] = shell
        return out

    def orbital_slots(self, numbers: np.ndarray) -> np.ndarray:
        """For every orbital of a structure, ``atom * max_shells + shell``, shape (n_orb_total,)."""
        out = []
        for atom, z in enumerate(numbers):
            for shell, (_, rows) in enumerate(shell_slices(self.basis[int(z)])):
                out.extend([atom * self.max_shells + shell] * (rows.stop - rows.start))
        return np.asarray(out, dtype=np.int64)

    def species_index(self, numbers: np.ndarray) -> np.ndarray:
        """Model species index of each atom, shape (n_atoms,)."""
        try:
            return np.array([self.species_of[int(z)] for z in numbers], dtype=np.int64)
        except KeyError as exc:
            from ase.data import chemical_symbols

            z = exc.args[0]
            raise ValueError(
                f"element {chemical_symbols[z]} (Z={z}) is not in the model's basis ({', '.join(chemical_symbols[n] for n in self.numbers)})"
            ) from None

    def pair_index(self, species_i: np.ndarray, species_j: np.ndarray) -> np.ndarray:
        return species_i * self.n_species + species_j

    def shell_pairs(self, z_i: int, z_j: int):
        """``(l1, slice_i, l2, slice_j)`` for every shell pair of two species."""
        for l1, rows in shell_slices(self.basis[z_i]):
            for l2, cols in shell_slices(self.basis[z_j]):
                yield l1, rows, l2, cols

    def output_irreps(self):
        """Irreps of the edge head: for each (L, parity) the max count over species pairs."""
        o3 = import_e3nn_o3()
        need: dict[tuple[int, int], int] = {}
        for z_i in self.numbers:
            for z_j in self.numbers:
                count: dict[tuple[int, int], int] = {}
                for l1, _, l2, _ in self.shell_pairs(z_i, z_j):
                    for big_l in range(abs(l1 - l2), l1 + l2 + 1):
                        key = (big_l, (-1) ** (l1 + l2))
                        count[key] = count.get(key, 0) + 1
                for key, n in count.items():
                    need[key] = max(need.get(key, 0), n)
        return o3.Irreps([(n, key) for key, n in sorted(need.items(), key=lambda kv: (kv[0][0], -kv[0][1]))])

    def assembly_tensors(self) -> torch.Tensor:
        """Linear maps head features -> flattened blocks, (n_pairs, head_dim, max_orb**2), float64."""
        o3 = import_e3nn_o3()
        irreps = self.output_irreps()
        starts = {}
        offset = 0
        for mul, ir in irreps:
            starts[(ir.l, ir.p)] = offset
            offset += mul * ir.dim
        m = self.max_orbitals
        out = torch.zeros(self.n_species**2, irreps.dim, m * m, dtype=torch.float64)
        for a, z_i in enumerate(self.numbers):
            for b, z_j in enumerate(self.numbers):
                used: dict[tuple[int, int], int] = {}
                pair = a * self.n_species + b
                for l1, rows, l2, cols in self.shell_pairs(z_i, z_j):
                    for big_l in range(abs(l1 - l2), l1 + l2 + 1):
                        key = (big_l, (-1) ** (l1 + l2))
                        copy = used.get(key, 0)
                        used[key] = copy + 1
                        first = starts[key] + copy * (2 * big_l + 1)
                        cg = o3.wigner_3j(l1, l2, big_l, dtype=torch.float64) * (2 * big_l + 1) ** 0.5
                        for m1 in range(2 * l1 + 1):
                            for m2 in range(2 * l2 + 1):
                                flat = (rows.start + m1) * m + cols.start + m2
                                out[pair, first : first + 2 * big_l + 1, flat] = cg[m1, m2]
        return out

    def block_mask(self) -> np.ndarray:
        """Valid entries of a padded block per species pair, (n_pairs, max_orb, max_orb) bool."""
        m = self.max_orbitals
        mask = np.zeros((self.n_species**2, m, m), dtype=bool)
        for a in range(self.n_species):
            for b in range(self.n_species):
                mask[a * self.n_species + b, : self.orbitals[a], : self.orbitals[b]] = True
        return mask

    def isotropic_onsite(self, block: np.ndarray, z: int) -> np.ndarray:
        """Rotation-invariant part of an onsite block: per (l, l) shell pair ``tr/(2l+1) · 1``.

        ``block`` is (n_orb, n_orb) or padded; returns (max_orb, max_orb).
        """
        out = np.zeros((self.max_orbitals, self.max_orbitals))
        for l1, rows, l2, cols in self.shell_pairs(z, z):
            if l1 == l2:
                value = np.trace(block[rows, cols]) / (2 * l1 + 1)
                out[rows, cols] = value * np.eye(2 * l1 + 1)
        return out
