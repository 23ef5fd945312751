"""MD throughput of a trained MACE model vs the reference, side by side.

Langevin NVT at 300 K, 2 fs, on 64/216/512-atom GaAs cells; steps/s and
ns/day after 2 warm-up steps. The reference is xtb (GFN1-xTB via tblite,
64 atoms only: ~10 s per step) when available, and the Albe potential on all
sizes. Run with ``OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE``.

    python benchmarks/md_throughput.py [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from ase import units
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

from ff_common import RESULTS, albe_trained_mace, gaas_cell


def steps_per_second(atoms, calc, steps: int) -> float:
    import numpy as np

    atoms = atoms.copy()
    atoms.calc = calc
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
    dyn = Langevin(atoms, timestep=2 * units.fs, temperature_K=300, friction=0.01 / units.fs, fixcm=False, rng=np.random.default_rng(1))
    dyn.run(2)
    start = time.perf_counter()
    dyn.run(steps)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 216, 512])
    parser.add_argument("--xtb-steps", type=int, default=2)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    from thermodefect.forcefield import ForceFieldEnsemble
    from thermodefect.potentials.albe import AlbeGaAs

    work = Path(tempfile.mkdtemp(prefix="md-throughput-"))
    model = albe_trained_mace(work)
    mace_calc = ForceFieldEnsemble([model]).calculator("first")
    rows = []
    for n in args.sizes:
        cell = gaas_cell(n)
        mace = steps_per_second(cell, mace_calc, args.steps)
        albe = steps_per_second(cell, AlbeGaAs(), max(2, args.steps // 4))
        row = {"n_atoms": n, "mace_steps_per_s": mace, "mace_ns_per_day": mace * 2e-6 * 86400,
               "albe_steps_per_s": albe, "mace_over_albe": mace / albe}
        if n == 64:
            try:
                from thermodefect.reference.registry import get_reference
                from thermodefect.settings import ReferenceSettings

                xtb = steps_per_second(cell, get_reference(ReferenceSettings(name="xtb")), args.xtb_steps)
                row.update(xtb_steps_per_s=xtb, mace_over_xtb=mace / xtb)
            except Exception as exc:  # tblite missing or failing: report, keep the other numbers
                row["xtb_error"] = f"{type(exc).__name__}: {exc}"
        print(json.dumps(row))
        rows.append(row)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "md_throughput.json"
    out.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "torch_threads": 1,
                               "model": "MACE 32x0e, L=0, 2 interactions, float32", "timestep_fs": 2.0, "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
