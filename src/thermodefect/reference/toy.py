"""An analytic two-centre Slater–Koster tight-binding toy for a binary compound.

This is a *fake* reference: fast, deterministic and exactly equivariant, for
tests and plumbing checks. It is not physics and must not be used for results.

Model (units eV, Å):

* basis per atom: s and p (``"1x0e+1x1o"``), optionally a d shell
  (``"1x0e+1x1o+1x2e"``), in the package orbital order (e3nn real spherical
  harmonics, p = x, y, z);
* onsite energies per species and shell;
* bond integrals ``V_{l l' m}(d) = V0_{l l' m} exp(-beta (d - d0)) f_c(d)``
  with a cosine taper ``f_c`` from ``cutoff - width`` to ``cutoff``;
* optional non-orthogonal overlap built the same way (onsite S = identity);
* energy and forces from a Morse pair potential per species pair with the
  same taper, its minimum at the GaAs bond length 2.447 Å.

Two-centre blocks are built in a frame whose polar axis is the bond (e3nn's
polar axis is y: the m = 0 component of each shell points along it). There
the block is diagonal in m with ``V_{l l' |m|}`` (Slater–Koster), then rotated
to the bond with Wigner matrices, ``H_ij = D_i(Q) H0 D_j(Q)^T`` with
``Q y = (r_j - r_i)/d``. For s and p this reproduces the Slater–Koster table
(``E_{s,x} = l V_spσ``, ``E_{x,x} = l² V_ppσ + (1 - l²) V_ppπ``, ...).
Bond integrals ``V_{l l' m}`` with ``l < l'`` are listed for the lower-l
orbital on atom i; the reverse order takes the parity sign ``(-1)^{l+l'}``.
The s–p integrals depend on the species holding the s orbital; equal-l
integrals are averaged over the two species.

Default parameters: GaAs from Vogl, Hjalmarson and Dow's sp3 set
(J. Phys. Chem. Solids 44, 365 (1983), without the s* orbital), converted to
two-centre integrals (V_ss = 4 V_ssσ, V_xx = 4/3 (V_ppσ + 2 V_ppπ),
V_xy = 4/3 (V_ppσ - V_ppπ), V_sp = 4/√3 V_spσ), with Harrison's 1/d² scaling
as ``beta = 2/d0``. Measured at Γ, a = 5.65 Å, with the default overlap:
pristine gap 1.82 eV (64 and 216 atoms; 1.55 eV orthogonal); As_Ga has a
doubly occupied A1 level in the gap, 1.48 eV above the VBM with 52% of its
weight on the antisite and its 4 neighbours (216 atoms). Lowering the Ga s
energy narrows the gap but pushes that level into the conduction band, so
Vogl's values are kept. V_As gives no in-gap level in this model.

The Morse pair potential acts between nearest neighbours only (the taper
ends before the second-neighbour shell at 4.0 Å), so the lattice has no
shear stiffness: fine for short MD plumbing runs, not for long dynamics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.neighborlist import neighbor_list

from thermodefect.core import keys
from thermodefect.data.operators import BlockOperator, HamiltonianSample, Structure
from thermodefect.core.errors import UserInputError
from thermodefect.orbitals import n_orbitals, parse_basis

GAAS_BOND_ANGSTROM = 2.447

SP_BASIS = "1x0e+1x1o"
SPD_BASIS = "1x0e+1x1o+1x2e"


class ToyModelError(UserInputError):
    """A structure or option the toy tight-binding model cannot handle."""


BondTable = dict[tuple[int, int, int], float]  # (l, l', |m|) with l <= l' -> value


@dataclass(frozen=True)
class ToyParameters:
    """Parameters of :class:`ToyTightBinding` (eV, Å)."""

    onsite_ev: dict[str, dict[int, float]]  # species -> {l: onsite energy}
    hopping_ev: dict[str, BondTable]  # species holding the lower-l orbital -> V0 at d0
    overlap: dict[str, BondTable]  # same layout, dimensionless S0 at d0
    valence_electrons: dict[str, int]
    d0_angstrom: float = GAAS_BOND_ANGSTROM
    beta_per_angstrom: float = 2.0 / GAAS_BOND_ANGSTROM
    overlap_beta_per_angstrom: float = 2.0 / GAAS_BOND_ANGSTROM
    cutoff_angstrom: float = 3.6
    cutoff_width_angstrom: float = 0.6
    # Morse pair potential per unordered species pair: (depth eV, a 1/Å, r0 Å).
    morse: dict[frozenset, tuple[float, float, float]] = field(default_factory=dict)
    with_d: bool = False

    @property
    def basis_irreps(self) -> str:
        return SPD_BASIS if self.with_d else SP_BASIS


def _gaas_tables(with_d: bool) -> tuple[dict, dict, dict]:
    onsite = {"Ga": {0: -2.6569, 1: 3.6686}, "As": {0: -8.3431, 1: 1.0414}}
    shared = {(0, 0, 0): -1.6128, (1, 1, 0): 3.027, (1, 1, 1): -0.781}
    hop = {"Ga": {**shared, (0, 1, 0): 2.504}, "As": {**shared, (0, 1, 0): 1.940}}
    s_shared = {(0, 0, 0): 0.04, (1, 1, 0): 0.06, (1, 1, 1): -0.015}
    ovl = {"Ga": {**s_shared, (0, 1, 0): 0.05}, "As": {**s_shared, (0, 1, 0): 0.045}}
    if with_d:
        # An empty d shell well above the conduction band, weakly coupled.
        onsite["Ga"][2], onsite["As"][2] = 9.0, 8.0
        d_hop = {(0, 2, 0): -0.8, (1, 2, 0): -0.9, (1, 2, 1): 0.5, (2, 2, 0): -0.6, (2, 2, 1): 0.4, (2, 2, 2): -0.1}
        d_ovl = {(0, 2, 0): -0.01, (1, 2, 0): -0.012, (1, 2, 1): 0.006, (2, 2, 0): -0.008, (2, 2, 1): 0.005, (2, 2, 2): -0.001}
        for sp in ("Ga", "As"):
            hop[sp].update(d_hop)
            ovl[sp].update(d_ovl)
    return onsite, hop, ovl


def gaas_parameters(with_d: bool = False, orthogonal: bool = False, **overrides) -> ToyParameters:
    """Default GaAs toy parameters; ``overrides`` replace any field (e.g. ``cutoff_angstrom``)."""
    onsite, hop, ovl = _gaas_tables(with_d)
    if orthogonal:
        ovl = {"Ga": {}, "As": {}}
    morse = {
        frozenset({"Ga", "As"}): (2.0, 1.6, GAAS_BOND_ANGSTROM),
        frozenset({"Ga"}): (1.2, 1.6, GAAS_BOND_ANGSTROM),
        frozenset({"As"}): (1.6, 1.6, GAAS_BOND_ANGSTROM),
    }
    fields = dict(
        onsite_ev=onsite,
        hopping_ev=hop,
        overlap=ovl,
        valence_electrons={"Ga": 3, "As": 5},
        morse=morse,
        with_d=with_d,
    )
    fields.update(overrides)
    return ToyParameters(**fields)


def cosine_taper(d: np.ndarray, cutoff: float, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Smooth cutoff ``f_c(d)`` (1 below ``cutoff - width``, 0 above ``cutoff``) and ``df_c/dd``."""
    x = np.clip((d - (cutoff - width)) / width, 0.0, 1.0)
    f = 0.5 * (1.0 + np.cos(np.pi * x))
    inside = (x > 0.0) & (x < 1.0)
    df = np.where(inside, -0.5 * np.pi / width * np.sin(np.pi * x), 0.0)
    return f, df


