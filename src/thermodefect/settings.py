"""One TOML file -> one validated settings object.

Every section rejects unknown keys (``extra="forbid"``) so a typo is an error,
not a silently ignored option. Defaults follow the published GaAs protocol
where that is affordable; ``configs/demo.toml`` is the small embedded demo.
Units: Å, eV, fs, K.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from thermodefect.core.errors import UserInputError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]
Temperature = Annotated[float, Field(gt=0, le=5000, description="K")]


class SettingsError(UserInputError):
    """A config that cannot be used; the message is one line saying where and why."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RunSettings(_Section):
    directory: Path = Path("run")
    seed: int = 7


class MaterialSettings(_Section):
    """A binary zincblende compound, built in or read from a structure file."""

    cation: str = "Ga"
    anion: str = "As"
    lattice_constant_angstrom: PositiveFloat = 5.65
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
    """Pristine supercell sizes in atoms: cubic 8n^3 or primitive 2n^3."""

    kind: Literal["cubic", "primitive"] = "primitive"
    training_atoms: PositiveInt = 128
    production_atoms: PositiveInt = 128
    transfer_atoms: list[PositiveInt] = [250, 432]

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
    timeout_s: PositiveFloat = 1800.0
    retries: Annotated[int, Field(ge=0)] = 1


class ReferencesSettings(_Section):
    forces: ReferenceSettings = ReferenceSettings()
    hamiltonian: ReferenceSettings = ReferenceSettings()


class LabellingSettings(_Section):
    rattled_per_defect: PositiveInt = 20
    rattle_stdev_angstrom: PositiveFloat = 0.05


class ForceFieldSettings(_Section):
    """MACE model and mace-torch training options."""

    foundation_model: str | None = None  # mace-torch name (e.g. "small") or local file path
    ensemble_size: PositiveInt = 3
    r_max_angstrom: PositiveFloat = 5.0
    num_channels: PositiveInt = 64
    max_L: Annotated[int, Field(ge=0, le=3)] = 1
    num_interactions: Annotated[int, Field(ge=1, le=4)] = 2
    correlation: Annotated[int, Field(ge=1, le=4)] = 3
    max_num_epochs: PositiveInt = 200
    patience: PositiveInt = 30
    batch_size: PositiveInt = 5
    learning_rate: PositiveFloat = 0.01
    energy_weight: PositiveFloat = 1.0
    forces_weight: PositiveFloat = 100.0
    valid_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.1
    default_dtype: Literal["float32", "float64"] = "float32"
    device: str = "cpu"
    # Isolated-atom energies: "average" (least squares on the training set),
    # "foundation" (from the foundation model) or a dict string "{31: -1.2, 33: -3.4}" (eV).
    e0s: str = "average"
    # ZBL pair repulsion inside MACE: keeps MD of an early, data-poor model
    # from collapsing atoms together (seen at 500 K with 12 training cells).
    pair_repulsion: bool = True
    finetune_learning_rate: PositiveFloat = 1e-3  # replaces learning_rate when fine-tuning
    # Multihead fine-tuning from a local foundation model: a replay set of the
    # foundation's own training data (extxyz); optionally relabelled by the
    # foundation model itself (pseudolabel_replay).
    replay_file: Path | None = None
    pseudolabel_replay: bool = False


class MDSettings(_Section):
    thermostat: Literal["langevin", "nose-hoover", "bussi"] = "langevin"
    timestep_fs: PositiveFloat = 2.0
    friction_per_fs: PositiveFloat = 0.01  # Langevin friction (1/fs)
    thermostat_time_fs: PositiveFloat = 100.0  # Nose-Hoover damping / Bussi coupling time (fs)
    equilibration_steps: Annotated[int, Field(ge=0)] = 1000
    production_steps: PositiveInt = 5000
    sample_interval: PositiveInt = 50
    # Independent MD at temperatures.test_k (held-out Hamiltonian test set).
    test_production_steps: PositiveInt = 2000
    # MD of the larger transfer cells at temperatures.production_k.
    transfer_production_steps: PositiveInt = 2000


