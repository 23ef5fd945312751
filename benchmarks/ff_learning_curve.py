"""Force-field learning curve: what limits MACE's accuracy on five-defect GaAs.

Data (built once, resumable; a killed run keeps every finished label):

* 64-atom cubic cells, pristine + As_i, Ga_i, V_As, V_Ga, As_Ga, at the
  pipeline's default lattice constant (5.65 Å);
* training pool: Albe-potential NVT MD (Langevin) at 300, 500 and 700 K per
  cell, frames ``--frame-spacing`` steps apart (2 fs steps), so training
  frames are thermal configurations from three temperatures, not rattles;
* fixed test set: an independent 300 K Albe trajectory per cell (own seed),
  the published protocol's temperature;
* every frame labelled by GFN1-xTB with the package's labelling (2 workers).

Training: each *variant* changes one lever of the base recipe (MACE 32
channels, L=0, r_max 5 Å, float32, E0s "average", weighted loss, batch 4,
lr 0.01, 80 epochs); each is trained at ``--compare-at`` labels, and the
``--curve-variants`` at every label count, on the same stratified subset
(round-robin over cells and temperatures, so every subset holds every
defect) with a fixed validation set of one 500 K frame per cell. One model
per (variant, labels), two trained at once (one thread each). The test set
gives energy MAE (meV/atom) and force MAE/RMSE (meV/Å) overall and per
defect.

    python benchmarks/ff_learning_curve.py [--workdir /tmp/ff-lc] [--labels 24,48,96,144]
        [--variants base,e0s-isolated,albe-delta,...] [--compare-at 48] [--epochs 80]

Writes benchmarks/results/ff_learning_curve.json (rewritten after every
model, so a partial run still leaves a table); finished models are reused.
About 15 min for the data and 70 min for the models on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
CELLS = ("pristine", "As_i", "Ga_i", "V_As", "V_Ga", "As_Ga")
TRAIN_TEMPERATURES_K = (300.0, 500.0, 700.0)
TEST_TEMPERATURE_K = 300.0

BASE = dict(num_channels=32, max_L=0, r_max_angstrom=5.0, default_dtype="float32", e0s="average", baseline="none",
            loss="weighted", batch_size=4, learning_rate=0.01, ensemble_size=1, pair_repulsion=True)
VARIANTS = {
    "base": {},
    "e0s-isolated": {"e0s": "isolated"},
    "albe-delta": {"baseline": "albe", "e0s": "isolated"},
    "L1": {"max_L": 1},
    "ch64-L1": {"num_channels": 64, "max_L": 1},
    "r6": {"r_max_angstrom": 6.0},
    "float64": {"default_dtype": "float64"},
    "ema": {"ema_decay": 0.99},
    "stage-two": {"stage_two": True},
    "huber": {"loss": "huber"},
    "batch2": {"batch_size": 2},
    "ell2": {"max_ell": 2},
    "ell1": {"max_ell": 1},
    "ell2-corr2": {"max_ell": 2, "correlation": 2},
    "ell2-batch2": {"max_ell": 2, "batch_size": 2},
    "ell1-batch2": {"max_ell": 1, "batch_size": 2},
    "L1-ell1": {"max_L": 1, "max_ell": 1},
    "L1-ell2": {"max_L": 1, "max_ell": 2},
}


def settings_for(workdir: Path):
    from thermodefect.settings import Settings

    return Settings.model_validate({
        "run": {"directory": str(workdir / "run"), "seed": 3},
        "supercells": {"kind": "cubic", "training_atoms": 64, "production_atoms": 64, "transfer_atoms": []},
        "defects": {"names": list(CELLS[1:]), "include_pristine": True},
    })


def _albe_trajectory(job: tuple) -> str:
    """One Albe NVT run (module level: runs in a worker process). Resumes from its checkpoint."""
    name, atoms, temperature_k, seed, n_frames, spacing, path = job
    from thermodefect.dynamics import run_nvt
    from thermodefect.potentials.albe import AlbeGaAs
    from thermodefect.settings import MDSettings

    md = MDSettings(thermostat="langevin", timestep_fs=2.0, friction_per_fs=0.01, equilibration_steps=100,
                    production_steps=n_frames * spacing, sample_interval=spacing)
    run = run_nvt(atoms, AlbeGaAs(), temperature_k, md, seed, path, progress=False)
    return f"{name} {temperature_k:.0f} K: {len(run.frames)} frames" + (f" (diverged: {run.diverged})" if run.diverged else "")


def build_data(workdir: Path, frames_per_run: int, test_frames: int, spacing: int, workers: int) -> tuple[list, list, list]:
    """Training pool, validation and test frames, labelled by GFN1-xTB (cached in ``workdir``)."""
    from thermodefect.core import keys
    from thermodefect.core.executors import LocalExecutor
    from thermodefect.core.keys import structure_key
    from thermodefect.core.rundir import RunDirectory
    from thermodefect.data.forces import KEY_INFO, ForcesDataset
    from thermodefect.dynamics.nvt import read_frames
    from thermodefect.reference.labelling import label_structures
    from thermodefect.structures import build_cells

    settings = settings_for(workdir)
    cells = build_cells(settings, 64)  # a = 5.65 Å, the pipeline's default (material.lattice = "fixed")
    md_dir = workdir / "md"
    jobs = []
    for c, name in enumerate(CELLS):
        for t, temperature in enumerate(TRAIN_TEMPERATURES_K):
            # One extra frame per run at 500 K becomes the validation frame.
            n = frames_per_run + (1 if temperature == 500.0 else 0)
            jobs.append((name, cells[name], temperature, 100 + 10 * c + t, n, spacing, md_dir / f"train-{name}-{temperature:.0f}K.extxyz"))
        jobs.append((name, cells[name], TEST_TEMPERATURE_K, 900 + c, test_frames, spacing, md_dir / f"test-{name}-300K.extxyz"))
    started = time.perf_counter()
    with LocalExecutor(workers) as executor:
        for job, result in executor.map(_albe_trajectory, jobs):
            print(f"  Albe MD {result}" if not isinstance(result, BaseException) else f"  Albe MD {job[0]} failed: {result}",
                  file=sys.stderr, flush=True)
    print(f"Albe MD: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)

    structures = []
    for job in jobs:
        name, _, temperature, _, _, _, path = job
        for k, frame in enumerate(read_frames(path)):
            frame = frame.copy()
            frame.calc = None
            for key in list(frame.arrays):
                if key not in ("numbers", "positions"):
                    del frame.arrays[key]
            frame.info = {keys.DEFECT: name, keys.TEMPERATURE_K: temperature}
            role = "test" if path.name.startswith("test") else ("valid" if temperature == 500.0 and k == 0 else "train")
            frame.info[keys.CONFIG_TYPE] = role
            structures.append(frame)
    run = RunDirectory(workdir / "run")
    started = time.perf_counter()
    with LocalExecutor(workers) as executor:
        report = label_structures(structures, settings.reference, run, what=("forces",), executor=executor)
    print(f"labels: {report.n_new} new, {report.n_skipped} already there, {report.n_failed} failed "
          f"({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    labelled = {f.info[KEY_INFO]: f for f in ForcesDataset(run.forces_dataset).read()}
    pool, valid, test = [], [], []
    for atoms in structures:
        frame = labelled.get(structure_key(atoms))
        if frame is None:
            continue  # a failed label: left out, reported above
        {"train": pool, "valid": valid, "test": test}[atoms.info[keys.CONFIG_TYPE]].append(frame)
    return _stratified(pool), valid, test


def _stratified(pool: list) -> list:
    """Round-robin over (cell, temperature) groups, so every prefix holds every defect and temperature."""
    from thermodefect.core import keys

    groups: dict[tuple, list] = {}
    for frame in pool:
        groups.setdefault((frame.info[keys.DEFECT], float(frame.info[keys.TEMPERATURE_K])), []).append(frame)
    order = [groups[k] for k in sorted(groups, key=lambda g: (TRAIN_TEMPERATURES_K.index(g[1]), CELLS.index(g[0])))]
    out = []
    for i in range(max(len(g) for g in order)):
        out += [g[i] for g in order if i < len(g)]
    return out


def _logged_seconds(log: Path) -> float | None:
    """Training time from the first and last time stamps of mace-torch's log (models trained before timing was kept)."""
    from datetime import datetime

    stamps = [line[:23] for line in log.read_text(errors="replace").splitlines() if line[:4].isdigit()] if log.is_file() else []
    if len(stamps) < 2:
        return None
    first, last = (datetime.strptime(t, "%Y-%m-%d %H:%M:%S.%f") for t in (stamps[0], stamps[-1]))
    return (last - first).total_seconds()


