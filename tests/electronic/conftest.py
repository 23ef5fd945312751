import numpy as np
import pytest
from ase.neighborlist import neighbor_list

from thermodefect.data.operators import BlockOperator, HamiltonianSample, Structure
from thermodefect.reference.toy import ToyTightBinding
from thermodefect.structures import make_defect, parse_defect, pristine_supercell


@pytest.fixture(scope="session")
def toy():
    return ToyTightBinding()


@pytest.fixture(scope="session")
def cells64():
    """64-atom cubic GaAs cells: pristine and As_Ga (a = 5.65 Å)."""
    pristine = pristine_supercell("Ga", "As", 5.65, 64, "cubic")
    return {"pristine": pristine, "As_Ga": make_defect(pristine, parse_defect("As_Ga", "Ga", "As"))}


class IndirectGapModel:
    """An s-orbital model with an indirect gap, on a CsCl-type lattice (Ga at the cube corners,
    As at the centres; eV, Å).

    Ga's band ``2 t_Ga Σ cos(2π k_i)`` peaks at Γ; As's band ``Σ [2 t1 cos(2π k_i) + 2 t2 cos(4π k_i)]``
    is lowest where ``cos(2π k_i) = -t1 / (4 t2) = -1/2``, at ``k_i = ±1/3``: the CBM is off every
    special point of the cubic zone. A weak Ga-As bond mixes the two bands.
    """

    cube_angstrom = 3.0
    ga_onsite_ev, ga_hop_ev = 0.0, 0.25
    as_onsite_ev, as_hop_ev, as_second_hop_ev = 3.8, 0.4, 0.2
    ga_as_hop_ev = 0.05

    def cell(self, repeat: int = 1):
        """The primitive cell (2 atoms), or its ``repeat``³ supercell."""
        from ase import Atoms

        a = self.cube_angstrom
        return Atoms("GaAs", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=np.eye(3) * a, pbc=True).repeat((repeat,) * 3)

    def operator(self, atoms) -> BlockOperator:
        """Real-space H blocks (orthogonal s basis) on ``atoms`` (any supercell of the cube)."""
        a = self.cube_angstrom
        i, j, shift, d = neighbor_list("ijSd", atoms, 2 * a + 0.01)
        symbols = np.array(atoms.get_chemical_symbols())
        same, as_as = symbols[i] == symbols[j], (symbols[i] == "As") & (symbols[j] == "As")
        first = same & np.isclose(d, a)
        hop = np.zeros(len(d))
        hop[first] = np.where(as_as, self.as_hop_ev, self.ga_hop_ev)[first]
        hop[as_as & np.isclose(d, 2 * a)] = self.as_second_hop_ev
        hop[~same & np.isclose(d, np.sqrt(3) * a / 2)] = self.ga_as_hop_ev
        bond = hop != 0
        n = len(atoms)
        onsite = np.where(symbols == "Ga", self.ga_onsite_ev, self.as_onsite_ev)
        return BlockOperator(
            Structure.from_atoms(atoms),
            {int(z): "1x0e" for z in set(atoms.numbers)},
            np.concatenate([np.stack([np.arange(n)] * 2), np.stack([i[bond], j[bond]])], axis=1),
            np.concatenate([np.zeros((n, 3), int), shift[bond]]),
            np.concatenate([onsite, hop[bond]])[:, None, None],
        )

    def sample(self, repeat: int = 1) -> tuple:
        """``(atoms, HamiltonianSample)``: one electron pair per primitive cell fills the Ga band."""
        atoms = self.cell(repeat)
        h = self.operator(atoms)
        return atoms, HamiltonianSample(h.structure, h.basis, float(len(atoms)), realspace=(h, None))

    def bands(self, kpts_frac: np.ndarray) -> np.ndarray:
        """(n_k, 2) eigenvalues of the primitive cell's H(k), written out by hand (not by Bloch sums), eV."""
        c1, c2 = np.cos(2 * np.pi * kpts_frac), np.cos(4 * np.pi * kpts_frac)
        ga = self.ga_onsite_ev + 2 * self.ga_hop_ev * c1.sum(axis=1)
        as_ = self.as_onsite_ev + (2 * self.as_hop_ev * c1 + 2 * self.as_second_hop_ev * c2).sum(axis=1)
        # The As neighbours of the Ga atom sit in the cells R ∈ {0, -1}³: Σ_R exp(2πi k·R).
        mixing = self.ga_as_hop_ev * np.prod(1 + np.exp(-2j * np.pi * kpts_frac), axis=1)
        h = np.stack([np.stack([ga, mixing], -1), np.stack([np.conj(mixing), as_], -1)], -2)
        return np.linalg.eigvalsh(h)

    def dense_scan(self, divisions: int = 60) -> dict:
        """Gap, Γ gap, smallest direct gap (eV) and the edges' fractional k on a ``divisions``³ grid
        (60 holds k = ±1/3, where the CBM is, exactly)."""
        axis = np.arange(divisions) / divisions
        kpts = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
        valence, conduction = self.bands(kpts).T
        return {"gap": conduction.min() - valence.max(), "gamma_gap": conduction[0] - valence[0],
                "direct_gap": (conduction - valence).min(), "k_vbm": kpts[valence.argmax()], "k_cbm": kpts[conduction.argmin()]}

    @staticmethod
    def same_star(k, q, tolerance: float = 0.02) -> bool:
        """True when fractional ``k`` is ``q`` up to the cube's symmetry (axis permutations and signs) and
        lattice vectors, within ``tolerance`` per axis."""
        def folded(x):
            x = np.asarray(x, float)
            return np.sort(np.abs(x - np.round(x)))

        return bool(np.all(np.abs(folded(k) - folded(q)) < tolerance))


@pytest.fixture(scope="session")
def indirect():
    return IndirectGapModel()
