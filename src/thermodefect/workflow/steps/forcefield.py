"""Stage ``forcefield_al``: the MACE ensemble by active learning."""

from __future__ import annotations

from thermodefect.workflow.context import PipelineContext
from thermodefect.workflow.rundata import cell_names
from thermodefect.workflow.snapshots import load_cells


def forcefield_active_learning(ctx: PipelineContext) -> dict:
    from thermodefect.workflow.forcefield_hooks import run_forcefield_al

    cells = load_cells(ctx.run.structures, ctx.settings.supercells.training_atoms, cell_names(ctx))
    result = run_forcefield_al(ctx.settings, ctx.run, cells, log=ctx.log)
    return {k: v for k, v in result.items() if isinstance(v, (int, float, str, bool))} if isinstance(result, dict) else {}


def md_calculator(ctx: PipelineContext):
    """The final force-field ensemble's first member as an ASE calculator (cached per process)."""
    if "md_calculator" not in ctx.cache:
        from thermodefect.forcefield.ensemble import ForceFieldEnsemble
        from thermodefect.workflow.forcefield_hooks import final_models

        ff = ctx.settings.forcefield
        ctx.cache["md_calculator"] = ForceFieldEnsemble(final_models(ctx.run), ff.device, ff.default_dtype, ff.baseline).calculator("first")
    return ctx.cache["md_calculator"]
