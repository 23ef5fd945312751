"""One TOML file -> one validated settings object.

Every section rejects unknown keys (``extra="forbid"``) so a typo is an error,
not a silently ignored option. Defaults follow the published GaAs protocol
where that is affordable; ``configs/demo.toml`` is the small embedded demo.
Units: Å, eV, fs, K.

Every number is bounded: floats must be finite (``allow_inf_nan=False``, also
for the strings "inf" and "nan"), counts have an upper limit (``MAX_COUNT``,
``MAX_STEPS``, ``MAX_CELL_ATOMS``) and physical quantities a sensible range
(stated next to each field), so a typo such as ``production_steps = 1e24`` is
refused when the config is loaded, not hours into a run. Checks that need the
reference registry or torch live in :mod:`thermodefect.workflow.preflight`.
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from thermodefect.core.errors import UserInputError
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

# Upper limits of counts. Far above any real run, low enough that a slip of the
# exponent (1e24) or of the unit is refused at load time instead of allocating or
# looping for ever.
MAX_STEPS = 10**9  # MD steps, sample intervals (1e9 x 2 fs = 2 µs of dynamics)
MAX_COUNT = 10**6  # epochs, rounds, snapshots, structures, batch and basis sizes
MAX_WORKERS = 4096  # processes, threads, Parsl nodes and blocks
MAX_ENSEMBLE = 100  # members of a model ensemble
# Atoms per supercell: ten times the largest published transfer cell (432). Labels and
# Hamiltonians of much larger cells exhaust memory (a 512,000-atom config grew to 17 GB
# before failing) and the limit is checked before anything is built.
MAX_CELL_ATOMS = 5000
MAX_SEED = 2**31 - 1  # mace-torch calls np.random.seed (32-bit); seed + small offsets stay below 2**32


def _at_most(limit: int, hint: str = "") -> BeforeValidator:
    """Refuse a number above ``limit`` before int parsing (which fails obscurely for 1e24)."""

    def check(value):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > limit:
            raise ValueError(f"must be at most {limit}{hint}")
        return value

    return BeforeValidator(check)


Count = Annotated[int, _at_most(MAX_COUNT), Field(gt=0, le=MAX_COUNT)]
NonNegativeCount = Annotated[int, _at_most(MAX_COUNT), Field(ge=0, le=MAX_COUNT)]
StepCount = Annotated[int, _at_most(MAX_STEPS), Field(gt=0, le=MAX_STEPS)]
NonNegativeStepCount = Annotated[int, _at_most(MAX_STEPS), Field(ge=0, le=MAX_STEPS)]
WorkerCount = Annotated[int, _at_most(MAX_WORKERS), Field(gt=0, le=MAX_WORKERS)]
CellAtoms = Annotated[
    int,
    _at_most(MAX_CELL_ATOMS, " atoms per cell (memory and labelling cost grow with the cell); use a smaller supercell"),
    Field(gt=0, le=MAX_CELL_ATOMS),
]
Temperature = Annotated[float, Field(gt=0, le=5000, description="K")]  # (0, 5000] K: GaAs melts at 1511 K
Weight = Annotated[float, Field(ge=0, le=1e6)]  # loss weights, dimensionless
# Learning rates: positive and finite, no upper limit (a huge one is a legitimate way to
# provoke and test divergence handling; training refuses a non-finite loss itself).
LearningRate = Annotated[float, Field(gt=0)]

_DEVICE = re.compile(r"cpu|cuda(:\d+)?|mps")


def _check_device(value: str) -> str:
    if not _DEVICE.fullmatch(value):
        raise ValueError('unknown device; use "cpu", "cuda", "cuda:N" (N = GPU index) or "mps"')
    return value


# A torch device name: "cpu", "cuda", "cuda:N" or "mps". Whether it exists on this
# machine is checked by the preflight (it needs torch).
Device = Annotated[str, AfterValidator(_check_device)]

_IRREP = r"\s*(?:(\d+)x)?(\d+)[eo]\s*"
_IRREPS = re.compile(rf"{_IRREP}(?:\+{_IRREP})*")


def _check_irreps(value: str) -> str:
    if not _IRREPS.fullmatch(value):
        raise ValueError('not an e3nn irreps string; write multiplicity x l parity joined by "+", e.g. "16x0e+8x1o+4x2e"')
    if any(int(m) == 0 for m in re.findall(r"(\d+)x", value)):
        raise ValueError("multiplicities must be at least 1")
    return value


# e3nn irreps syntax ("16x0e+8x1o+4x2e"), checked without importing e3nn.
Irreps = Annotated[str, AfterValidator(_check_irreps)]


class SettingsError(UserInputError):
    """A config that cannot be used; the message is one line saying where and why."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class RunSettings(_Section):
    # Created by the run; "" (the current directory) and a filesystem root are refused.
    directory: Path = Path("run")
    seed: Annotated[int, _at_most(MAX_SEED), Field(ge=0, le=MAX_SEED)] = 7  # 0 .. 2**31 - 1

    @field_validator("directory", mode="before")
    @classmethod
    def _not_empty(cls, value):
        if isinstance(value, str) and not value.strip():
            raise ValueError('is empty; name a new folder, e.g. directory = "run"')
        return value

    @field_validator("directory")
    @classmethod
    def _not_root(cls, value: Path) -> Path:
        if value == Path(value.anchor) or value.resolve() == Path(value.resolve().anchor):
            raise ValueError('is a filesystem root; name a new folder, e.g. directory = "run"')
        return value