class ForceFieldALSettings(_Section):
    exploration_temperatures_k: list[Temperature] = [500.0]
    md_steps: PositiveInt = 2000
    md_sample_interval: PositiveInt = 20
    threshold_ev_per_angstrom: PositiveFloat = 0.010
    max_selected_per_round: PositiveInt = 50
    max_rounds: PositiveInt = 10
    test_snapshots_per_defect: Annotated[int, Field(ge=0)] = 10
    test_temperature_k: Temperature = 300.0


class HamiltonianModelSettings(_Section):
    """E(3)-equivariant Hamiltonian model (DeepH-E3 style)."""

    preset: Literal["published", "fast"] = "published"
    # "none": learn H and, separately, S (the overlap model). "lowdin": learn
    # H' = S^(-1/2) H S^(-1/2), which needs no overlap at prediction time, but
    # only suits well-conditioned overlaps: with GFN1 GaAs (smallest overlap
    # eigenvalue ~5e-4) H' spans ~1e4 eV and could not be learned (13 eV MAE).
    orthogonalization: Literal["lowdin", "none"] = "none"
    irreps_node: str | None = None  # None = preset ("64x0e+32x1o+16x2e+8x3o+8x4e" published)
    irreps_edge: str | None = None
    # Spherical harmonics of the bond direction in the tensor products; None = preset (4 published,
    # 2 fast). Must let the layers reach every block irrep (l = 4 from l = 2 x l = 2 for d shells).
    lmax: Annotated[int, Field(ge=0, le=6)] | None = None
    num_layers: Annotated[int, Field(ge=1, le=8)] | None = None
    radial_basis_size: PositiveInt | None = None  # Bessel functions; None = preset (16 published, 8 fast)
    radial_hidden: PositiveInt | None = None  # width of the radial MLPs; None = preset (64 / 32)
    # Edge cutoff, Å. Γ-folded targets (tblite) sum every periodic image of a pair; entries of
    # pairs no edge reaches cannot be fitted. 9.9 reaches every pair of a 64-atom cubic GaAs cell
    # (farthest 9.79 Å, eight images) and sits between the zincblende shells at 9.79 and 10.09 Å
    # (a = 5.65); on GFN1-xTB data it fits far better than 8.2 (docs/hamiltonian.md).
    cutoff_angstrom: PositiveFloat = 9.9
    onsite_baseline: bool = True  # subtract the per-species mean isotropic onsite block before fitting
    # Two-center forms fitted by linear least squares (docs/hamiltonian.md). The overlap model is
    # fitted to reference calculations of atom pairs in vacuum (an LCAO overlap is two-center);
    # the Hamiltonian baseline F(d)·S to the training labels, and the network learns the rest.
    # The cutoff must reach the tails of diffuse orbitals: GFN1-xTB GaAs overlaps need ~21 Å.
    two_center_baseline: bool = True
    overlap_model: Literal["two_center", "equivariant"] = "two_center"
    two_center_cutoff_angstrom: PositiveFloat = 21.0
    # With the overlap-scaled baseline, leave a global shift c·S of each structure out of the loss:
    # the absolute potential reference of a periodic cell is arbitrary, gaps and levels do not see it.
    shift_invariant_loss: bool = True
    lr_factor: Annotated[float, Field(gt=0, lt=1)] = 0.5  # ReduceLROnPlateau factor
    lr_patience: PositiveInt = 10  # epochs without validation improvement before the LR drops
    min_learning_rate: PositiveFloat = 1e-5
    # Uncertainty is the spread between members, so at least two.
    ensemble_size: Annotated[int, Field(ge=2)] = 3
    max_epochs: PositiveInt = 500
    patience: PositiveInt = 50
    learning_rate: PositiveFloat = 2e-3
    batch_size: PositiveInt = 1
    valid_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.1
    default_dtype: Literal["float32", "float64"] = "float32"
    device: str = "cpu"
    # Weight of the Γ eigenvalue loss (MSE of the eigenvalues nearest the gap, in units of
    # target_scale², like the element loss) for Hamiltonian models; 0 disables it. Off by default:
    # in 12-epoch runs on 64-atom GaAs it worsened H and gap errors (docs/hamiltonian.md).
    eigenvalue_loss_weight: Annotated[float, Field(ge=0)] = 0.0
    eigenvalue_loss_bands: PositiveInt = 30  # levels in the window: half occupied, half empty
    gap_loss_weight: Annotated[float, Field(ge=0)] = 0.0  # extra (ΔE_gap / target_scale)² term
    # Epochs of element-only training before the eigenvalue/gap terms join (a random model's
    # levels are eV off and that term would swamp the element loss).
    eigenvalue_loss_start_epoch: Annotated[int, Field(ge=0)] = 6

    @model_validator(mode="after")
    def _two_center_reaches_the_network(self):
        if self.two_center_baseline and self.two_center_cutoff_angstrom < self.cutoff_angstrom:
            raise ValueError(f"two_center_cutoff_angstrom ({self.two_center_cutoff_angstrom}) must be at least "
                             f"cutoff_angstrom ({self.cutoff_angstrom}) when two_center_baseline is on")
        return self


