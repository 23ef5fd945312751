"""Pristine and defective supercells of binary zincblende compounds."""

from __future__ import annotations

from ase import Atoms

from thermodefect.structures.defects import (
    DefectSpec,
    defect_neighbours,
    make_defect,
    parse_defect,
    rattle,
    tetrahedral_site,
)
from thermodefect.structures.supercells import (
    StructureError,
    pristine_supercell,
    read_unit_cell,
    unit_cell,
)

__all__ = [
    "DefectSpec",
    "StructureError",
    "build_cells",
    "defect_neighbours",
    "make_defect",
    "parse_defect",
    "pristine_supercell",
    "rattle",
    "read_unit_cell",
    "tetrahedral_site",
    "unit_cell",
]


def build_cells(settings, n_atoms: int, lattice_constant_angstrom: float | None = None) -> dict[str, Atoms]:
    """Pristine (if configured) and every configured defect at one supercell size.

    ``settings`` is a :class:`thermodefect.settings.Settings`. The lattice
    constant defaults to the configured one (pass the relaxed one to override).
    Returns ``{name: atoms}`` in config order, pristine first.
    """
    mat = settings.material
    a = lattice_constant_angstrom or mat.lattice_constant_angstrom
    unit = None
    kind = settings.supercells.kind
    if mat.structure_file is not None:
        unit = read_unit_cell(mat.structure_file, mat.cation, mat.anion)
        if lattice_constant_angstrom is not None:
            # Rescale the user's cell isotropically to the requested constant.
            scale = lattice_constant_angstrom / mat.lattice_constant_angstrom
            unit.set_cell(unit.cell[:] * scale, scale_atoms=True)
    pristine = pristine_supercell(mat.cation, mat.anion, a, n_atoms, kind, unit=unit)
    cells: dict[str, Atoms] = {}
    if settings.defects.include_pristine:
        cells["pristine"] = pristine
    for name in settings.defects.names:
        spec = parse_defect(name, mat.cation, mat.anion, settings.defects.interstitial_sites.get(name))
        cells[name] = make_defect(pristine, spec)
    return cells
