"""Hamiltonian-model accuracy on held-out GFN1-xTB data versus settings and training time.

    python benchmarks/hamiltonian_accuracy.py --label 6              # label 6 x 3 rattled 64-atom cells once
    python benchmarks/hamiltonian_accuracy.py '{"cutoff_angstrom": 9.9, "max_epochs": 40, "learning_rate": 0.01}'

Data: rattled 64-atom cubic GaAs cells (pristine and the demo defects, σ =
0.05, 0.075, 0.1 Å in turn) labelled with the default reference, stored in
``--dataset`` (HDF5, reused). The first ``--n-train`` samples train one model
(no validation split: fixed epochs), the next ``--n-test`` are evaluated with
``evaluate()`` (Γ-folded matrix-element MAE, eigenvalue MAE of the 30 bands
nearest the gap, meV) and by the Γ HOMO–LUMO gap of every test cell
(reference vs model, eV). Each run appends one line (labelled ``--name``) to
benchmarks/results/hamiltonian_accuracy.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

RESULTS = Path(__file__).parent / "results" / "hamiltonian_accuracy.jsonl"
DEMO_CONFIG = Path(__file__).parents[1] / "src" / "thermodefect" / "configs" / "demo.toml"


def label(dataset_path: Path, repeats: int) -> None:
    from thermodefect.data.hamiltonians import HamiltonianDataset
    from thermodefect.reference.registry import get_reference
    from thermodefect.settings import ReferenceSettings, load_settings
    from thermodefect.structures import build_cells

    cells = build_cells(load_settings(DEMO_CONFIG), 64)
    reference = get_reference(ReferenceSettings())
    dataset = HamiltonianDataset(dataset_path)
    k = 0
    for rep in range(repeats):
        sigma_angstrom = 0.05 + 0.025 * (rep % 3)
        for name, atoms in cells.items():
            rattled = atoms.copy()
            rattled.rattle(sigma_angstrom, seed=1000 + k)
            sample = reference.label(rattled, hamiltonian=True).sample
            sample.metadata.update(defect=name, rattle_angstrom=sigma_angstrom)
            dataset.append(sample)
            k += 1
            print(f"labelled {k}: {name}, σ = {sigma_angstrom:.3f} Å", flush=True)


def gamma_gaps(model, samples) -> list[dict]:
    """Γ HOMO–LUMO gap (eV) of reference and model per sample, with the reference overlap."""
    import numpy as np
    import scipy.linalg

    from thermodefect.hamiltonian.predict import predicted_blocks
    from thermodefect.hamiltonian.targets import bloch_sum_numpy, prepare_sample

    prepared = [prepare_sample(s, model.layout, model.config.cutoff_angstrom, "hamiltonian") for s in samples]
    rows = []
    for p, blocks in zip(prepared, predicted_blocks(model, [p.graph for p in prepared], 1)):
        homo = int(np.ceil(p.n_electrons / 2 - 1e-9)) - 1
        predicted = bloch_sum_numpy(blocks, p.graph, p.fold, np.zeros(3)).real
        gaps = []
        for h in (p.hamiltonian_gamma, 0.5 * (predicted + predicted.T)):
            levels = scipy.linalg.eigh(h, p.overlap_gamma, eigvals_only=True)
            gaps.append(float(levels[homo + 1] - levels[homo]))
        rows.append({"defect": p.metadata.get("defect"), "gap_ref_ev": gaps[0], "gap_pred_ev": gaps[1],
                     "gap_error_ev": gaps[1] - gaps[0]})
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("settings", nargs="?", default="{}", help="JSON of HamiltonianModelSettings overrides.")
    parser.add_argument("--dataset", type=Path, default=Path("/tmp/hamdata/gaas64.h5"))
    parser.add_argument("--label", type=int, default=0, help="Label this many repeats of (pristine + defects) first.")
    parser.add_argument("--n-train", type=int, default=12)
    parser.add_argument("--n-test", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/thermodefect-ham-accuracy"))
    parser.add_argument("--name", default="", help="Label of the run in the results file.")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if args.label:
        args.dataset.parent.mkdir(parents=True, exist_ok=True)
        label(args.dataset, args.label)
    from thermodefect.data.hamiltonians import HamiltonianDataset
    from thermodefect.hamiltonian import evaluate, train_model
    from thermodefect.settings import HamiltonianModelSettings

    overrides = json.loads(args.settings)
    settings = HamiltonianModelSettings(**{"preset": "fast", "patience": 10_000, **overrides})
    dataset = HamiltonianDataset(args.dataset)
    keys = dataset.keys()
    train = [dataset[k] for k in keys[:args.n_train]]
    test = [dataset[k] for k in keys[args.n_train:args.n_train + args.n_test]]
    started = time.perf_counter()
    result = train_model(train, [], settings, args.workdir / "model", seed=0, progress=False)
    train_seconds = time.perf_counter() - started
    metrics = evaluate(result.model, test)
    gaps = gamma_gaps(result.model, test)
    row = {"name": args.name, "settings": overrides, "n_train": len(train), "n_test": len(test),
           "threads": args.threads,
           "train_seconds": train_seconds, "epochs": result.epochs_run, "seconds_per_epoch": result.seconds_per_epoch,
           "final_train_loss": result.history[-1]["train_loss"], "test": metrics, "test_gaps": gaps,
           "gap_mae_ev": sum(abs(g["gap_error_ev"]) for g in gaps) / max(len(gaps), 1)}
    print(json.dumps(row, indent=1))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as handle:
        handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    sys.exit(main())
