"""Cost of one MACE force call and one training step against the architecture.

Builds untrained MACE models (mace-torch's ``ScaleShiftMACE``, the class its
trainer builds) for each (max_L, max_ell, correlation) and times, on one
thread, a force call and a training step (forward, force loss, backward) on
a batch of two 64-atom GaAs cells. The weights do not change the cost, so no
training data is needed. Every other setting is the demo's: 32 channels, two
interactions, r_max 5 Å, float32.

    OMP_NUM_THREADS=1 python benchmarks/mace_cost.py [--repeats 10]

Writes benchmarks/results/mace_cost.json. Accuracy of the same choices is in
benchmarks/ff_learning_curve.py (docs/forcefield.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # e3nn's constants file under torch >= 2.6

RESULTS = Path(__file__).parent / "results" / "mace_cost.json"
ARCHITECTURES = [  # (max_L, max_ell, correlation)
    (0, 3, 3), (0, 2, 3), (0, 1, 3), (0, 2, 2), (1, 3, 3), (1, 2, 3), (1, 1, 3),
]


def build(max_l: int, max_ell: int, correlation: int, channels: int, r_max: float):
    import numpy as np
    import torch
    from e3nn import o3
    from mace import modules

    hidden = f"{channels}x0e" + (f"+{channels}x1o" if max_l >= 1 else "")
    block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
    return modules.ScaleShiftMACE(
        r_max=r_max, num_bessel=8, num_polynomial_cutoff=5, max_ell=max_ell, interaction_cls=block,
        interaction_cls_first=block, num_interactions=2, num_elements=2, hidden_irreps=o3.Irreps(hidden),
        MLP_irreps=o3.Irreps("16x0e"), atomic_energies=np.zeros(2), avg_num_neighbors=28.0, atomic_numbers=[31, 33],
        correlation=correlation, gate=torch.nn.functional.silu, atomic_inter_scale=1.0, atomic_inter_shift=0.0)


def milliseconds(call, repeats: int) -> float:
    for _ in range(2):
        call()
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - start) / repeats * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    import torch
    from mace import data, tools
    from mace.tools import torch_geometric

    from thermodefect.settings import Settings
    from thermodefect.structures import build_cells, rattle

    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    settings = Settings.model_validate({"supercells": {"kind": "cubic", "training_atoms": 64, "production_atoms": 64,
                                                       "transfer_atoms": []}, "defects": {"names": ["As_Ga"]}})
    cell = rattle(build_cells(settings, 64)["As_Ga"], 1, 0.05, seed=0)[0]
    z_table = tools.AtomicNumberTable([31, 33])
    graph = data.AtomicData.from_config(data.config_from_atoms(cell), z_table=z_table, cutoff=5.0)
    batch = torch_geometric.Batch.from_data_list([graph, graph]).to_dict()
    rows = []
    for max_l, max_ell, correlation in ARCHITECTURES:
        model = build(max_l, max_ell, correlation, channels=32, r_max=5.0)

        def forces():
            model(dict(batch), training=False, compute_force=True)

        def step():
            out = model(dict(batch), training=True, compute_force=True)
            (out["forces"].pow(2).mean() + out["energy"].pow(2).mean()).backward()

        row = {"max_L": max_l, "max_ell": max_ell, "correlation": correlation,
               "parameters": int(sum(p.numel() for p in model.parameters())),
               "force_call_ms": milliseconds(forces, args.repeats), "training_step_ms": milliseconds(step, args.repeats)}
        rows.append(row)
        print(f"max_L {max_l} max_ell {max_ell} correlation {correlation}: force call {row['force_call_ms']:.0f} ms, "
              f"training step {row['training_step_ms']:.0f} ms (2 cells)", flush=True)
    base = rows[0]
    for row in rows:
        row["force_call_vs_default"] = row["force_call_ms"] / base["force_call_ms"]
        row["training_step_vs_default"] = row["training_step_ms"] / base["training_step_ms"]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({
        "machine": platform.machine(), "torch": torch.__version__, "threads": 1, "batch": "two 64-atom GaAs cells (As_Ga, rattled)",
        "fixed": {"num_channels": 32, "num_interactions": 2, "r_max_angstrom": 5.0, "dtype": "float32"},
        "default_row": "max_L 0, max_ell 3, correlation 3", "rows": rows}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
