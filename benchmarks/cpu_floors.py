"""What one core gives for each kind of work the demo does: the floors under its run time.

    python benchmarks/cpu_floors.py --run demo-run [--epochs 8]

Takes a finished run (its final force-field members and training set, its
64- and 216-atom cells, its production MD frames) and measures on this
machine:

* reference labels: one GFN1-xTB single point of a 64-atom MD frame per
  defect, forces only and with the Hamiltonian, one thread;
* MACE MD: the network's energy and forces of one cell (64 and 216 atoms,
  member 0, one thread), alone and as one of eight copies batched into one
  graph (batching pays only where the step is overhead-bound);
* MACE training throughput: ``--epochs`` epochs of the run's recipe on the
  run's last training set, three members at once, two at once (one process
  and one thread each), and one member with two threads.

Writes benchmarks/results/cpu_floors.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

RESULTS = Path(__file__).parent / "results" / "cpu_floors.json"
TRAIN_SEED = 11


def label_seconds(run: Path) -> dict:
    from ase.io import read

    from thermodefect.reference.registry import get_reference
    from thermodefect.settings import load_settings

    settings = load_settings(run / "config.toml")
    reference = get_reference(settings.reference.hamiltonian)
    out = {}
    for path in sorted((run / "md" / "production-64atoms").glob("*-300K")):
        atoms = read(path, index=-1, format="extxyz")
        row = {}
        for what, hamiltonian in (("forces", False), ("forces_and_hamiltonian", True)):
            started = time.perf_counter()
            reference.label(atoms, hamiltonian=hamiltonian)
            row[what] = time.perf_counter() - started
        out[path.name] = row
        print(f"label {path.name}: {row}", flush=True)
    return out


def md_step_ms(run: Path, copies: int = 8, repeats: int = 10) -> dict:
    import torch
    from ase.io import read
    from mace import data as mace_data
    from mace.calculators import MACECalculator
    from mace.tools import torch_geometric

    torch.set_num_threads(1)
    model_path = sorted((run / "models" / "ff").glob("round-*/model-0.model"))[-1]
    calc = MACECalculator(model_paths=str(model_path), device="cpu", default_dtype="float32")
    model = calc.models[0]
    spec = mace_data.KeySpecification(info_keys=calc.info_keys, arrays_keys=calc.arrays_keys)
    out = {"model": str(model_path.relative_to(run))}
    for cell in sorted((run / "structures").glob("*atoms-pristine.extxyz")):
        atoms = read(cell)
        atoms.rattle(0.05, seed=1)

        def graph():
            config = mace_data.config_from_atoms(atoms, key_specification=spec)
            return mace_data.AtomicData.from_config(config, z_table=calc.z_table, cutoff=calc.r_max, heads=calc.available_heads)

        def timed(n_graphs: int) -> float:
            batch = torch_geometric.Batch.from_data_list([graph() for _ in range(n_graphs)])
            model(batch.to_dict(), compute_stress=False, training=False)  # warm-up
            started = time.perf_counter()
            for _ in range(repeats):
                batch = torch_geometric.Batch.from_data_list([graph() for _ in range(n_graphs)])
                model(batch.to_dict(), compute_stress=False, training=False)
            return (time.perf_counter() - started) / repeats / n_graphs * 1e3

        out[f"{len(atoms)} atoms"] = {"alone_ms": timed(1), f"batched_x{copies}_ms_per_cell": timed(copies)}
        print(f"MD step {len(atoms)} atoms: {out[f'{len(atoms)} atoms']}", flush=True)
    return out


def _member(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, "--member", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def train_member(run: Path, out: Path, threads: int, epochs: int) -> None:
    """One member, in this process (``--member``)."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)
    from thermodefect.forcefield import train_model
    from thermodefect.settings import load_settings

    ff = load_settings(run / "config.toml").forcefield.model_copy(update={"max_num_epochs": epochs, "stage_two": False})
    train_file = sorted((run / "models" / "ff").glob("round-*/train.extxyz"))[-1]
    train_model(ff, train_file, out, seed=TRAIN_SEED, name="model")


def training_throughput(run: Path, epochs: int, workdir: Path) -> dict:
    import shutil

    out = {}
    for name, members, threads in (("three at once, 1 thread each", 3, 1), ("two at once, 1 thread each", 2, 1),
                                   ("one, 2 threads", 1, 2)):
        folders = [workdir / f"{members}x{threads}-{k}" for k in range(members)]
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        started = time.perf_counter()
        procs = [_member([str(run), str(folder), str(threads), str(epochs)]) for folder in folders]
        codes = [p.wait() for p in procs]
        if any(codes):
            sys.exit(f"training failed ({name}): exit codes {codes}; rerun one member with --member to see why")
        wall = time.perf_counter() - started
        out[name] = {"wall_s": wall, "members": members, "seconds_per_member": wall / members}
        print(f"training, {name}: {wall:.1f} s", flush=True)
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--member":
        run, out, threads, epochs = sys.argv[2:6]
        train_member(Path(run), Path(out), int(threads), int(epochs))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/thermodefect-cpu-floors"))
    args = parser.parse_args()
    import platform

    result = {"machine": platform.machine(), "cpu_count": os.cpu_count(), "run": str(args.run),
              "labels_s": label_seconds(args.run), "md_step": md_step_ms(args.run),
              "training": {"epochs": args.epochs, **training_throughput(args.run, args.epochs, args.workdir)}}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
