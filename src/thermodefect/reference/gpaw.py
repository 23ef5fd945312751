"""GPAW LCAO (PBE) as reference: energy, forces, H(k), S(k), and H(R), S(R) when the k-mesh allows.

Optional: ``pip install 'thermodefect[dft]'`` (see docs/reference.md for the
compiler and libxc prerequisites). GPAW's LCAO orbitals use the Wikipedia
real-harmonic order (p: y, z, x), converted here to the package order.

* ``get_lcao_hamiltonian(calc)`` gives ``H(k)`` (eV) and ``S(k)`` on the full
  k-mesh (symmetry is switched off so the mesh is not reduced).
* With a mesh of more than one k-point per periodic direction, the blocks
  ``O_ij(R)`` come from ``gpaw.lcao.tightbinding.TightBinding``'s inverse
  Bloch transform on the Γ-centred mesh. GPAW's sign of R is checked against
  the package convention ``O(k) = Σ_R exp(2πi k·R) O(R)`` by re-summing onto
  the mesh; the mesh must cover the orbitals' reach (≈11 Å; ≥ 3x3x3 for a
  64-atom GaAs cell) or the blocks are aliased -- a Γ-only run stores H(Γ).
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

import numpy as np
from ase.calculators.calculator import CalculationFailed

from thermodefect.data.conventions import matrix_to_package, structure_transform
from thermodefect.data.operators import BlockOperator, HamiltonianSample, KSpaceMatrices, Structure, orbital_offsets
from thermodefect.core.errors import UserInputError
from thermodefect.reference.base import Reference, irreps_from_shells

BLOCK_THRESHOLD = 1e-8  # drop real-space blocks whose largest |H| (eV) and |S| are below this
BLOCH_CHECK_ATOL = 1e-6  # re-summed O(k) must match GPAW's to this (eV)


class GpawReference(Reference):
    name = "gpaw"
    provides = frozenset({"energy", "forces", "hamiltonian", "overlap"})
    option_defaults = {
        "basis": "szp(dzp)",  # GPAW LCAO basis ("dzp": 13 orbitals per Ga/As)
        "xc": "PBE",
        "kpts": [1, 1, 1],  # Γ-centred Monkhorst-Pack mesh
        "h_angstrom": 0.2,  # real-space grid spacing
        "smearing_ev": 0.01,  # Fermi-Dirac width
        "realspace": "auto",  # "auto": H(R) when every periodic direction has > 1 k-point
        "txt": None,  # GPAW log file (None: silent)
    }

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        kpts = options["kpts"]
        if not (isinstance(kpts, (list, tuple)) and len(kpts) == 3 and all(isinstance(k, int) and k > 0 for k in kpts)):
            raise UserInputError(f"reference 'gpaw': kpts must be three positive integers, got {kpts!r}")
        if options["realspace"] not in ("auto", True, False):
            raise UserInputError("reference 'gpaw': realspace must be \"auto\", true or false")

    def _gpaw(self, atoms):
        try:
            from gpaw import GPAW, FermiDirac
        except ImportError:
            raise UserInputError("reference 'gpaw' needs GPAW: pip install 'thermodefect[dft]' (see docs/reference.md)") from None
        o = self.options
        return GPAW(
            mode="lcao",
            basis=o["basis"],
            xc=o["xc"],
            h=o["h_angstrom"],
            kpts={"size": tuple(o["kpts"]), "gamma": True},
            occupations=FermiDirac(o["smearing_ev"]),
            symmetry="off",
            txt=o["txt"],
        )

    def provenance(self) -> dict[str, Any]:
        try:
            version = importlib.metadata.version("gpaw")
        except importlib.metadata.PackageNotFoundError:
            version = None
        return {**super().provenance(), "code": "gpaw", "code_version": version}

    def calculate(self, atoms=None, properties=("energy", "forces"), system_changes=()):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms.copy()
        atoms.calc = self._gpaw(atoms)
        try:
            self.results["energy"] = float(atoms.get_potential_energy())
            self.results["forces"] = atoms.get_forces()
        except Exception as exc:  # GPAW raises its own convergence errors
            raise CalculationFailed(f"gpaw: {type(exc).__name__}: {exc}") from exc
        if self.wants_hamiltonian:
            self.results["hamiltonian_sample"] = self._sample(atoms, atoms.calc)

    def _basis(self, calc) -> dict[int, str]:
        basis = {}
        for setup in calc.wfs.setups:
            shells = [function.get_angular_momentum_number() for function in setup.basis_functions_J]
            basis[int(setup.Z)] = irreps_from_shells(shells)
        return basis

    def _sample(self, atoms, calc) -> HamiltonianSample:
        from gpaw.lcao.tools import get_lcao_hamiltonian

        h_skmm, s_kmm = get_lcao_hamiltonian(calc)  # eV, full mesh (symmetry off)
        basis = self._basis(calc)
        transform = structure_transform(atoms.numbers, basis, "wikipedia")
        h_k = np.array([matrix_to_package(h, transform) for h in h_skmm[0]])
        s_k = np.array([matrix_to_package(s, transform) for s in s_kmm])
        kpts_frac = np.asarray(calc.get_ibz_k_points())
        electrons = float(calc.wfs.setups.nvalence)
        kpts = np.asarray(self.options["kpts"])
        periodic = np.asarray(atoms.pbc)
        want_realspace = self.options["realspace"]
        if want_realspace == "auto":
            want_realspace = bool(np.all(kpts[periodic] > 1))
        common = {"structure": Structure.from_atoms(atoms), "basis": basis, "n_electrons": electrons}
        if not want_realspace:
            return HamiltonianSample(**common, kspace=KSpaceMatrices(kpts_frac, h_k, s_k))
        from gpaw.lcao.tightbinding import TightBinding

        tb = TightBinding(atoms, calc)
        cells = np.asarray(tb.R_cN).T  # (n_R, 3)
        h_r = np.real(tb.bloch_to_real_space(h_k))
        s_r = np.real(tb.bloch_to_real_space(s_k))
        cells = _package_sign_of_r(cells, h_r, h_k, kpts_frac)
        h_op, s_op = _block_operators(common["structure"], basis, cells, h_r, s_r)
        return HamiltonianSample(**common, realspace=(h_op, s_op))


def _bloch_sum(cells: np.ndarray, o_r: np.ndarray, kpts_frac: np.ndarray) -> np.ndarray:
    phases = np.exp(2j * np.pi * kpts_frac @ cells.T)  # (n_k, n_R)
    return np.einsum("kr,rab->kab", phases, o_r)


def _package_sign_of_r(cells, h_r, h_k, kpts_frac) -> np.ndarray:
    """R vectors such that Σ_R exp(2πi k·R) H(R) reproduces GPAW's H(k) on the mesh."""
    for candidate in (cells, -cells):
        if np.abs(_bloch_sum(candidate, h_r, kpts_frac) - h_k).max() < BLOCH_CHECK_ATOL:
            return candidate
    raise CalculationFailed("gpaw: real-space H(R) does not reproduce H(k) on the mesh; check the k-mesh")


