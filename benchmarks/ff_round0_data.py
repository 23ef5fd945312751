"""Round-0 force-field data: uncorrelated rattles against thermal frames of the Albe potential.

Takes a finished run (e.g. ``make demo``'s ``demo-run``). Its round-0
training set is ``labelling.rattled_per_defect`` Gaussian rattles per cell;
the alternative here is the same number of thermal frames from Albe
bond-order-potential NVT MD (half at the lowest, half at the highest
training temperature, frames 80 fs apart), labelled by the run's reference.
Two more sets weigh the rattles against frames of the model's own MD: the
run's active-learning selections plus the production-MD frames its
Hamiltonian loop labelled (forces come with those labels), with and without
the rattles.
One MACE model per training set, with the run's ``[forcefield]`` recipe, is
tested on the run's own test sets: the published one (MD of the final
model at the test temperature, ``ff_final_test_set.extxyz``) and the fixed
one (``ff_test_set.extxyz``, frames with force RMS > 1 eV/Å left out). The
run's own member 0 of rounds 0 and 1 is tested the same way, and two cheaper
architectures (r_max 4.4 Å; one interaction) are trained on the largest set.

    python benchmarks/ff_round0_data.py --run demo-run [--workdir /tmp/ff-round0]

Writes benchmarks/results/ff_round0_data.json; MD, labels and models in
``--workdir`` are reused by a rerun.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "ff_round0_data.json"
SPACING_STEPS = 40
ARCHITECTURES = {"r4.4": {"r_max_angstrom": 4.4}, "int1": {"num_interactions": 1}}  # vs the run's [forcefield]
MAX_TEST_FORCE_RMS = 1.0  # eV/Å: a fixed-test frame beyond this is a broken configuration of the round-0 model's MD


def _albe_md(job: tuple) -> int:
    """One Albe NVT run (module level: runs in a worker process); resumes from its checkpoint."""
    cell_file, temperature_k, seed, n_frames, path = job
    from ase.io import read

    from thermodefect.dynamics import run_nvt
    from thermodefect.potentials.albe import AlbeGaAs
    from thermodefect.settings import MDSettings

    md = MDSettings(thermostat="langevin", timestep_fs=2.0, friction_per_fs=0.01, equilibration_steps=100,
                    production_steps=n_frames * SPACING_STEPS, sample_interval=SPACING_STEPS)
    return len(run_nvt(read(cell_file), AlbeGaAs(), temperature_k, md, seed, path, progress=False).frames)


def _train(job: tuple) -> str:
    config, train_file, out, update = job
    from thermodefect.forcefield import train_model
    from thermodefect.settings import load_settings

    out = Path(out)
    if not (out / "model.model").is_file():
        started = time.perf_counter()
        train_model(load_settings(config).forcefield.model_copy(update=update), train_file, out, seed=11, name="model")
        (out / "seconds").write_text(str(time.perf_counter() - started))
    return str(out / "model.model")


def test_errors(model: Path, run: Path) -> dict:
    import numpy as np
    from ase.io import read

    from thermodefect.forcefield import ForceFieldEnsemble
    from thermodefect.forcefield.metrics import force_field_errors

    out = {}
    for name, path in (("final_test", run / "results" / "ff_final_test_set.extxyz"), ("fixed_test", run / "results" / "ff_test_set.extxyz")):
        frames = [a for a in read(path, ":") if np.sqrt(np.mean(a.arrays["REF_forces"] ** 2)) < MAX_TEST_FORCE_RMS]
        errors = force_field_errors(ForceFieldEnsemble([model]), frames)
        errors.pop("parity")
        out[name] = errors
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ff-round0"))
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    from ase.io import read, write

    from thermodefect.core import keys
    from thermodefect.core.executors import LocalExecutor
    from thermodefect.core.keys import structure_key
    from thermodefect.core.rundir import RunDirectory
    from thermodefect.data.forces import KEY_INFO, ForcesDataset
    from thermodefect.dynamics.nvt import read_frames
    from thermodefect.reference.labelling import label_structures
    from thermodefect.settings import load_settings

    config = args.run / "config.toml"
    s = load_settings(config)
    work = args.workdir
    (work / "md").mkdir(parents=True, exist_ok=True)
    n = s.supercells.training_atoms
    cells = (["pristine"] if s.defects.include_pristine else []) + list(s.defects.names)
    temperatures = (min(s.temperatures.training_k), max(s.temperatures.training_k))
    per_run = max(1, s.labelling.rattled_per_defect // 2)
    jobs = [(str(args.run / "structures" / f"{n}atoms-{name}.extxyz"), t, 50 + 7 * i + int(t), per_run,
             work / "md" / f"{name}-{t:.0f}.extxyz") for i, name in enumerate(cells) for t in temperatures]
    started = time.perf_counter()
    with LocalExecutor(s.compute.workers) as executor:
        for job, result in executor.map(_albe_md, jobs):
            if isinstance(result, BaseException):
                sys.exit(f"Albe MD of {job[0]} at {job[1]:.0f} K failed: {result}")
    md_seconds = time.perf_counter() - started

    frames = []
    for cell_file, t, _, _, path in jobs:
        template = read(cell_file)
        for frame in read_frames(path):
            atoms = template.copy()
            atoms.positions = frame.positions
            atoms.info.update({keys.TEMPERATURE_K: t, keys.CONFIG_TYPE: "albe-md"})
            frames.append(atoms)
    started = time.perf_counter()
    labels = RunDirectory(work / "run")
    with LocalExecutor(s.compute.workers) as executor:
        label_structures(frames, s.reference, labels, what=("forces",), executor=executor)
    label_seconds = time.perf_counter() - started
    labelled = {f.info[KEY_INFO]: f for f in ForcesDataset(labels.forces_dataset).read()}
    thermal = [labelled[structure_key(a)] for a in frames if structure_key(a) in labelled]
    round1 = read(args.run / "models" / "ff" / "round-1" / "train.extxyz", ":")
    selected = round1[len(cells) * s.labelling.rattled_per_defect:]
    # Production-MD frames the Hamiltonian loop labelled (same reference: forces come with them).
    production = [a for a in read(args.run / "data" / "forces.extxyz", ":") if a.info.get(keys.CONFIG_TYPE) == "md"]
    mixed = f"r1+md{len(production)}"
    sets = {f"albe{len(thermal)}": thermal, f"albe{len(thermal)}+al{len(selected)}": thermal + selected,
            f"al{len(selected)}+md{len(production)}": selected + production, mixed: round1 + production}
    train_jobs = []
    for name, data in sets.items():
        write(work / f"{name}.extxyz", data, format="extxyz")
        train_jobs.append((str(config), str(work / f"{name}.extxyz"), str(work / "models" / name), {}))
    # Cheaper architectures on the largest set: do they buy speed at no cost in accuracy?
    for name, update in ARCHITECTURES.items():
        train_jobs.append((str(config), str(work / f"{mixed}.extxyz"), str(work / "models" / f"{mixed}_{name}"), update))
    out = {"run": str(args.run), "albe_md_seconds": md_seconds, "label_seconds": label_seconds,
           "training_sets": {k: len(v) for k, v in sets.items()}, "rows": {}}
    for round_index in (0, 1):
        model = args.run / "models" / "ff" / f"round-{round_index}" / "model-0.model"
        out["rows"][f"run round {round_index}, member 0"] = test_errors(model, args.run)
    out["architectures"] = ARCHITECTURES
    with LocalExecutor(s.compute.workers) as executor:
        for job, model in executor.map(_train, train_jobs):
            if isinstance(model, BaseException):
                sys.exit(f"training on {job[1]} failed: {model}")
            name = Path(job[2]).name
            out["rows"][name] = {**test_errors(Path(model), args.run),
                                 "train_seconds": float((Path(job[2]) / "seconds").read_text())}
    for name, row in out["rows"].items():
        final = row["final_test"]["overall"]
        print(f"{name:>26}: final test force MAE {final['force_mae_mev_per_angstrom']:.1f} meV/Å, "
              f"energy {final['energy_mae_mev_per_atom']:.2f} meV/atom")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
