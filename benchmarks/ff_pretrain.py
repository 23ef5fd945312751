"""Synthetic pre-training: do cheap teacher labels make GFN1-xTB labels go further?

Uses the learning-curve data of ``ff_learning_curve.py`` (64-atom five-defect
GaAs, Albe NVT frames at 300/500/700 K, GFN1-xTB labels, fixed 300 K test
set; built there and reused here from the same ``--workdir``). Per teacher:

1. **Synthetic set.** Every frame of the 144-frame training pool plus
   ``--copies`` Gaussian rattles of it (σ = ``--rattle``), labelled by the
   teacher, not by the reference. Teachers: the Albe bond-order potential
   (in this process), CHGNet and SevenNet-0 (universal potentials whose
   weights ship inside their PyPI wheels; each runs in its own environment
   through ``teacher_label.py``, given by ``--teacher-python NAME=PYTHON``).
2. **Pre-training.** A MACE model with the learning curve's base recipe on
   the synthetic set, ``--pretrain-epochs`` epochs.
3. **Fine-tuning** of that model on the first N reference labels of the
   stratified pool (the same N-label sets as the learning curve), with
   mace-torch's fine-tuning (``forcefield.foundation_model`` = the
   pre-trained file; architecture from it; ``--finetune-lr``, one or
   more rates: mace-torch's 1e-3 and the from-scratch 0.01 were measured).

Controls, trained side by side in the same run: the base recipe from
scratch on the same N labels. Every model is tested on the GFN1-xTB test set
(force MAE/RMSE overall and per defect, energy MAE), and each teacher itself
and each pre-trained model before fine-tuning are tested too (forces; a
teacher's energies have their own zero).

    python benchmarks/ff_pretrain.py [--workdir /tmp/ff-lc] [--teachers albe,chgnet,sevennet-0]
        [--teacher-python chgnet=/opt/chgnet/bin/python,sevennet-0=/opt/7n/bin/python]
        [--labels 24,48] [--copies 1] [--pretrain-epochs 25] [--epochs 80] [--finetune-lr 0.001,0.01]

Writes benchmarks/results/ff_pretrain.json after every model, keeping rows
of earlier runs on the same workdir that this run does not redo; labels and
models in ``--workdir`` are reused by a rerun.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import ff_learning_curve as lc  # noqa: E402  (same data, same base recipe)

RESULTS = HERE / "results"
TEACHERS = ("albe", "chgnet", "sevennet-0")


def _geometries(frames: list, copies: int, rattle: float, seed: int) -> list:
    """The frames without labels, each followed by ``copies`` rattled versions."""
    from thermodefect.core import keys

    out = []
    rng = np.random.default_rng(seed)
    for frame in frames:
        for k in range(copies + 1):
            atoms = frame.copy()
            atoms.calc = None
            for key in list(atoms.arrays):
                if key not in ("numbers", "positions"):
                    del atoms.arrays[key]
            atoms.info = {keys.DEFECT: frame.info[keys.DEFECT], keys.TEMPERATURE_K: frame.info[keys.TEMPERATURE_K],
                          "copy": k}
            if k:
                atoms.positions += rng.normal(0.0, rattle, atoms.positions.shape)
            out.append(atoms)
    return out


def label_with_teacher(teacher: str, source: Path, target: Path, python: str | None) -> float:
    """Teacher labels of every frame of ``source`` into ``target`` (skipped if present); seconds spent."""
    if target.is_file():
        return 0.0
    started = time.perf_counter()
    if teacher == "albe":
        from teacher_label import label_file

        from thermodefect.potentials.albe import AlbeGaAs

        label_file(AlbeGaAs(), source, target)
    else:
        if python is None:
            raise SystemExit(f"error: teacher {teacher} needs --teacher-python {teacher}=PYTHON (an environment with it)")
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        done = subprocess.run([python, str(HERE / "teacher_label.py"), teacher, str(source), str(target)],
                              env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{teacher} labelling failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
    return time.perf_counter() - started


def force_errors(reference: list, predicted: list) -> dict:
    """Force MAE/RMSE (meV/Å) of ``predicted`` frames against ``reference`` frames, overall and per defect."""
    from thermodefect.core import keys

    def stats(pairs):
        diff = np.concatenate([(p.arrays["REF_forces"] - r.arrays["REF_forces"]).reshape(-1) for r, p in pairs])
        return {"force_mae_mev_per_angstrom": 1e3 * float(np.mean(np.abs(diff))),
                "force_rmse_mev_per_angstrom": 1e3 * float(np.sqrt(np.mean(diff ** 2)))}

    pairs = list(zip(reference, predicted))
    defects = dict.fromkeys(r.info[keys.DEFECT] for r in reference)
    return {"overall": stats(pairs),
            "per_defect": {d: stats([(r, p) for r, p in pairs if r.info[keys.DEFECT] == d]) for d in defects}}


def _train_and_test(job: dict) -> dict:
    """Pre-train, fine-tune or train from scratch one model, then test it (runs in a worker process)."""
    from ase.io import read

    from thermodefect.forcefield import ForceFieldEnsemble, train_model
    from thermodefect.forcefield.metrics import force_field_errors
    from thermodefect.settings import ForceFieldSettings

    out = Path(job["out"])
    model = out / "model.model"
    timing = out / "train_seconds.json"
    ff = ForceFieldSettings(**job["options"])
    if not model.is_file():
        started = time.perf_counter()
        train_model(ff, job["train_file"], out, seed=1, name="model", valid_file=job["valid_file"])
        timing.write_text(json.dumps(time.perf_counter() - started))
    errors = force_field_errors(ForceFieldEnsemble([model]), read(job["test_file"], index=":"))
    errors.pop("parity")
    return {k: job[k] for k in ("kind", "teacher", "labels", "lr")} | {"train_seconds": json.loads(timing.read_text()), **errors}


def _row_line(row: dict) -> str:
    o = row["overall"]
    return (f"{row['kind']:>9} {row['teacher'] or '-':>10} {row['labels']:>4} labels, lr {row['lr']:g}: force MAE "
            f"{o['force_mae_mev_per_angstrom']:.1f} RMSE {o['force_rmse_mev_per_angstrom']:.1f} meV/Å, "
            f"energy {o['energy_mae_mev_per_atom']:.2f} meV/atom ({row['train_seconds']:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ff-lc"))
    parser.add_argument("--teachers", default=",".join(TEACHERS))
    parser.add_argument("--teacher-python", default="", help="NAME=PYTHON,... : the interpreter of each teacher's environment")
    parser.add_argument("--labels", default="24,48", help="reference labels for fine-tuning (comma-separated)")
    parser.add_argument("--copies", type=int, default=1, help="rattled copies per pool frame in the synthetic set")
    parser.add_argument("--rattle", type=float, default=0.05, help="Gaussian rattle of the copies (Å)")
    parser.add_argument("--pretrain-epochs", type=int, default=25)
    parser.add_argument("--epochs", type=int, default=80, help="epochs of fine-tuning and of the from-scratch controls")
    parser.add_argument("--finetune-lr", default="0.001", help="fine-tuning learning rate(s), comma-separated")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    teachers = [t for t in args.teachers.split(",") if t]
    unknown = [t for t in teachers if t not in TEACHERS]
    if unknown:
        parser.error(f"unknown teacher(s) {', '.join(unknown)}; known: {', '.join(TEACHERS)}")
    pythons = dict(item.split("=", 1) for item in args.teacher_python.split(",") if "=" in item)

    from ase.io import read, write

    from thermodefect.core.executors import LocalExecutor

    work = args.workdir
    started = time.perf_counter()
    pool, valid, test = lc.build_data(work, 8, 5, 40, args.workers)
    print(f"data: {len(pool)} training pool, {len(valid)} validation, {len(test)} test frames", file=sys.stderr)
    pre = work / "pretrain"
    pre.mkdir(parents=True, exist_ok=True)
    files = {"pool": pre / "geometries.extxyz", "valid": pre / "valid-geometries.extxyz", "test": pre / "test-geometries.extxyz"}
    if not files["pool"].is_file():
        write(str(files["pool"]), _geometries(pool, args.copies, args.rattle, seed=5), format="extxyz")
        write(str(files["valid"]), _geometries(valid, 0, 0.0, seed=0), format="extxyz")
        write(str(files["test"]), _geometries(test, 0, 0.0, seed=0), format="extxyz")
    write(str(work / "valid.extxyz"), valid, format="extxyz")
    write(str(work / "test.extxyz"), test, format="extxyz")
    n_synthetic = len(read(str(files["pool"]), index=":"))

    out = {"workdir": str(work), "reference": "GFN1-xTB (tblite)", "cells": "64-atom cubic GaAs", "defects": list(lc.CELLS),
           "synthetic_set": f"{len(pool)} Albe pool frames + {args.copies} rattle(s) of each (σ = {args.rattle} Å): {n_synthetic} frames",
           "test_set": f"{len(test)} GFN1-xTB-labelled Albe 300 K frames (ff_learning_curve.py's)",
           "base_recipe": {**lc.BASE, "max_num_epochs": args.epochs}, "pretrain_epochs": args.pretrain_epochs,
           "teachers": {}, "rows": []}
    target = RESULTS / "ff_pretrain.json"
    earlier = json.loads(target.read_text()) if target.is_file() else {}
    if earlier.get("workdir") == str(work):
        out["teachers"].update(earlier.get("teachers", {}))
        out["rows"] = [r for r in earlier.get("rows", []) if "overall" in r]
    RESULTS.mkdir(exist_ok=True)

    # Teacher labels (synthetic set, validation and test frames) and the teacher's own force error.
    for teacher in teachers:
        seconds = 0.0
        for role, source in files.items():
            seconds += label_with_teacher(teacher, source, pre / f"{teacher}-{role}.extxyz", pythons.get(teacher))
        test_labels = read(str(pre / f"{teacher}-test.extxyz"), index=":")
        # Labels made by an earlier run keep that run's time.
        seconds = seconds or out["teachers"].get(teacher, {}).get("labelling_seconds", 0.0)
        out["teachers"][teacher] = {"labelling_seconds": seconds,
                                    "vs_reference_on_test": force_errors(test, test_labels)}
        o = out["teachers"][teacher]["vs_reference_on_test"]["overall"]
        print(f"teacher {teacher}: force MAE vs GFN1-xTB {o['force_mae_mev_per_angstrom']:.0f} meV/Å "
              f"(labelling {seconds:.0f} s)", file=sys.stderr, flush=True)
    target.write_text(json.dumps(out, indent=2))

    counts = [min(int(n), len(pool)) for n in args.labels.split(",")]
    for n in counts:
        write(str(work / f"train-{n}.extxyz"), pool[:n], format="extxyz")
    common = {"test_file": str(work / "test.extxyz")}
    scratch_lr = lc.BASE["learning_rate"]
    phase_a = [{"kind": "pretrain", "teacher": t, "labels": 0, "lr": scratch_lr, "out": str(pre / t / "model"),
                "train_file": str(pre / f"{t}-pool.extxyz"), "valid_file": str(pre / f"{t}-valid.extxyz"),
                "options": {**lc.BASE, "max_num_epochs": args.pretrain_epochs, "patience": args.pretrain_epochs}, **common}
               for t in teachers]
    phase_a += [{"kind": "scratch", "teacher": None, "labels": n, "lr": scratch_lr, "out": str(pre / f"scratch-{n}"),
                 "train_file": str(work / f"train-{n}.extxyz"), "valid_file": str(work / "valid.extxyz"),
                 "options": {**lc.BASE, "max_num_epochs": args.epochs, "patience": max(20, args.epochs // 4)}, **common}
                for n in counts]
    rates = [float(x) for x in args.finetune_lr.split(",")]
    phase_b = [{"kind": "finetune", "teacher": t, "labels": n, "lr": lr,
                "out": str(pre / t / (f"finetune-{n}" if lr == 1e-3 else f"finetune-{n}-lr{lr:g}")),
                "train_file": str(work / f"train-{n}.extxyz"), "valid_file": str(work / "valid.extxyz"),
                "options": {**lc.BASE, "max_num_epochs": args.epochs, "patience": max(20, args.epochs // 4),
                            "foundation_model": str(pre / t / "model" / "model.model"),
                            "finetune_learning_rate": lr}, **common}
               for lr in rates for t in teachers for n in counts]
    redo = {(j["kind"], j["teacher"], j["labels"], j["lr"]) for j in phase_a + phase_b}
    out["rows"] = [r for r in out["rows"] if (r["kind"], r["teacher"], r["labels"], r.get("lr")) not in redo]
    with LocalExecutor(args.workers) as executor:
        for phase in (phase_a, phase_b):
            for job, result in executor.map(_train_and_test, phase):
                if isinstance(result, BaseException):
                    print(f"{job['kind']} {job['teacher']} {job['labels']} failed: {result}", file=sys.stderr, flush=True)
                    out["rows"].append({k: job[k] for k in ("kind", "teacher", "labels", "lr")} | {"error": str(result)})
                else:
                    print(_row_line(result), file=sys.stderr, flush=True)
                    out["rows"].append(result)
                out["wall_seconds"] = time.perf_counter() - started
                target.write_text(json.dumps(out, indent=2))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
