"""Model prediction against the reference on the same structure, versus cell size.

Structures: an As_Ga antisite in GaAs supercells, positions rattled by 0.05 Å
(seeded), at 64 and 216 atoms (cubic), 432 atoms (6x6x6 primitive cells, the
published transfer size), and model-only 1000 (cubic) and 2000 atoms
(10x10x10 primitive cells).

Model: the final Hamiltonian ensemble of a finished run (``--run``, default
``demo-run``), used as production uses it: the mean model's H, the two-center
overlap S, then band edges, gap and defect levels at Γ
(:func:`thermodefect.workflow.rundata.predict_gap`'s route: where the dense
solver is chosen, H(Γ) and S(Γ) are assembled directly, a chunk of edges at a
time, without the real-space blocks; ``route`` says which). The stages are
timed apart: the operators, and the analysis (eigensolver + level
identification).

Reference: the run's Hamiltonian reference (GFN1-xTB through tblite), one
SCF single point, which is what yields its eigenvalues (tblite computes the
gradient in the same call). Both sides use ``--threads`` threads.

Each case runs in a fresh subprocess, so its peak RSS is its own. Finished
cases are kept in the JSON and skipped on a rerun (the 432-atom reference
takes more than 2 hours on a 2-core machine). ``--reference-timeout`` stops a
reference case after that many seconds; its row then records
``unfinished_after_s`` and ``speedup_at_least`` the ratio that time gives
over the model's, a lower bound measured in the same run. The reference side analyses its
own H and S as the model side does; ``model_minus_reference_mev`` gives the
gap and occupied-level errors per size. The cost exponent is the slope of log(time) against
log(atoms) of the model points from 216 atoms up.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/prediction_scaling.py --run demo-run
    python benchmarks/prediction_scaling.py --run demo-run --sizes 432 --reference-timeout 2400
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "prediction_scaling.json"
# atoms -> (cell kind, repeat): "cubic" 8-atom cells n x n x n, "primitive" 2-atom fcc cells n x n x n
CELLS = {64: ("cubic", 2), 216: ("cubic", 3), 432: ("primitive", 6), 1000: ("cubic", 5), 2000: ("primitive", 10)}
REFERENCE_UP_TO = 432
RATTLE_ANGSTROM = 0.05


def structure(n_atoms: int, lattice_constant: float = 5.65):
    import numpy as np
    from ase.build import bulk

    from thermodefect.structures import make_defect, parse_defect

    kind, n = CELLS[n_atoms]
    cell = bulk("GaAs", "zincblende", a=lattice_constant, cubic=(kind == "cubic")).repeat((n, n, n))
    atoms = make_defect(cell, parse_defect("As_Ga", "Ga", "As"))
    rng = np.random.default_rng([7, n_atoms])
    atoms.positions += rng.normal(0.0, RATTLE_ANGSTROM, atoms.positions.shape)
    return atoms


def _context(run_dir: Path):
    from thermodefect.core.rundir import RunDirectory
    from thermodefect.settings import load_settings
    from thermodefect.workflow.context import PipelineContext

    settings = load_settings(run_dir / "config.toml")
    run = RunDirectory(run_dir)
    return PipelineContext(settings=settings, run=run, manifest=run.manifest, log=lambda message: None)


def model_case(run_dir: Path, n_atoms: int) -> dict:
    """The model side, by the route production takes (:func:`thermodefect.workflow.rundata.predict_gap`):
    H(Γ) and S(Γ) assembled densely without real-space blocks where the dense solver is chosen, else the
    real-space blocks of H and S and their (sparse) analysis."""
    from thermodefect.electronic.analysis import analyze_assembled, analyze_operators, choose_solver
    from thermodefect.hamiltonian import KPointOperators, predict
    from thermodefect.workflow.rundata import electrons_per_element, load_predictors
    from thermodefect.workflow.snapshots import electron_count

    ctx = _context(run_dir)
    start = time.perf_counter()
    ham, overlap = load_predictors(ctx)
    load_s = time.perf_counter() - start
    atoms = structure(n_atoms)
    settings = ctx.settings.electronic
    n_electrons = electron_count(atoms, electrons_per_element(ctx))
    t0 = time.perf_counter()
    operators = KPointOperators(ham, overlap, atoms) if KPointOperators.applies(ham, overlap) else None
    if operators is not None and choose_solver(len(atoms), settings, None, operators) == "dense":
        s = operators.overlap_matrix
        t1 = time.perf_counter()
        h = next(operators.hamiltonians())
        t2 = time.perf_counter()
        result = analyze_assembled(h, s, operators.structure.numbers, operators.offsets, n_electrons, atoms, settings)
        sizes = {"route": "assembled at Γ", "n_orbitals": int(operators.offsets[-1]), "h_edges": int(operators.edge_index.shape[1])}
        # Assembled together: the overlap's time includes the two-center H baseline built alongside it.
        stages = {"overlap_and_baseline_s": round(t1 - t0, 3), "hamiltonian_network_s": round(t2 - t1, 3)}
    else:
        h = predict(ham, [atoms])[0]
        t1 = time.perf_counter()
        s = predict(overlap, [atoms])[0]
        t2 = time.perf_counter()
        result = analyze_operators(h, s, n_electrons, atoms, settings)
        sizes = {"route": "real-space blocks", "n_orbitals": int(h.offsets()[-1]), "h_edges": h.n_edges, "s_edges": s.n_edges}
        stages = {"hamiltonian_s": round(t1 - t0, 3), "overlap_s": round(t2 - t1, 3)}
    t3 = time.perf_counter()
    return {
        "side": "model", "n_atoms": len(atoms), **sizes, "load_models_s": round(load_s, 2), **stages,
        "analysis_s": round(t3 - t2, 3), "total_s": round(t3 - t0, 3), "solver": result.solver, **_electronic(result),
    }


def reference_case(run_dir: Path, n_atoms: int) -> dict:
    from thermodefect.electronic.analysis import analyze_sample

    from thermodefect.reference.registry import get_reference

    ctx = _context(run_dir)
    reference = get_reference(ctx.settings.reference.hamiltonian)
    atoms = structure(n_atoms)
    label = reference.label(atoms, hamiltonian=True)
    t0 = time.perf_counter()
    result = analyze_sample(label.sample, atoms, ctx.settings.electronic)
    analysis = time.perf_counter() - t0
    return {"side": "reference", "name": reference.name, "n_atoms": len(atoms), "total_s": round(label.seconds, 3),
            "analysis_s": round(analysis, 3), "energy_ev": float(label.energy_ev), **_electronic(result)}


def _electronic(result) -> dict:
    """Gap and the occupied defect level the same way for both sides (the most localized occupied level)."""
    level = max((lv for lv in result.levels if lv.electrons > 0), key=lambda lv: lv.defect_weight, default=None)
    return {"homo_ev": float(result.homo_ev), "lumo_ev": float(result.lumo_ev), "gap_ev": float(result.gap_ev),
            "vbm_ev": float(result.vbm_ev), "cbm_ev": float(result.cbm_ev),
            "level_above_vbm_ev": None if level is None else float(level.above_vbm_ev),
            "level_electrons": None if level is None else float(level.electrons),
            "level_defect_weight": None if level is None else float(level.defect_weight)}


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _in_subprocess(side: str, run_dir: Path, n_atoms: int, threads: int, timeout_s: float | None = None) -> dict:
    """One case in a fresh process; a case still running after ``timeout_s`` is stopped and its row
    says so (``unfinished_after_s``), which bounds that side's time from below."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE"}
    command = [sys.executable, __file__, "--case", side, str(n_atoms), "--run", str(run_dir), "--threads", str(threads)]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"side": side, "n_atoms": n_atoms, "unfinished_after_s": round(time.perf_counter() - started, 1)}
    if done.returncode != 0:
        return {"side": side, "n_atoms": n_atoms, "error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def cost_exponent(rows: list[dict], from_atoms: int = 216) -> float | None:
    import numpy as np

    points = [(r["n_atoms"], r["total_s"]) for r in rows if r["side"] == "model" and "error" not in r and r["n_atoms"] >= from_atoms]
    if len(points) < 2:
        return None
    n, t = np.log(np.array(points, float)).T
    return round(float(np.polyfit(n, t, 1)[0]), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("demo-run"), help="finished run whose models predict")
    parser.add_argument("--sizes", default=",".join(map(str, CELLS)), help="atom counts, from " + ", ".join(map(str, CELLS)))
    parser.add_argument("--reference-up-to", type=int, default=REFERENCE_UP_TO, help="largest cell the reference runs on")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON file of the rows (kept rows are read from it)")
    parser.add_argument("--reference-timeout", type=float, default=None, metavar="SECONDS",
                        help="stop a reference case after this long; its row then gives a lower bound on the speed-up")
    parser.add_argument("--case", nargs=2, metavar=("SIDE", "ATOMS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        import torch

        torch.set_num_threads(args.threads)
        side, n_atoms = args.case[0], int(args.case[1])
        row = (model_case if side == "model" else reference_case)(args.run.resolve(), n_atoms)
        row["peak_rss_mib"] = _peak_rss_mib()
        print(json.dumps(row))
        return
    if not (args.run / "manifest.json").is_file():
        sys.exit(f"error: {args.run} is not a run directory (no manifest.json); run `make demo` first or pass --run")
    sizes = [int(x) for x in args.sizes.split(",")]
    unknown = sorted(set(sizes) - set(CELLS))
    if unknown:
        sys.exit(f"error: no cell defined for {unknown} atoms; choose from {sorted(CELLS)}")
    old = json.loads(args.results.read_text()) if args.results.exists() else {}
    keep = {(r["side"], r["n_atoms"]): r for r in old.get("rows", []) if "error" not in r and "level_electrons" in r
            and (r["side"] == "reference" or "route" in r)
            and old.get("run") == str(args.run.resolve()) and old.get("threads") == args.threads}
    rows = []
    for n_atoms in sizes:
        sides = ["model"] + (["reference"] if n_atoms <= args.reference_up_to else [])
        for side in sides:
            row = keep.get((side, n_atoms))
            if row is None:
                print(f"{side} at {n_atoms} atoms ...", flush=True)
                timeout = args.reference_timeout if side == "reference" else None
                row = _in_subprocess(side, args.run.resolve(), n_atoms, args.threads, timeout)
            rows.append(row)
            print(json.dumps(row), flush=True)
            _write(args, rows)
    _write(args, rows)


def _write(args, rows: list[dict]) -> None:
    model = {r["n_atoms"]: r for r in rows if r["side"] == "model" and "error" not in r}
    reference = {r["n_atoms"]: r for r in rows if r["side"] == "reference" and "total_s" in r}
    unfinished = {r["n_atoms"]: r["unfinished_after_s"] for r in rows if r["side"] == "reference" and "unfinished_after_s" in r}
    speedup = {str(n): round(reference[n]["total_s"] / model[n]["total_s"], 1) for n in sorted(reference) if n in model}
    # The reference was stopped unfinished: the ratio is at least its time so far over the model's.
    speedup_at_least = {str(n): round(unfinished[n] / model[n]["total_s"], 1) for n in sorted(unfinished) if n in model}
    errors = {str(n): _errors_mev(model[n], reference[n]) for n in sorted(reference) if n in model}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps({
        "benchmark": "prediction_scaling", "machine": platform.machine(), "cores": os.cpu_count(), "threads": args.threads,
        "run": str(args.run.resolve()), "rows": rows, "speedup_reference_over_model": speedup,
        "speedup_at_least": speedup_at_least,
        "model_minus_reference_mev": errors,
        "model_cost_exponent_from_216": cost_exponent(rows),
    }, indent=2) + "\n")


def _errors_mev(model: dict, reference: dict) -> dict:
    """Model minus reference (meV): gap, and the occupied level above the VBM when both sides find one."""
    levels = (model["level_above_vbm_ev"], reference["level_above_vbm_ev"])
    return {"gap": round(1000 * (model["gap_ev"] - reference["gap_ev"]), 1),
            "level_above_vbm": None if None in levels else round(1000 * (levels[0] - levels[1]), 1)}


if __name__ == "__main__":
    main()
