"""Time and memory of gap + defect level versus atom count, dense versus sparse.

Cells: cubic GaAs supercells (64, 216, 512, 1000 atoms) with an As_Ga antisite.
Hamiltonians: the toy Slater–Koster model (sp, 4 orbitals/atom, nearest
neighbours) and an xtb-sized variant (spd, 9 orbitals/atom, 7 Å range).
Each case runs in a fresh subprocess so its peak RSS is its own; the Python
heap peak (tracemalloc) of the solve is reported too. Prints a table and
writes benchmarks/results/electronic_scaling.json.

    OMP_NUM_THREADS=1 python benchmarks/electronic_scaling.py [--quick]
"""

from __future__ import annotations

import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

SIZES = (64, 216, 512, 1000)
# spd-7A: faster decay (beta = 2 /Å) so the longer range keeps a gap (1.26 eV at 64 atoms).
MODELS = {
    "sp-nn": {},
    "spd-7A": {"with_d": True, "cutoff_angstrom": 7.0, "beta_per_angstrom": 2.0, "overlap_beta_per_angstrom": 2.0},
}
DENSE_MAX_ORBITALS = 5000  # dense eigh above this takes minutes on one core


def run_case(model: str, n_atoms: int, solver: str) -> dict:
    import tracemalloc

    from thermodefect.electronic import analyze_operators
    from thermodefect.reference.toy import ToyTightBinding, gaas_parameters
    from thermodefect.structures import make_defect, parse_defect, pristine_supercell

    atoms = make_defect(pristine_supercell("Ga", "As", 5.65, n_atoms, "cubic"), parse_defect("As_Ga", "Ga", "As"))
    calc = ToyTightBinding(gaas_parameters(**MODELS[model]))
    start = time.perf_counter()
    h, s = calc.operators(atoms)
    build_s = time.perf_counter() - start
    tracemalloc.start()
    start = time.perf_counter()
    result = analyze_operators(h, s, calc.n_electrons(atoms), atoms, solver=solver)
    solve_s = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    level = max((lv for lv in result.levels if lv.electrons > 0), key=lambda lv: lv.defect_weight, default=None)
    return {
        "model": model,
        "n_atoms": n_atoms,
        "n_orbitals": int(h.offsets()[-1]),
        "n_edges": h.n_edges,
        "solver": solver,
        "build_blocks_s": round(build_s, 3),
        "gap_and_levels_s": round(solve_s, 3),
        "python_peak_mib": round(peak / 2**20, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "gap_ev": round(result.gap_ev, 4),
        "occupied_level_above_vbm_ev": None if level is None else round(level.above_vbm_ev, 4),
        "level_defect_weight": None if level is None else round(level.defect_weight, 3),
    }


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--case":
        print(json.dumps(run_case(sys.argv[2], int(sys.argv[3].split(":")[0]), sys.argv[3].split(":")[1])))
        return
    sizes = SIZES[:2] if "--quick" in sys.argv else SIZES
    rows = []
    for model in MODELS:
        orbitals_per_atom = 9 if MODELS[model].get("with_d") else 4
        for n_atoms in sizes:
            for solver in ("dense", "sparse"):
                if solver == "dense" and n_atoms * orbitals_per_atom > DENSE_MAX_ORBITALS:
                    continue
                out = subprocess.run(
                    [sys.executable, __file__, "--case", model, f"{n_atoms}:{solver}"], capture_output=True, text=True, check=True
                )
                row = json.loads(out.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(
                    f"{model:7s} {n_atoms:5d} atoms {row['n_orbitals']:6d} orb {solver:6s} "
                    f"build {row['build_blocks_s']:7.2f} s  solve {row['gap_and_levels_s']:7.2f} s  "
                    f"RSS {row['peak_rss_mib']:7.1f} MiB  gap {row['gap_ev']:.3f}  level {row['occupied_level_above_vbm_ev']}",
                    flush=True,
                )
    path = Path(__file__).parent / "results" / "electronic_scaling.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "rows": rows}, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