def _frame_wigner(basis: str, directions: np.ndarray) -> np.ndarray:
    """Wigner matrices ``D(Q)`` with ``Q y = u`` for unit bonds ``u``, shape (n, n_orb, n_orb)."""
    import torch

    from thermodefect.core.compat import import_e3nn_o3

    o3 = import_e3nn_o3()
    u = torch.as_tensor(directions, dtype=torch.float64)
    alpha, beta = o3.xyz_to_angles(u)
    gamma = torch.zeros_like(alpha)
    n_orb = n_orbitals(basis)
    out = np.zeros((len(directions), n_orb, n_orb))
    start = 0
    for l, p in parse_basis(basis):
        size = 2 * l + 1
        out[:, start : start + size, start : start + size] = o3.Irrep(l, p).D_from_angles(alpha, beta, gamma).numpy()
        start += size
    return out


def _bond_frame_block(table_i: BondTable, table_j: BondTable, basis: str) -> np.ndarray:
    """Block in the bond frame (i at origin, j along +y), values at d0; shape (n_orb, n_orb)."""
    shells = [l for l, _ in parse_basis(basis)]
    n_orb = n_orbitals(basis)
    block = np.zeros((n_orb, n_orb))
    starts = np.concatenate([[0], np.cumsum([2 * l + 1 for l in shells])])
    for a, la in enumerate(shells):
        for b, lb in enumerate(shells):
            for m in range(-min(la, lb), min(la, lb) + 1):
                key = (min(la, lb), max(la, lb), abs(m))
                if la < lb:
                    value = table_i.get(key, 0.0)
                elif la > lb:
                    value = (-1) ** (la + lb) * table_j.get(key, 0.0)
                else:
                    value = 0.5 * (table_i.get(key, 0.0) + table_j.get(key, 0.0))
                block[starts[a] + la + m, starts[b] + lb + m] = value
    return block