class MaterialSettings(_Section):
    """A binary zincblende compound, built in or read from a structure file."""

    cation: str = "Ga"
    anion: str = "As"
    # 2-15 Å: every zincblende compound lies in 5.4-6.5 Å; outside this range it is a unit slip.
    lattice_constant_angstrom: Annotated[float, Field(ge=2.0, le=15.0)] = 5.65
    # "fixed": use lattice_constant_angstrom; "relax": fit the reference's own
    # equilibrium lattice constant (E(a) scan) before building supercells.
    lattice: Literal["fixed", "relax"] = "fixed"
    # Optional conventional or primitive cell file (any ASE format) replacing
    # the built-in zincblende cell; species must be cation and anion.
    structure_file: Path | None = None

    @field_validator("cation", "anion")
    @classmethod
    def _element(cls, value: str) -> str:
        from ase.data import atomic_numbers

        if value not in atomic_numbers:
            raise ValueError(f"unknown element {value!r}")
        return value

    @model_validator(mode="after")
    def _distinct(self) -> "MaterialSettings":
        if self.cation == self.anion:
            raise ValueError("cation and anion must differ")
        return self


def _cell_atoms_ok(n_atoms: int, kind: str) -> bool:
    per = 8 if kind == "cubic" else 2
    if n_atoms % per:
        return False
    n = round((n_atoms // per) ** (1 / 3))
    return n >= 1 and n**3 * per == n_atoms


class SupercellSettings(_Section):
    """Pristine supercell sizes in atoms: cubic 8n^3 or primitive 2n^3, each at most ``MAX_CELL_ATOMS``."""

    kind: Literal["cubic", "primitive"] = "primitive"
    training_atoms: CellAtoms = 128
    production_atoms: CellAtoms = 128
    transfer_atoms: list[CellAtoms] = [250, 432]

    @model_validator(mode="after")
    def _sizes(self) -> "SupercellSettings":
        per = "8n^3 (64, 216, 512, ...)" if self.kind == "cubic" else "2n^3 (16, 54, 128, 250, 432, ...)"
        for name in ("training_atoms", "production_atoms"):
            if not _cell_atoms_ok(getattr(self, name), self.kind):
                raise ValueError(f"{name}={getattr(self, name)} is not a {self.kind} supercell size; use {per}")
        for n in self.transfer_atoms:
            if not _cell_atoms_ok(n, self.kind):
                raise ValueError(f"transfer_atoms entry {n} is not a {self.kind} supercell size; use {per}")
        return self


class DefectSettings(_Section):
    names: list[str] = ["As_i", "Ga_i", "V_As", "V_Ga", "As_Ga"]
    include_pristine: bool = True
    # Tetrahedral interstitial site per interstitial defect, named by the
    # species of its 4 nearest neighbours ("Ga" = the site surrounded by Ga).
    # Unlisted interstitials sit in the site surrounded by the other species.
    interstitial_sites: dict[str, str] = {}

    @field_validator("names")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        from thermodefect.structures.defects import check_defect_name  # the one grammar; imported late (ASE)

        for n in names:
            check_defect_name(n)
        if len(set(names)) != len(names):
            raise ValueError("defect names repeat")
        return names


class TemperatureSettings(_Section):
    training_k: list[Temperature] = [100.0, 500.0]
    production_k: list[Temperature] = [100.0, 200.0, 300.0, 400.0, 500.0]
    test_k: list[Temperature] = [100.0, 300.0, 500.0]

    @field_validator("training_k", "production_k", "test_k")
    @classmethod
    def _nonempty(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("needs at least one temperature")
        return v


class ReferenceSettings(_Section):
    """A reference calculator ("oracle") and its options.

    ``name`` picks the implementation from the registry (``xtb``, ``gpaw``,
    ``ase``, ``deeph``). ``options`` are passed to it; each implementation
    validates its own options.
    """

    name: str = "xtb"
    options: dict[str, Any] = {"method": "GFN1-xTB"}
    timeout_s: Annotated[float, Field(gt=0, le=1e6)] = 1800.0  # per calculation, s; at most 1e6 s (11.6 days)
    retries: Annotated[int, _at_most(100), Field(ge=0, le=100)] = 1  # attempts after the first, at most 100


class ReferencesSettings(_Section):
    forces: ReferenceSettings = ReferenceSettings()
    hamiltonian: ReferenceSettings = ReferenceSettings()


class LabellingSettings(_Section):
    rattled_per_defect: Count = 20
    # (0, 1] Å: a larger rattle pushes atoms onto each other (GaAs bonds are 2.45 Å).
    rattle_stdev_angstrom: Annotated[float, Field(gt=0, le=1.0)] = 0.05


class ForceFieldSettings(_Section):
    """MACE model and mace-torch training options."""

    foundation_model: str | None = None  # mace-torch name (e.g. "small") or local file path
    ensemble_size: Annotated[int, _at_most(MAX_ENSEMBLE), Field(gt=0, le=MAX_ENSEMBLE)] = 3
    r_max_angstrom: Annotated[float, Field(gt=0, le=20.0)] = 5.0  # (0, 20] Å
    num_channels: Annotated[int, _at_most(1024), Field(gt=0, le=1024)] = 64  # at most 1024
    max_L: Annotated[int, Field(ge=0, le=3)] = 1
    num_interactions: Annotated[int, Field(ge=1, le=4)] = 2
    correlation: Annotated[int, Field(ge=1, le=4)] = 3
    # Highest spherical-harmonic degree of the edge features (mace-torch's --max_ell). The cost of
    # an L = 0 model falls ~2x from 3 to 2 and ~3x from 3 to 1 (docs/forcefield.md).
    max_ell: Annotated[int, Field(ge=1, le=4)] = 3
    max_num_epochs: Count = 200
    patience: Count = 30
    batch_size: Count = 5
    learning_rate: LearningRate = 0.01
    energy_weight: Annotated[float, Field(gt=0, le=1e6)] = 1.0  # (0, 1e6]
    forces_weight: Annotated[float, Field(gt=0, le=1e6)] = 100.0  # (0, 1e6]
    valid_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.1
    default_dtype: Literal["float32", "float64"] = "float32"
    device: Device = "cpu"
    # Isolated-atom energies: "isolated" (the forces reference on one atom in vacuum, computed once
    # per run), "average" (least squares on the training set; ill-posed when every cell has nearly
    # the same composition), "foundation" (from the foundation model) or a dict string
    # "{31: -1.2, 33: -3.4}" (eV).
    e0s: str = "average"
    # Δ-learning: "albe" trains on reference minus the Albe Ga-As bond-order potential and adds
    # it back at prediction time (docs/forcefield.md); "none" learns the reference itself.
    baseline: Literal["none", "albe"] = "none"
    # ZBL pair repulsion inside MACE: keeps MD of an early, data-poor model
    # from collapsing atoms together (seen at 500 K with 12 training cells).
    pair_repulsion: bool = True
    finetune_learning_rate: LearningRate = 1e-3  # replaces learning_rate when fine-tuning
    # Multihead fine-tuning from a local foundation model: a replay set of the
    # foundation's own training data (extxyz); optionally relabelled by the
    # foundation model itself (pseudolabel_replay).
    replay_file: Path | None = None
    pseudolabel_replay: bool = False
    # mace-torch's training levers (docs/forcefield.md, learning-curve table):
    # loss "weighted" (MSE of energy per atom and forces), "huber" (robust to a few large-force
    # frames) or "universal"; an exponential moving average of the weights (decay, e.g. 0.99;
    # None = off); stage two ("SWA") for the last quarter of the epochs with energy weight
    # stage_two_energy_weight and learning rate 1e-3.
    loss: Literal["weighted", "huber", "universal"] = "weighted"
    ema_decay: Annotated[float, Field(gt=0, lt=1)] | None = None
    stage_two: bool = False
    stage_two_energy_weight: Annotated[float, Field(gt=0, le=1e6)] = 1000.0

    @field_validator("e0s")
    @classmethod
    def _e0s_form(cls, value: str) -> str:
        if value in ("isolated", "average", "foundation"):
            return value
        import ast

        try:
            table = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            table = None
        if not isinstance(table, dict) or not table or not all(
                isinstance(z, int) and isinstance(e, (int, float)) for z, e in table.items()):
            raise ValueError('must be "isolated", "average", "foundation" or a dict string such as "{31: -1.2, 33: -3.4}" (atomic number: eV)')
        return value


class MDSettings(_Section):
    thermostat: Literal["langevin", "nose-hoover", "bussi"] = "langevin"
    # (0, 10] fs: the fastest GaAs vibration has a period of ~120 fs; beyond ~10 fs any
    # integrator loses energy conservation (5 fs is already aggressive).
    timestep_fs: Annotated[float, Field(gt=0, le=10.0)] = 2.0
    # Langevin friction (1/fs), (0, 1]: 1/fs damps within one femtosecond, far below a vibration period.
    friction_per_fs: Annotated[float, Field(gt=0, le=1.0)] = 0.01
    # Nose-Hoover damping / Bussi coupling time (fs), (0, 1e6] (1 ns).
    thermostat_time_fs: Annotated[float, Field(gt=0, le=1e6)] = 100.0
    # Step counts: at most MAX_STEPS (1e9) each.
    equilibration_steps: NonNegativeStepCount = 1000
    production_steps: StepCount = 5000
    sample_interval: StepCount = 50
    # Independent MD at temperatures.test_k (held-out Hamiltonian test set).
    test_production_steps: StepCount = 2000
    # MD of the larger transfer cells at temperatures.production_k.
    transfer_production_steps: StepCount = 2000


class ForceFieldALSettings(_Section):
    exploration_temperatures_k: list[Temperature] = [500.0]
    md_steps: StepCount = 2000
    md_sample_interval: StepCount = 20
    threshold_ev_per_angstrom: Annotated[float, Field(gt=0, le=100.0)] = 0.010  # (0, 100] eV/Å
    max_selected_per_round: Count = 50
    max_rounds: Count = 10
    test_snapshots_per_defect: NonNegativeCount = 10
    test_temperature_k: Temperature = 300.0
    # "all": every round explores at every temperature; "ramp": round K explores at the K-th
    # temperature only (the last one from then on), e.g. [300, 500, 700] -> 300, 500, 700, 700, ...
    temperature_schedule: Literal["all", "ramp"] = "all"
    # "balanced": defects take turns (most uncertain first) and frames of one trajectory are at
    # least min_selection_separation_steps MD steps apart; "uncertainty": the most uncertain
    # frames, wherever they are (can spend a round on neighbouring frames of one run).
    selection: Literal["balanced", "uncertainty"] = "balanced"
    min_selection_separation_steps: NonNegativeStepCount = 100
    # Rounds after the first: None trains every member from scratch for forcefield.max_num_epochs
    # on all labels; N continues each member from the previous round's same member (mace-torch's
    # naive fine-tuning: its weights and E0s, forcefield.finetune_learning_rate) for N epochs.
    warm_start_epochs: Count | None = None
    # The published test: MD of the final model at test_temperature_k, test_snapshots_per_defect
    # frames per defect, labelled by the reference (results/ff_al_final_test.json), besides the
    # fixed test set of the round-0 model's MD that every round is measured on.
    final_test: bool = True


class HamiltonianModelSettings(_Section):
    """E(3)-equivariant Hamiltonian model (DeepH-E3 style)."""

    preset: Literal["published", "fast"] = "published"
    # "none": learn H and, separately, S (the overlap model). "lowdin": learn
    # H' = S^(-1/2) H S^(-1/2), which needs no overlap at prediction time, but
    # only suits well-conditioned overlaps: with GFN1 GaAs (smallest overlap
    # eigenvalue ~5e-4) H' spans ~1e4 eV and could not be learned (13 eV MAE).
    orthogonalization: Literal["lowdin", "none"] = "none"
    irreps_node: Irreps | None = None  # None = preset ("64x0e+32x1o+16x2e+8x3o+8x4e" published)
    irreps_edge: Irreps | None = None
    # Spherical harmonics of the bond direction in the tensor products; None = preset (4 published,
    # 2 fast). Must let the layers reach every block irrep (l = 4 from l = 2 x l = 2 for d shells).
    lmax: Annotated[int, Field(ge=0, le=6)] | None = None
    num_layers: Annotated[int, Field(ge=1, le=8)] | None = None
    radial_basis_size: Count | None = None  # Bessel functions; None = preset (16 published, 8 fast)
    radial_hidden: Count | None = None  # width of the radial MLPs; None = preset (64 / 32)
    # Edge cutoff, Å. Γ-folded targets (tblite) sum every periodic image of a pair; entries of
    # pairs no edge reaches cannot be fitted. 9.9 reaches every pair of a 64-atom cubic GaAs cell
    # (farthest 9.79 Å, eight images) and sits between the zincblende shells at 9.79 and 10.09 Å
    # (a = 5.65); on GFN1-xTB data it fits far better than 8.2 (docs/hamiltonian.md).
    cutoff_angstrom: Annotated[float, Field(gt=0, le=30.0)] = 9.9  # (0, 30] Å
    onsite_baseline: bool = True  # subtract the per-species mean isotropic onsite block before fitting
    # Two-center forms fitted by linear least squares (docs/hamiltonian.md). The overlap model is
    # fitted to reference calculations of atom pairs in vacuum (an LCAO overlap is two-center);
    # the Hamiltonian baseline F(d)·S to the training labels, and the network learns the rest.
    # The cutoff must reach the tails of diffuse orbitals: GFN1-xTB GaAs overlaps need ~21 Å.
    two_center_baseline: bool = True
    overlap_model: Literal["two_center", "equivariant"] = "two_center"
    two_center_cutoff_angstrom: Annotated[float, Field(gt=0, le=50.0)] = 21.0  # (0, 50] Å
    # With the overlap-scaled baseline, leave a global shift c·S of each structure out of the loss:
    # the absolute potential reference of a periodic cell is arbitrary, gaps and levels do not see it.
    shift_invariant_loss: bool = True
    lr_factor: Annotated[float, Field(gt=0, lt=1)] = 0.5  # ReduceLROnPlateau factor
    lr_patience: Count = 10  # epochs without validation improvement before the LR drops
    min_learning_rate: LearningRate = 1e-5
    # Uncertainty is the spread between members, so at least two (and at most MAX_ENSEMBLE).
    ensemble_size: Annotated[int, _at_most(MAX_ENSEMBLE), Field(ge=2, le=MAX_ENSEMBLE)] = 3
    max_epochs: Count = 500
    patience: Count = 50
    learning_rate: LearningRate = 2e-3
    batch_size: Count = 1
    valid_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.1
    default_dtype: Literal["float32", "float64"] = "float32"
    device: Device = "cpu"
    # Weight of the Γ eigenvalue loss (MSE of the eigenvalues nearest the gap, in units of
    # target_scale², like the element loss) for Hamiltonian models; 0 disables it. Off by default:
    # in 12-epoch runs on 64-atom GaAs it worsened H and gap errors (docs/hamiltonian.md).
    eigenvalue_loss_weight: Weight = 0.0  # [0, 1e6]
    eigenvalue_loss_bands: Count = 30  # levels in the window: half occupied, half empty
    gap_loss_weight: Weight = 0.0  # extra (ΔE_gap / target_scale)² term, [0, 1e6]
    # Epochs of element-only training before the eigenvalue/gap terms join (a random model's
    # levels are eV off and that term would swamp the element loss); they join earlier when the
    # element loss stops improving for `patience` epochs. The band phase restarts Adam and the LR
    # schedule from the best element-loss weights.
    eigenvalue_loss_start_epoch: NonNegativeCount = 6

    @model_validator(mode="after")
    def _two_center_reaches_the_network(self):
        if self.two_center_baseline and self.two_center_cutoff_angstrom < self.cutoff_angstrom:
            raise ValueError(f"two_center_cutoff_angstrom ({self.two_center_cutoff_angstrom}) must be at least "
                             f"cutoff_angstrom ({self.cutoff_angstrom}) when two_center_baseline is on")
        return self


class HamiltonianALSettings(_Section):
    initial_per_stratum: Count = 3  # k-means picks per (defect, temperature)
    top_k_per_stratum: Count = 3
    pool_per_stratum: Count = 50
    max_rounds: Count = 10
    patience: Count = 2
    min_improvement_mev: Annotated[float, Field(ge=0, le=1e6)] = 1.0  # [0, 1e6] meV
    test_snapshots_per_stratum: NonNegativeCount = 4


def _band_path_labels(path: str) -> list[str]:
    """"LGXK" -> ["L", "G", "X", "K"]; a digit belongs to the letter before it ("X1")."""
    return re.findall(r"[A-Za-z][0-9]?|.", path)


class ElectronicSettings(_Section):
    bands_near_gap: Count = 30
    # Special points of the zincblende (fcc) Brillouin zone, ASE names (G = Γ): at least two
    # of G, K, L, U, W, X. The bands are drawn along the primitive cell's path (folded).
    band_path: str = "LGXK"
    points_per_segment: Annotated[int, _at_most(10_000), Field(gt=0, le=10_000)] = 15  # at most 10,000
    snapshots_per_temperature: Count = 50
    # Snapshots per (defect, temperature) of each larger transfer cell.
    transfer_snapshots_per_temperature: Count = 20
    sparse_above_atoms: Count = 300
    # A state inside the host gap counts as a defect level when at least this
    # fraction of its weight sits on the defect site and its neighbours (and at
    # least 3x the share of an evenly spread state).
    localization_threshold: Annotated[float, Field(gt=0, lt=1)] = 0.1
    # Host band edges of a defect cell: "aligned" = the pristine cell's edges (same
    # cell size and temperature) shifted by the on-site potential alignment;
    # "cell" = the defect cell's own highest occupied / lowest empty delocalized state.
    band_edges: Literal["aligned", "cell"] = "aligned"
    # In-gap states closer than this (eV) are one (degenerate) defect level.
    degeneracy_tolerance_ev: Annotated[float, Field(ge=0, le=10.0)] = 0.02  # [0, 10] eV
    # An overlap matrix with an eigenvalue below this is rejected as nearly singular; (0, 1).
    min_overlap_eigenvalue: Annotated[float, Field(gt=0, lt=1)] = 1e-6
    # A (learned) overlap below min_overlap_eigenvalue is handled by canonical
    # orthogonalization: directions with overlap eigenvalue below this cutoff
    # are dropped (dense solver). The GFN1 GaAs reference overlap itself has a
    # smallest eigenvalue ~5e-4, so any learned one loses definiteness.
    canonical_overlap_cutoff: Annotated[float, Field(gt=0, lt=1)] = 1e-2  # (0, 1)
    # Snapshots per transfer cell size labelled by the reference to check the
    # model there (one per defect, in config order); 0 skips the check.
    transfer_reference_snapshots: NonNegativeCount = 1
    # Snapshots per (defect, production temperature) labelled by the reference to compare
    # model and reference gap(T) and level(T) on the same MD snapshots; 0 skips the check.
    validation_snapshots_per_temperature: NonNegativeCount = 10
    # k-points of the band edges that `thermodefect gap` and `bands` report (the pipeline's
    # snapshots are supercells and always analysed at Γ): "gamma"; "grid" (Γ-centred
    # Monkhorst-Pack grid); "path" (ASE's band path through the special points of the cell's
    # own lattice); "grid+path" (both). "auto": "gamma" for a defect cell and for a cell whose
    # lattice planes are all at least gamma_min_spacing_angstrom apart (a supercell folded
    # onto Γ), "grid+path" for any other cell (a primitive or small cell). A defect cell with
    # band_edges = "aligned" is analysed at Γ whatever this says.
    edge_kpoints: Literal["auto", "gamma", "grid", "path", "grid+path"] = "auto"
    # Γ of a cell samples the primitive zone on a grid of spacing 2π/d (d: distance between
    # lattice planes). 9 Å keeps every supercell the pipeline builds from 54 atoms up at Γ
    # (3³×2 primitive: 9.8 Å; 2³×8 cubic: 11.3 Å); (0, 100] Å.
    gamma_min_spacing_angstrom: Annotated[float, Field(gt=0, le=100)] = 9.0
    # The "grid": [n1, n2, n3] points along the reciprocal vectors (each 1..64), or none for
    # edge_grid_density_angstrom * |b_i| points (b_i in 1/Å, 2π included, as ASE's k-point
    # density), rounded up to even so that zone-boundary points (X, L) lie on it.
    edge_grid: list[Annotated[int, _at_most(64), Field(gt=0, le=64)]] | None = None
    edge_grid_density_angstrom: Annotated[float, Field(gt=0, le=20)] = 3.5  # k-points per 1/Å, (0, 20]
    edge_path_density_angstrom: Annotated[float, Field(gt=0, le=1000)] = 30.0  # k-points per 1/Å of path, (0, 1000]

    @field_validator("edge_grid")
    @classmethod
    def _three_divisions(cls, grid: list[int] | None) -> list[int] | None:
        if grid is not None and len(grid) != 3:
            raise ValueError(f"needs 3 divisions [n1, n2, n3], got {len(grid)}")
        return grid

    @field_validator("band_path")
    @classmethod
    def _fcc_points(cls, path: str) -> str:
        from ase.lattice import FCC

        special = sorted(FCC(1.0).get_special_points())
        labels = _band_path_labels(path)
        unknown = sorted({name for name in labels if name not in special})
        if unknown:
            raise ValueError(
                f"point(s) {', '.join(map(repr, unknown))} are not special points of the zincblende (fcc) "
                f"Brillouin zone; use at least two of {', '.join(special)}, e.g. \"LGXK\""
            )
        if len(labels) < 2:
            raise ValueError(f"needs at least two special points (of {', '.join(special)}), e.g. \"LGXK\"")
        return path


class ParslSettings(_Section):
    provider: Literal["local", "slurm", "pbs"] = "local"
    nodes_per_block: WorkerCount = 1
    max_blocks: WorkerCount = 1
    walltime: str = "01:00:00"
    partition: str | None = None
    account: str | None = None
    worker_init: str = ""


class ComputeSettings(_Section):
    engine: Literal["local", "parsl"] = "local"
    workers: WorkerCount = 2  # at most MAX_WORKERS (4096), like torch_threads
    torch_threads: WorkerCount = 1
    parsl: ParslSettings = ParslSettings()


class Settings(_Section):
    run: RunSettings = RunSettings()
    material: MaterialSettings = MaterialSettings()
    supercells: SupercellSettings = SupercellSettings()
    defects: DefectSettings = DefectSettings()
    temperatures: TemperatureSettings = TemperatureSettings()
    reference: ReferencesSettings = ReferencesSettings()
    labelling: LabellingSettings = LabellingSettings()
    forcefield: ForceFieldSettings = ForceFieldSettings()
    md: MDSettings = MDSettings()
    forcefield_al: ForceFieldALSettings = ForceFieldALSettings()
    hamiltonian: HamiltonianModelSettings = HamiltonianModelSettings()
    hamiltonian_al: HamiltonianALSettings = HamiltonianALSettings()
    electronic: ElectronicSettings = ElectronicSettings()
    compute: ComputeSettings = ComputeSettings()

    @model_validator(mode="after")
    def _defects_match_material(self) -> "Settings":
        species = {self.material.cation, self.material.anion}
        for name in self.defects.names:
            for part in name.split("_"):
                if part not in ("V", "i") and part not in species:
                    raise ValueError(
                        f"defect {name!r} names {part!r}, which is neither the cation nor the anion ({', '.join(sorted(species))})"
                    )
            a, b = name.split("_")
            if a == b:  # "V" and "i" never match a species (checked above)
                raise ValueError(f"defect {name!r} puts an atom on its own site")
        for name, site in self.defects.interstitial_sites.items():
            if not name.endswith("_i") or name not in self.defects.names:
                raise ValueError(f"defects.interstitial_sites names {name!r}, which is not an interstitial in defects.names")
            if site not in species:
                raise ValueError(f"defects.interstitial_sites.{name} = {site!r}: expected one of {sorted(species)}")
        return self


# pydantic's bound errors, worded as limits ("must be at most 1000000000").
_BOUND_MESSAGES = {
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
    "finite_number": "must be a finite number",
}


def _format_error(err: ValidationError, source: str) -> str:
    """``source: key = value: reason (+n more)``, one line."""
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key (check spelling; see `thermodefect init` for all keys)"
    elif first["type"] in _BOUND_MESSAGES:
        msg = _BOUND_MESSAGES[first["type"]].format(**first.get("ctx", {}))
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    more = f" (+{len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    got = first.get("input")
    shown = first["type"] != "extra_forbidden" and not isinstance(got, dict) and got is not None
    return f"{source}: {loc}{f' = {got!r}' if shown else ''}: {msg}{more}"


def _non_finite(data: Any, where: str = "") -> tuple[str, float] | None:
    """(key path, value) of the first NaN or infinite float anywhere in ``data`` (also in free-form ``options``)."""
    if isinstance(data, float) and not math.isfinite(data):
        return where, data
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        found = _non_finite(value, f"{where}.{key}" if where else str(key))
        if found is not None:
            return found
    return None


def settings_from_dict(data: dict[str, Any], source: str = "config") -> Settings:
    bad = _non_finite(data)
    if bad is not None:
        raise SettingsError(f"{source}: {bad[0]} = {bad[1]!r}: must be a finite number")
    try:
        return Settings.model_validate(data)
    except ValidationError as err:
        raise SettingsError(_format_error(err, source)) from None


def load_settings(path: str | Path) -> Settings:
    """Read and validate a TOML config; raise :class:`SettingsError` with one line."""
    path = Path(path)
    if not path.is_file():
        raise SettingsError(f"{path}: config file not found")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise SettingsError(f"{path}: not valid TOML: {err}") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{path}: not a text file") from None
    if not data:
        # An empty file would silently run the full published protocol (days of compute).
        raise SettingsError(
            f"{path}: the config is empty; write one with `thermodefect init` (published protocol) "
            "or `thermodefect init --demo` and edit it"
        )
    settings = settings_from_dict(data, str(path))
    _resolve_relative_paths(settings, path.parent)
    if settings.material.structure_file is not None and not settings.material.structure_file.is_file():
        raise SettingsError(f"{path}: material.structure_file: {settings.material.structure_file} not found")
    for_file = settings.forcefield.replay_file
    if for_file is not None and not for_file.is_file():
        raise SettingsError(f"{path}: forcefield.replay_file: {for_file} not found")
    return settings


def _resolve_relative_paths(settings: Settings, folder: Path) -> None:
    """Every relative path in a config means a path from the config's own folder, wherever the command runs.

    ``run.directory``, ``material.structure_file``, ``forcefield.replay_file``
    and ``forcefield.foundation_model`` when it is a path (it contains a
    folder separator or ends in ``.model``; a bare word is a mace-torch model
    name such as ``"small"``).
    """
    def from_config(p: Path) -> Path:
        p = p.expanduser()
        return p if p.is_absolute() else (folder / p).resolve()

    settings.run.directory = from_config(settings.run.directory)
    if settings.material.structure_file is not None:
        settings.material.structure_file = from_config(settings.material.structure_file)
    if settings.forcefield.replay_file is not None:
        settings.forcefield.replay_file = from_config(settings.forcefield.replay_file)
    name = settings.forcefield.foundation_model
    if name is not None and ("/" in name or name.endswith(".model")):
        settings.forcefield.foundation_model = str(from_config(Path(name)))


def settings_to_toml(settings: Settings) -> str:
    """Serialize settings to TOML (all keys, defaults included)."""
    return _dump_toml(settings.model_dump(mode="json", exclude_none=True))


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _toml_value(k)


def _dump_toml(data: dict[str, Any], prefix: str = "") -> str:
    scalars = {k: v for k, v in data.items() if not (isinstance(v, dict) and _is_table(k, v))}
    tables = {k: v for k, v in data.items() if k not in scalars}
    lines = []
    if prefix and scalars:
        lines.append(f"[{prefix}]")
    lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in scalars.items()]
    out = "\n".join(lines) + ("\n\n" if lines else "")
    for k, v in tables.items():
        out += _dump_toml(v, f"{prefix}.{k}" if prefix else k)
    return out


_INLINE_DICTS = {"options", "interstitial_sites"}


def _is_table(key: str, value: dict) -> bool:
    return key not in _INLINE_DICTS
