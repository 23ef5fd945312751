"""Architecture hyperparameters of one model: settings + basis + target, resolved.

A :class:`ModelConfig` is what a checkpoint's JSON stores; rebuilding a model
from it gives the same tensor names and shapes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, get_type_hints

from thermodefect.core.errors import UserInputError

TARGETS = ("hamiltonian", "overlap")

PRESETS: dict[str, dict[str, Any]] = {
    # DeepH-E3's published GaAs-scale model.
    "published": {
        "irreps_node": "64x0e+32x1o+16x2e+8x3o+8x4e",
        "irreps_edge": "64x0e+32x1o+32x1e+16x2e+16x2o+8x3o+8x3e+8x4e+8x4o",
        "lmax": 4,
        "num_layers": 3,
        "radial_basis_size": 16,
        "radial_hidden": 64,
    },
    # Small enough to train on 64-atom cells on a CPU in minutes. Harmonics up to
    # l = 2 suffice for s, p, d blocks (L = 4 = 2 + 2 arises in the edge update).
    "fast": {
        "irreps_node": "16x0e+8x1o+4x2e",
        "irreps_edge": "16x0e+8x1o+4x1e+4x2e+4x2o+2x3o+2x3e+2x4e",
        "lmax": 2,
        "num_layers": 2,
        "radial_basis_size": 8,
        "radial_hidden": 32,
    },
}


def _preset(help_text: str):
    """A field the user may set in ``[hamiltonian]``; unset, it takes the preset's value."""
    return field(metadata={"preset": True, "help": help_text})


@dataclass(frozen=True)
class ModelConfig:
    """The architecture of one model, and the schema of its checkpoint's ``model.json``.

    Declared once: fields marked ``_preset`` are the network options a user
    sets in ``[hamiltonian]`` (unset: the preset's value, :data:`PRESETS`);
    ``HamiltonianModelSettings`` must offer exactly these (a test checks it),
    :func:`resolve_config` fills them, ``from_json`` checks their types from
    the annotations below.
    """

    basis: dict[int, str]  # atomic number -> orbital irreps
    target: str  # "hamiltonian" (eV) or "overlap" (dimensionless)
    irreps_node: str = _preset("node features, e3nn irreps")
    irreps_edge: str = _preset("edge features, e3nn irreps")
    lmax: int = _preset("spherical harmonics of the bond direction in the tensor products")
    num_layers: int = _preset("message-passing layers")
    radial_basis_size: int = _preset("Bessel functions of the bond length")
    radial_hidden: int = _preset("width of the radial MLPs")
    cutoff_angstrom: float  # edges, Å
    avg_num_neighbors: float  # normalizes the message sums
    dtype: str  # "float32" or "float64"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["basis"] = {str(z): b for z, b in self.basis.items()}
        return data

    @classmethod
    def from_json(cls, data: Any, source: str) -> "ModelConfig":
        """Strictly parse a checkpoint's config: exact keys, right types."""
        if not isinstance(data, dict):
            raise UserInputError(f"{source}: model config is not a JSON object")
        names = {f.name for f in fields(cls)}
        if set(data) != names:
            odd = sorted(set(data) ^ names)
            raise UserInputError(f"{source}: model config has unexpected or missing keys {odd}")
        for key, kind in _json_types().items():
            if not isinstance(data[key], kind) or isinstance(data[key], bool):
                raise UserInputError(f"{source}: model config key {key!r} has the wrong type")
        try:
            basis = {int(z): str(b) for z, b in data["basis"].items()}
        except ValueError:
            raise UserInputError(f"{source}: model config basis keys must be atomic numbers") from None
        config = cls(**{**data, "basis": basis, "cutoff_angstrom": float(data["cutoff_angstrom"]),
                        "avg_num_neighbors": float(data["avg_num_neighbors"])})
        config.check(source)
        return config

    def check(self, source: str = "model") -> None:
        from thermodefect.orbitals import parse_basis

        if self.target not in TARGETS:
            raise UserInputError(f"{source}: target must be one of {TARGETS}, got {self.target!r}")
        if self.dtype not in ("float32", "float64"):
            raise UserInputError(f"{source}: dtype must be float32 or float64, got {self.dtype!r}")
        if min(self.lmax, self.num_layers, self.radial_basis_size, self.radial_hidden) < 1 or self.cutoff_angstrom <= 0:
            raise UserInputError(f"{source}: lmax, num_layers, radial sizes and the cutoff must be positive")
        try:
            for b in self.basis.values():
                parse_basis(b)
        except ValueError as exc:
            raise UserInputError(f"{source}: {exc}") from None


def resolve_config(settings, basis: dict[int, str], target: str, avg_num_neighbors: float = 1.0) -> ModelConfig:
    """Fill unset architecture options of ``HamiltonianModelSettings`` from its preset."""
    preset = PRESETS[settings.preset]
    chosen = {name: getattr(settings, name) for name in PRESET_FIELDS}
    config = ModelConfig(
        basis={int(z): str(b) for z, b in sorted(basis.items())},
        target=target,
        **{name: preset[name] if value is None else value for name, value in chosen.items()},
        cutoff_angstrom=float(settings.cutoff_angstrom),
        avg_num_neighbors=float(avg_num_neighbors),
        dtype=settings.default_dtype,
    )
    config.check("hamiltonian settings")
    return config


PRESET_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ModelConfig) if f.metadata.get("preset"))
for _name, _preset_values in PRESETS.items():
    if set(_preset_values) != set(PRESET_FIELDS):
        raise RuntimeError(f"preset {_name!r} must set exactly {PRESET_FIELDS}")


def _json_types() -> dict[str, type | tuple[type, ...]]:
    """The JSON type of each field, from the annotations (a float field also takes an int)."""
    out = {}
    for name, hint in get_type_hints(ModelConfig).items():
        origin = getattr(hint, "__origin__", hint)
        out[name] = (int, float) if origin is float else origin
    return out