def _train_and_test(job: tuple) -> dict:
    """Train one model of a variant at one label count and test it (runs in a worker process)."""
    variant, n_labels, options, workdir, train_file, valid_file, test_file, isolated = job
    import numpy as np
    from ase.io import read

    from thermodefect.forcefield import ForceFieldEnsemble, train_model
    from thermodefect.forcefield.metrics import force_field_errors
    from thermodefect.settings import ForceFieldSettings

    ff = ForceFieldSettings(**options)
    out = Path(workdir) / "models" / f"{variant}-{n_labels}"
    model = out / "model.model"
    timing = out / "train_seconds.json"
    if not model.is_file():
        started = time.perf_counter()
        train_model(ff, train_file, out, seed=1, name="model", valid_file=valid_file, isolated_energies_ev=isolated)
        timing.write_text(json.dumps(time.perf_counter() - started))
    seconds = json.loads(timing.read_text()) if timing.is_file() else _logged_seconds(out / "model.console.log")
    errors = force_field_errors(ForceFieldEnsemble([model], baseline=ff.baseline), read(test_file, index=":"))
    errors.pop("parity")
    log = (out / "model.console.log").read_text(errors="replace") if (out / "model.console.log").is_file() else ""
    epochs = log.count("Epoch ")
    return {"variant": variant, "labels": n_labels, "train_seconds": seconds, "epochs_logged": epochs,
            "n_parameters": int(sum(np.prod(p.shape) for p in __import__("torch").load(model, weights_only=False).parameters())),
            **errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ff-lc"))
    parser.add_argument("--labels", default="24,48,96,144", help="training-set sizes (comma-separated)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from {', '.join(VARIANTS)}")
    parser.add_argument("--curve-variants", default="base,albe-delta",
                        help="variants trained at every label count; the others only at --compare-at")
    parser.add_argument("--compare-at", type=int, default=48, help="label count at which every variant is trained")
    parser.add_argument("--frames-per-run", type=int, default=8, help="training frames per (cell, temperature)")
    parser.add_argument("--test-frames", type=int, default=5, help="300 K test frames per cell")
    parser.add_argument("--frame-spacing", type=int, default=40, help="MD steps between frames (2 fs each)")
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data-only", action="store_true", help="build and label the data, train nothing")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    unknown = [v for v in args.variants.split(",") if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")

    from ase.io import write

    from thermodefect.core.executors import LocalExecutor
    from thermodefect.reference.isolated import isolated_atom_energies
    from thermodefect.reference.registry import get_reference

    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    pool, valid, test = build_data(work, args.frames_per_run, args.test_frames, args.frame_spacing, args.workers)
    data_seconds = time.perf_counter() - started
    print(f"data: {len(pool)} training pool, {len(valid)} validation, {len(test)} test frames", file=sys.stderr)
    if args.data_only:
        return
    isolated_path = work / "isolated_atoms.json"
    if not isolated_path.is_file():
        isolated_path.write_text(json.dumps(isolated_atom_energies(get_reference(settings_for(work).reference.forces), ["Ga", "As"])))
    isolated = json.loads(isolated_path.read_text())
    write(str(work / "valid.extxyz"), valid, format="extxyz")
    write(str(work / "test.extxyz"), test, format="extxyz")
    counts = sorted({min(int(n), len(pool)) for n in args.labels.split(",")} | {min(args.compare_at, len(pool))})
    curve = set(args.curve_variants.split(","))
    jobs = []
    for n in counts:
        train_file = work / f"train-{n}.extxyz"
        write(str(train_file), pool[:n], format="extxyz")
        for variant in args.variants.split(","):
            if n == min(args.compare_at, len(pool)) or variant in curve:
                options = {**BASE, "max_num_epochs": args.epochs, "patience": max(20, args.epochs // 4), **VARIANTS[variant]}
                jobs.append((variant, n, options, str(work), str(train_file), str(work / "valid.extxyz"),
                             str(work / "test.extxyz"), isolated))
    # Rows of an earlier run on the same data that this run does not redo are kept.
    target = RESULTS / "ff_learning_curve.json"
    redo = {(job[0], job[1]) for job in jobs}
    earlier = json.loads(target.read_text()) if target.is_file() else {}
    rows = [r for r in earlier.get("rows", []) if earlier.get("workdir") == str(work) and "overall" in r
            and (r["variant"], r["labels"]) not in redo]
    out = {
        "workdir": str(work),
        "reference": "GFN1-xTB (tblite)", "cells": "64-atom cubic GaAs", "defects": list(CELLS),
        "training_pool": f"Albe NVT MD at {', '.join(f'{t:.0f}' for t in TRAIN_TEMPERATURES_K)} K, frames {args.frame_spacing * 2} fs apart",
        "test_set": f"independent Albe NVT MD at {TEST_TEMPERATURE_K:.0f} K, {args.test_frames} frames per cell ({len(test)} frames)",
        "validation": f"{len(valid)} frames (one 500 K frame per cell), not counted in labels",
        "base_recipe": {**BASE, "max_num_epochs": args.epochs}, "variants": {v: VARIANTS[v] for v in args.variants.split(",")},
        "isolated_atom_energies_ev": isolated, "data_seconds": data_seconds, "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    with LocalExecutor(args.workers) as executor:
        for job, result in executor.map(_train_and_test, jobs):
            if isinstance(result, BaseException):
                print(f"{job[0]} at {job[1]} labels failed: {result}", file=sys.stderr, flush=True)
                rows.append({"variant": job[0], "labels": job[1], "error": str(result)})
            else:
                o = result["overall"]
                print(f"{job[0]:>16} {job[1]:>4} labels: force MAE {o['force_mae_mev_per_angstrom']:.1f} "
                      f"RMSE {o['force_rmse_mev_per_angstrom']:.1f} meV/Å, energy {o['energy_mae_mev_per_atom']:.2f} meV/atom "
                      f"({result['train_seconds'] or 0:.0f} s)", file=sys.stderr, flush=True)
                rows.append(result)
            out["wall_seconds"] = time.perf_counter() - started
            target.write_text(json.dumps(out, indent=2))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
