"""Force-field AL rounds after the first: train from scratch, or continue from the previous round's model?

Takes a finished run (e.g. ``make demo``'s ``demo-run``) with at least two
force-field rounds. Its last round trained every member from scratch for
``forcefield.max_num_epochs`` on all labels. The alternative is mace-torch's
naive fine-tuning of the previous round's member 0 (its weights and E0s)
on the same labels for fewer epochs. Each variant trains one model (seed
11) and is tested, with the run's own members, on the
run's two test sets: the published one (MD of the final model at the test
temperature, ``ff_final_test_set.extxyz``) and the fixed one
(``ff_test_set.extxyz``, frames with force RMS > 1 eV/Å left out).

    python benchmarks/ff_warm_start.py --run demo-run [--workdir /tmp/ff-warm] \
        'warm20={"epochs": 20}' 'warm20-lr1e-2={"epochs": 20, "learning_rate": 0.01}'

A variant is ``name={"epochs": N, "learning_rate": LR, "scratch": false}``;
``scratch: true`` trains from scratch with that epoch count instead.
Writes benchmarks/results/ff_warm_start.json; models in ``--workdir`` are
reused by a rerun.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "ff_warm_start.json"
SEED = 11
DEFAULT_VARIANTS = ['warm20={"epochs": 20}', 'warm20-lr1e-2={"epochs": 20, "learning_rate": 0.01}']


def _train(job: tuple) -> str:
    config, train_file, out, seed, variant, start = job
    from thermodefect.forcefield import train_model
    from thermodefect.settings import load_settings

    out = Path(out)
    if not (out / "model.model").is_file():
        ff = load_settings(config).forcefield
        update = {"max_num_epochs": int(variant["epochs"])}
        if variant.get("scratch"):
            update["learning_rate"] = variant.get("learning_rate", ff.learning_rate)
        else:
            update.update(foundation_model=start, finetune_learning_rate=variant.get("learning_rate", ff.finetune_learning_rate),
                          replay_file=None)
            if ff.e0s == "average":
                update["e0s"] = "foundation"
        started = time.perf_counter()
        train_model(ff.model_copy(update=update), train_file, out, seed=seed, name="model")
        (out / "seconds").write_text(str(time.perf_counter() - started))
    return str(out / "model.model")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ff-warm"))
    parser.add_argument("variants", nargs="*", default=DEFAULT_VARIANTS)
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    from thermodefect.core.executors import LocalExecutor
    from thermodefect.settings import load_settings

    sys.path.insert(0, str(Path(__file__).parent))
    from ff_round0_data import test_errors

    config = args.run / "config.toml"
    s = load_settings(config)
    rounds = sorted(int(p.name.split("-")[1]) for p in (args.run / "models" / "ff").glob("round-*") if (p / "model-0.model").is_file())
    if len(rounds) < 2:
        sys.exit(f"{args.run}: needs two trained force-field rounds, found {len(rounds)}")
    last = args.run / "models" / "ff" / f"round-{rounds[-1]}"
    previous = args.run / "models" / "ff" / f"round-{rounds[-2]}"
    summary = json.loads((args.run / "results" / "ff_al_summary.json").read_text())
    jobs = []
    for spec in args.variants:
        name, _, body = spec.partition("=")
        variant = json.loads(body)
        jobs.append((str(config), str(last / "train.extxyz"), str(args.workdir / name), SEED, variant,
                     str(previous / "model-0.model")))
    out = {"run": str(args.run), "round": rounds[-1], "labels": sum(1 for _ in open(last / "train.extxyz") if _.strip().isdigit()),
           "recipe": {"max_num_epochs": s.forcefield.max_num_epochs, "learning_rate": s.forcefield.learning_rate},
           "run_final_test": summary.get("final_test", {}).get("test", {}).get("overall"), "rows": {}}
    for k in range(s.forcefield.ensemble_size):
        model = last / f"model-{k}.model"
        if model.is_file():
            out["rows"][f"run member {k} (scratch, {s.forcefield.max_num_epochs} epochs)"] = test_errors(model, args.run)
    with LocalExecutor(s.compute.workers) as executor:
        for job, model in executor.map(_train, jobs):
            if isinstance(model, BaseException):
                sys.exit(f"training {Path(job[2]).name} failed: {model}")
            out["rows"][Path(job[2]).name] = {**test_errors(Path(model), args.run), "variant": job[4],
                                              "train_seconds": float((Path(job[2]) / "seconds").read_text())}
    for name, row in out["rows"].items():
        final, fixed = row["final_test"]["overall"], row["fixed_test"]["overall"]
        print(f"{name:>40}: force MAE final test {final['force_mae_mev_per_angstrom']:.1f}, fixed {fixed['force_mae_mev_per_angstrom']:.1f} meV/Å; "
              f"energy {final['energy_mae_mev_per_atom']:.2f} meV/atom; {row.get('train_seconds', float('nan')):.0f} s")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