class ToyTightBinding(Calculator):
    """Slater–Koster toy reference: Morse energy/forces and a tight-binding H, S.

    ``calculate`` fills ``energy`` (eV) and ``forces`` (eV/Å);
    :meth:`hamiltonian_sample` returns real-space H (eV) and S blocks.
    """

    implemented_properties = ["energy", "forces"]
    # What a config may set in ``[reference.*] options`` (``parameters`` is for Python callers).
    config_options = ("with_d", "orthogonal", "cutoff_angstrom")
    # Bond range of ``cutoff_angstrom``: above the taper width (0.6 Å), at most 10 Å (the
    # parameters are fitted to nearest neighbours; beyond ~4 Å they are meaningless).
    max_cutoff_angstrom = 10.0

    @classmethod
    def check_options(cls, options: dict) -> None:
        """Refuse config options the toy cannot use, with one line (called by the registry)."""
        unknown = sorted(set(options) - set(cls.config_options))
        if unknown:
            raise ToyModelError(
                f"reference 'toy': unknown option(s) {', '.join(unknown)}; known options: {', '.join(sorted(cls.config_options))}"
            )
        for key in ("with_d", "orthogonal"):
            if key in options and not isinstance(options[key], bool):
                raise ToyModelError(f"reference 'toy': options.{key} must be true or false, got {options[key]!r}")
        cutoff = options.get("cutoff_angstrom")
        if cutoff is not None:
            width = gaas_parameters().cutoff_width_angstrom
            is_number = isinstance(cutoff, (int, float)) and not isinstance(cutoff, bool)
            if not is_number or not width < cutoff <= cls.max_cutoff_angstrom:  # NaN fails the comparison
                raise ToyModelError(
                    f"reference 'toy': options.cutoff_angstrom must be a number of Å in ({width}, {cls.max_cutoff_angstrom}], "
                    f"got {cutoff!r}"
                )

    def __init__(
        self,
        parameters: ToyParameters | None = None,
        with_d: bool = False,
        orthogonal: bool = False,
        cutoff_angstrom: float | None = None,
        **kwargs,
    ):
        """``parameters`` replaces the GaAs defaults; otherwise ``with_d`` adds a d shell,
        ``orthogonal`` drops the overlap and ``cutoff_angstrom`` sets the bond range
        (the taper width stays 0.6 Å)."""
        super().__init__(**kwargs)
        if parameters is None:
            overrides = {} if cutoff_angstrom is None else {"cutoff_angstrom": float(cutoff_angstrom)}
            parameters = gaas_parameters(with_d=with_d, orthogonal=orthogonal, **overrides)
        if parameters.cutoff_width_angstrom >= parameters.cutoff_angstrom:
            raise ToyModelError(f"toy cutoff {parameters.cutoff_angstrom} Å must exceed its taper width {parameters.cutoff_width_angstrom} Å")
        self.toy = parameters

    def basis(self, element: str) -> str:
        """e3nn irreps of the orbitals of ``element`` (same for every species)."""
        if element not in self.toy.onsite_ev:
            raise ToyModelError(f"toy tight-binding model has no parameters for {element}")
        return self.toy.basis_irreps

    # -- energy and forces ------------------------------------------------
    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        energy, forces = self.morse_energy_forces(self.atoms)
        self.results = {"energy": energy, "forces": forces}

    def morse_energy_forces(self, atoms) -> tuple[float, np.ndarray]:
        """Pair energy (eV) and forces (n_atoms, 3) eV/Å."""
        self._check_species(atoms)
        p = self.toy
        i, j, d, vec = neighbor_list("ijdD", atoms, p.cutoff_angstrom)
        symbols = np.array(atoms.get_chemical_symbols())
        depth, a, r0 = (np.empty(len(d)) for _ in range(3))
        for pair, (dep, alpha, rmin) in p.morse.items():
            members = sorted(pair) * (2 if len(pair) == 1 else 1)
            mask = ((symbols[i] == members[0]) & (symbols[j] == members[1])) | (
                (symbols[i] == members[1]) & (symbols[j] == members[0])
            )
            depth[mask], a[mask], r0[mask] = dep, alpha, rmin
        x = np.exp(-a * (d - r0))
        phi = depth * ((1.0 - x) ** 2 - 1.0)
        dphi = depth * 2.0 * (1.0 - x) * a * x
        fc, dfc = cosine_taper(d, p.cutoff_angstrom, p.cutoff_width_angstrom)
        # Each pair appears twice in the full neighbour list.
        energy = 0.5 * float(np.sum(phi * fc))
        dpair = (dphi * fc + phi * dfc) / d
        forces = np.zeros((len(atoms), 3))
        np.add.at(forces, i, dpair[:, None] * vec)
        return energy, forces

    # -- Hamiltonian ------------------------------------------------------
    def _check_species(self, atoms) -> None:
        unknown = sorted(set(atoms.get_chemical_symbols()) - set(self.toy.onsite_ev))
        if unknown:
            raise ToyModelError(f"toy tight-binding model has no parameters for {', '.join(unknown)}; it knows {sorted(self.toy.onsite_ev)}")

    def operators(self, atoms) -> tuple[BlockOperator, BlockOperator | None]:
        """Real-space H (eV) and S blocks (S None when the parameters are orthogonal)."""
        self._check_species(atoms)
        p = self.toy
        basis_irreps = p.basis_irreps
        n_orb = n_orbitals(basis_irreps)
        symbols = atoms.get_chemical_symbols()
        i, j, shift, d, vec = neighbor_list("ijSdD", atoms, p.cutoff_angstrom)
        n_atoms = len(atoms)
        edge_index = np.concatenate([np.stack([np.arange(n_atoms)] * 2), np.stack([i, j])], axis=1)
        cell_shift = np.concatenate([np.zeros((n_atoms, 3), int), shift]).astype(np.int64)
        wigner = _frame_wigner(basis_irreps, vec / d[:, None]) if len(d) else np.zeros((0, n_orb, n_orb))
        fc, _ = cosine_taper(d, p.cutoff_angstrom, p.cutoff_width_angstrom)
        radial_h = np.exp(-p.beta_per_angstrom * (d - p.d0_angstrom)) * fc
        radial_s = np.exp(-p.overlap_beta_per_angstrom * (d - p.d0_angstrom)) * fc
        frames_h, frames_s = {}, {}
        for a in set(symbols):
            for b in set(symbols):
                frames_h[a, b] = _bond_frame_block(p.hopping_ev[a], p.hopping_ev[b], basis_irreps)
                frames_s[a, b] = _bond_frame_block(p.overlap[a], p.overlap[b], basis_irreps)
        pair_h = np.stack([frames_h[symbols[a], symbols[b]] for a, b in zip(i, j)]) if len(d) else wigner
        pair_s = np.stack([frames_s[symbols[a], symbols[b]] for a, b in zip(i, j)]) if len(d) else wigner
        rotated_h = np.einsum("eab,ebc,edc->ead", wigner, pair_h, wigner) * radial_h[:, None, None]
        rotated_s = np.einsum("eab,ebc,edc->ead", wigner, pair_s, wigner) * radial_s[:, None, None]
        onsite_h = np.zeros((n_atoms, n_orb, n_orb))
        for k, sym in enumerate(symbols):
            energies = np.concatenate([[p.onsite_ev[sym].get(l, 0.0)] * (2 * l + 1) for l, _ in parse_basis(basis_irreps)])
            onsite_h[k] = np.diag(energies)
        onsite_s = np.broadcast_to(np.eye(n_orb), (n_atoms, n_orb, n_orb))
        structure = Structure.from_atoms(atoms)
        basis = {int(z): basis_irreps for z in set(atoms.numbers)}
        hamiltonian = BlockOperator(structure, basis, edge_index, cell_shift, np.concatenate([onsite_h, rotated_h]))
        if not any(p.overlap[s] for s in p.overlap):
            return hamiltonian, None
        overlap = BlockOperator(structure, basis, edge_index, cell_shift, np.concatenate([onsite_s, rotated_s]))
        return hamiltonian, overlap

    def n_electrons(self, atoms) -> int:
        self._check_species(atoms)
        return int(sum(self.toy.valence_electrons[s] for s in atoms.get_chemical_symbols()))

    def hamiltonian_sample(self, atoms) -> HamiltonianSample:
        """Labelled sample: real-space (H, S), electron count, Morse energy and forces."""
        hamiltonian, overlap = self.operators(atoms)
        energy, forces = self.morse_energy_forces(atoms)
        metadata = {k: atoms.info[k] for k in (keys.DEFECT, keys.TEMPERATURE_K) if k in atoms.info}
        return HamiltonianSample(
            structure=hamiltonian.structure,
            basis=hamiltonian.basis,
            n_electrons=float(self.n_electrons(atoms)),
            realspace=(hamiltonian, overlap),
            energy_ev=energy,
            forces_ev_per_angstrom=forces,
            metadata=metadata,
            provenance={
                "reference": "toy",
                "model": "two-centre Slater-Koster sp3" + ("d" if self.toy.with_d else "") + " (Vogl GaAs), Morse pairs",
                "cutoff_angstrom": self.toy.cutoff_angstrom,
                "orthogonal": overlap is None,
            },
        )
