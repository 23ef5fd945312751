"""Stage ``structures``: pristine and defective supercells of every size the run uses."""

from __future__ import annotations

from ase.io import write

from thermodefect.workflow.context import PipelineContext
from thermodefect.workflow.rundata import cell_sizes
from thermodefect.workflow.snapshots import cell_path


def build_structures(ctx: PipelineContext) -> dict:
    from thermodefect.structures import build_cells

    s = ctx.settings
    a = s.material.lattice_constant_angstrom
    if s.material.lattice == "relax":
        from thermodefect.reference.lattice import equilibrium_lattice_constant
        from thermodefect.reference.registry import get_reference

        ctx.log("fitting the reference's equilibrium lattice constant (E(a) scan, 64-atom cell)")
        a = equilibrium_lattice_constant(get_reference(s.reference.forces), s.material.cation, s.material.anion, guess_angstrom=a, n_atoms=64)
    counts = {}
    for n in cell_sizes(ctx):
        for name, atoms in build_cells(s, n, lattice_constant_angstrom=a).items():
            atoms.info["lattice_constant_angstrom"] = a
            write(str(cell_path(ctx.run.structures, n, name)), atoms, format="extxyz")
            counts[f"{n}atoms-{name}"] = len(atoms)
    return {"lattice_constant_angstrom": a, "cells": len(counts)}