class HamiltonianALSettings(_Section):
    initial_per_stratum: PositiveInt = 3  # k-means picks per (defect, temperature)
    top_k_per_stratum: PositiveInt = 3
    pool_per_stratum: PositiveInt = 50
    max_rounds: PositiveInt = 10
    patience: PositiveInt = 2
    min_improvement_mev: Annotated[float, Field(ge=0)] = 1.0
    test_snapshots_per_stratum: Annotated[int, Field(ge=0)] = 4


class ElectronicSettings(_Section):
    bands_near_gap: PositiveInt = 30
    band_path: str = "LGXK"
    points_per_segment: PositiveInt = 15
    snapshots_per_temperature: PositiveInt = 50
    # Snapshots per (defect, temperature) of each larger transfer cell.
    transfer_snapshots_per_temperature: PositiveInt = 20
    sparse_above_atoms: PositiveInt = 300
    # A state inside the pristine-like gap counts as a defect level when at
    # least this fraction of its weight sits on the defect site and its neighbours.
    localization_threshold: Annotated[float, Field(gt=0, lt=1)] = 0.2
    # In-gap states closer than this (eV) are one (degenerate) defect level.
    degeneracy_tolerance_ev: Annotated[float, Field(ge=0)] = 0.02
    # An overlap matrix with an eigenvalue below this is rejected as nearly singular.
    min_overlap_eigenvalue: PositiveFloat = 1e-6
    # A (learned) overlap below min_overlap_eigenvalue is handled by canonical
    # orthogonalization: directions with overlap eigenvalue below this cutoff
    # are dropped (dense solver). The GFN1 GaAs reference overlap itself has a
    # smallest eigenvalue ~5e-4, so any learned one loses definiteness.
    canonical_overlap_cutoff: PositiveFloat = 1e-2
    # Snapshots per transfer cell size labelled by the reference to check the
    # model there (one per defect, in config order); 0 skips the check.
    transfer_reference_snapshots: Annotated[int, Field(ge=0)] = 1


class ParslSettings(_Section):
    provider: Literal["local", "slurm", "pbs"] = "local"
    nodes_per_block: PositiveInt = 1
    max_blocks: PositiveInt = 1
    walltime: str = "01:00:00"
    partition: str | None = None
    account: str | None = None
    worker_init: str = ""


class ComputeSettings(_Section):
    engine: Literal["local", "parsl"] = "local"
    workers: PositiveInt = 2
    torch_threads: PositiveInt = 1
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


def _format_error(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key (check spelling; see `thermodefect init` for all keys)"
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    more = f" (+{len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    got = first.get("input")
    got_s = f"; got {got!r}" if first["type"] not in ("extra_forbidden",) and not isinstance(got, dict) and got is not None else ""
    return f"{source}: {loc}: {msg}{got_s}{more}"


def settings_from_dict(data: dict[str, Any], source: str = "config") -> Settings:
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
    settings = settings_from_dict(data, str(path))
    if settings.material.structure_file is not None and not settings.material.structure_file.is_absolute():
        settings.material.structure_file = (path.parent / settings.material.structure_file).resolve()
    if settings.material.structure_file is not None and not settings.material.structure_file.is_file():
        raise SettingsError(f"{path}: material.structure_file: {settings.material.structure_file} not found")
    return settings


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