def _block_operators(structure, basis, cells, h_r, s_r) -> tuple[BlockOperator, BlockOperator]:
    off = orbital_offsets(structure.numbers, basis)
    width = int(np.diff(off).max())
    n_atoms = len(structure.numbers)
    edges, shifts, h_blocks, s_blocks = [], [], [], []
    for r, cell in enumerate(cells):
        for i in range(n_atoms):
            for j in range(n_atoms):
                si, sj = slice(off[i], off[i + 1]), slice(off[j], off[j + 1])
                h, s = h_r[r, si, sj], s_r[r, si, sj]
                if max(np.abs(h).max(), np.abs(s).max()) < BLOCK_THRESHOLD:
                    continue
                hp, sp = np.zeros((width, width)), np.zeros((width, width))
                hp[: h.shape[0], : h.shape[1]] = h
                sp[: s.shape[0], : s.shape[1]] = s
                edges.append((i, j))
                shifts.append(cell)
                h_blocks.append(hp)
                s_blocks.append(sp)
    edge_index = np.asarray(edges).T
    shift = np.asarray(shifts, dtype=np.int64)
    return (
        BlockOperator(structure, basis, edge_index, shift, np.asarray(h_blocks)),
        BlockOperator(structure, basis, edge_index, shift, np.asarray(s_blocks)),
    )
