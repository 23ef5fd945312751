"""Hamiltonian-network benchmark: training time per step and epoch, and the cutoff floor.

    python benchmarks/hamiltonian_model.py                       # timings on synthetic targets
    python benchmarks/hamiltonian_model.py --xtb-samples 2       # + the cutoff floor of tblite-labelled cells

Timings of the e3nn network alone (no two-center part) with the "fast" preset
and the default cutoff on 64-atom cubic GaAs: one forward + backward step
(also for the "published" preset) and seconds per epoch, on targets that are
the Γ fold of a randomly initialised model (training speed does not depend on
the target values). With tblite samples or a dataset it also reports the
representability floor of Γ-folded targets versus cutoff: the matrix entries
of atom pairs that no edge within the cutoff reaches cannot be fitted.
Accuracy and prediction speed of the full model (two-center overlap and
baseline + network) against the reference: benchmarks/hamiltonian_accuracy.py.
Writes benchmarks/results/hamiltonian_model.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch

from thermodefect.data.operators import HamiltonianSample, KSpaceMatrices, orbital_offsets
from thermodefect.hamiltonian import build_model, predict, train_model
from thermodefect.hamiltonian.blocks import OrbitalLayout
from thermodefect.hamiltonian.graph import build_graph
from thermodefect.hamiltonian.targets import fold_index
from thermodefect.settings import HamiltonianModelSettings
from thermodefect.structures import pristine_supercell, rattle

GAAS_BASIS = {31: "1x0e+1x1o+1x2e", 33: "1x0e+1x1o+1x2e"}
RESULTS = Path(__file__).parent / "results" / "hamiltonian_model.json"


def cubic_gaas(n_atoms: int, seed: int):
    return rattle(pristine_supercell("Ga", "As", 5.65, n_atoms, "cubic"), 1, 0.05, seed=seed)[0]


def synthetic_samples(settings, n: int) -> list[HamiltonianSample]:
    torch.manual_seed(123)
    teacher = build_model(settings, GAAS_BASIS, "hamiltonian", avg_num_neighbors=50.0)
    samples = []
    for op in predict(teacher, [cubic_gaas(64, seed=s) for s in range(n)]):
        graph = build_graph(op.structure, settings.cutoff_angstrom)
        fold, _ = fold_index(graph, teacher.layout)
        gamma = np.zeros(fold.n_orbitals**2)
        np.add.at(gamma, fold.matrix_flat, op.blocks.reshape(op.n_edges, -1)[fold.edge, fold.block_flat])
        kspace = KSpaceMatrices(np.zeros((1, 3)), gamma.reshape(1, fold.n_orbitals, fold.n_orbitals), None)
        samples.append(HamiltonianSample(op.structure, op.basis, 0.0, kspace=kspace))
    return samples


def time_training(settings, samples, epochs: int, workdir: Path) -> float:
    timed = settings.model_copy(update={"max_epochs": epochs, "patience": epochs + 1})
    result = train_model(samples, [], timed, workdir / "timing", seed=0, progress=False)
    return result.seconds_per_epoch


def time_train_step(settings, n_atoms: int = 64) -> dict[str, float]:
    """Forward + backward of one structure (best of 3), seconds."""
    model = build_model(settings, GAAS_BASIS, "hamiltonian", avg_num_neighbors=90.0)
    from thermodefect.data.operators import Structure
    from thermodefect.hamiltonian.batch import collate

    graph = build_graph(Structure.from_atoms(cubic_gaas(n_atoms, seed=1)), settings.cutoff_angstrom)
    batch = collate([graph], model.layout).to(model.device, model.dtype)
    best = (float("inf"), 0.0, 0.0)
    for _ in range(3):
        start = time.perf_counter()
        loss = (model(batch) ** 2).mean()
        middle = time.perf_counter()
        loss.backward()
        end = time.perf_counter()
        if end - start < best[0]:
            best = (end - start, middle - start, end - middle)
    return {"edges": graph.n_edges, "step_s": best[0], "forward_s": best[1], "backward_s": best[2]}


def cutoff_floor(samples, cutoffs) -> dict[str, dict[str, float]]:
    """Largest and RMS |matrix entry| of atom pairs no edge reaches, per cutoff (eV for H)."""
    layout = OrbitalLayout(samples[0].basis)
    out = {}
    for cutoff in cutoffs:
        worst_h, worst_s, squares_h, count = 0.0, 0.0, 0.0, 0
        for sample in samples:
            fold, _ = fold_index(build_graph(sample.structure, cutoff), layout)
            uncovered = np.ones(fold.n_orbitals**2, dtype=bool)
            uncovered[fold.matrix_flat] = False
            h = np.real(sample.kspace.hamiltonian[0]).ravel()[uncovered]
            worst_h = max(worst_h, float(np.abs(h).max(initial=0.0)))
            squares_h += float((h**2).sum())
            count += uncovered.size
            if sample.kspace.overlap is not None:
                s = np.real(sample.kspace.overlap[0]).ravel()[uncovered]
                worst_s = max(worst_s, float(np.abs(s).max(initial=0.0)))
        out[f"{cutoff:.1f}"] = {"max_abs_h_uncovered_ev": worst_h, "rms_h_all_entries_ev": (squares_h / count) ** 0.5,
                                "max_abs_s_uncovered": worst_s}
    return out


def xtb_samples(n: int) -> list[HamiltonianSample]:
    from thermodefect.reference.registry import get_reference
    from thermodefect.settings import ReferenceSettings

    reference = get_reference(ReferenceSettings())
    return [reference.label(cubic_gaas(64, seed=100 + k), hamiltonian=True).sample for k in range(n)]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, help="Hamiltonian dataset (HDF5) for the cutoff floor.")
    parser.add_argument("--xtb-samples", type=int, default=0, help="Label this many rattled 64-atom cells with tblite.")
    parser.add_argument("--timing-epochs", type=int, default=2)
    parser.add_argument("--cutoff", type=float, default=None, help="Edge cutoff (Å); default: the settings default.")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/thermodefect-ham-bench"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cutoff = {"cutoff_angstrom": args.cutoff} if args.cutoff else {}
    settings = HamiltonianModelSettings(preset="fast", **cutoff)
    report = {"preset": "fast", "cutoff_angstrom": settings.cutoff_angstrom, "threads": args.threads,
              "torch": torch.__version__, "machine": platform.processor() or platform.machine()}

    report["train_step_64_atoms"] = {
        preset: time_train_step(HamiltonianModelSettings(preset=preset, **cutoff)) for preset in ("fast", "published")}
    print(json.dumps(report["train_step_64_atoms"], indent=1), flush=True)
    samples = synthetic_samples(settings, 4)
    report["train_seconds_per_epoch_4x64_atoms"] = time_training(settings, samples, args.timing_epochs, args.workdir)
    print(f"training: {report['train_seconds_per_epoch_4x64_atoms']:.2f} s/epoch (4 x 64 atoms)", flush=True)

    reference = []
    if args.dataset:
        from thermodefect.data.hamiltonians import HamiltonianDataset

        dataset = HamiltonianDataset(args.dataset)
        reference = [dataset[k] for k in sorted(dataset.keys())]
    if args.xtb_samples:
        started = time.perf_counter()
        reference += xtb_samples(args.xtb_samples)
        report["xtb_seconds_per_sample"] = (time.perf_counter() - started) / args.xtb_samples
    if reference:
        kspace = [s for s in reference if s.kspace is not None]
        if kspace:
            report["cutoff_floor"] = cutoff_floor(kspace, [5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
            print(json.dumps(report["cutoff_floor"], indent=1), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    sys.exit(main())
