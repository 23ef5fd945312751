"""Model versus reference on transfer cells larger than any training cell, timed side by side.

Takes a finished run (e.g. the demo's ``demo-run``), labels ``--snapshots``
transfer-cell MD snapshots per transfer size with the run's Hamiltonian
reference, and compares band gap, defect levels and Γ eigenvalues with the
run's final models -- the accuracy stage's transfer check, for runs whose
config skipped it (``electronic.transfer_reference_snapshots = 0``). The
labels land in the run's dataset; the models are not retrained.

    python benchmarks/transfer_accuracy.py --run demo-run [--snapshots 1]

Writes benchmarks/results/transfer_accuracy.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a finished run directory")
    parser.add_argument("--snapshots", type=int, default=1, help="defects compared per transfer size (As_Ga first)")
    args = parser.parse_args()

    from thermodefect.core.compat import configure_cpu_threads
    from thermodefect.data.hamiltonians import HamiltonianDataset
    from thermodefect.core.keys import structure_key
    from thermodefect.reference.labelling import label_structures
    from thermodefect.settings import load_settings
    from thermodefect.workflow.context import PipelineContext
    from thermodefect.workflow.comparison import compare
    from thermodefect.workflow.steps.accuracy import TRANSFER_METADATA, _transfer_structures
    from thermodefect.core.rundir import Manifest, RunDirectory

    configure_cpu_threads()
    run = RunDirectory(args.run)
    settings = load_settings(run.config_path)
    electronic = settings.electronic.model_copy(update={"transfer_reference_snapshots": args.snapshots})
    settings = settings.model_copy(update={"electronic": electronic})
    ctx = PipelineContext(settings=settings, run=run, manifest=Manifest(run.manifest_path),
                          log=lambda m: print(m, flush=True))
    structures = _transfer_structures(ctx)
    if not structures:
        raise SystemExit("the run has no transfer cells")
    started = time.perf_counter()
    report = label_structures(structures, settings.reference.hamiltonian, run, what=("hamiltonian",),
                              metadata=[{k: a.info[k] for k in TRANSFER_METADATA if k in a.info} for a in structures])
    label_wall = time.perf_counter() - started
    dataset = HamiltonianDataset(run.hamiltonian_dataset)
    rows = [compare(ctx, dataset[structure_key(a)]) for a in structures if structure_key(a) in dataset]
    reference_s = float(np.mean(report.seconds_per_label)) if report.seconds_per_label else label_wall / len(structures)
    model_s = float(np.mean([r["model_seconds"] for r in rows]))
    out = {
        "run": str(args.run), "reference": settings.reference.hamiltonian.name,
        "snapshots": rows,
        "timing": {"reference_seconds": reference_s, "model_seconds": model_s, "speedup": reference_s / model_s,
                   "note": "same structures, same process, same machine; model = H + S prediction + eigensolver"},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "transfer_accuracy.json").write_text(json.dumps(out, indent=2, default=float))
    for r in rows:
        print(f"{r['defect']} {r['cell_atoms']} atoms: gap {r['model_gap_ev']:.3f} eV (reference {r['reference_gap_ev']:.3f}), "
              f"level errors {[round(e) for e in r['level_errors_mev']]} meV, eigenvalue MAE {r.get('eigenvalue_mae_mev', float('nan')):.1f} meV")
    print(f"speed: reference {reference_s:.1f} s, model {model_s:.1f} s per snapshot ({reference_s / model_s:.0f}x)")


if __name__ == "__main__":
    main()
