"""Hamiltonian-model accuracy on held-out GFN1-xTB cells of all five defects, and its speed.

    python benchmarks/hamiltonian_accuracy.py --label 8                 # label 8 x 6 rattled 64-atom cells once
    python benchmarks/hamiltonian_accuracy.py '{"max_epochs": 60}' --n-test 12 --timing 64 216 512
    python benchmarks/hamiltonian_accuracy.py --model /tmp/thermodefect-ham-accuracy/model --timing 512
    python benchmarks/hamiltonian_accuracy.py '{"max_epochs": 20, "gap_loss_weight": 0.01}' --init MODEL_DIR

The model is the one a run trains: the two-center overlap fitted to atom pairs
in vacuum, the overlap-scaled two-center Hamiltonian baseline fitted on the
training cells, and the e3nn network (demo settings unless overridden: fast
preset, 6 Å cutoff, atom-shell potentials, shift-invariant loss) trained on
the residual. One model, not an ensemble.

Data: rattled 64-atom cubic GaAs cells -- pristine and As_i, Ga_i, V_As,
V_Ga, As_Ga (the default config's defects) -- with σ = 0.05, 0.075, 0.1 Å in
turn (thermal amplitudes at ~100-500 K), labelled with the default reference
and stored in ``--dataset`` (HDF5, reused). ``--n-test`` samples
(spread evenly over the defects) are held out; the rest train.

On the held-out cells, against the reference: Γ matrix-element MAE (meV;
onsite, hopping, per defect), eigenvalue MAE of the 30 bands nearest the gap
(as is and with the cell's mean offset removed), band gap and defect-level
errors from the predicted H *and* S, as a run computes them: defect cells
aligned to the held-out pristine cells of the same rattle amplitude
(``--cell-edges``: from their own states). ``--timing``
times prediction (H + S + gap and levels) per cell size and, for sizes up to
``--reference-max-atoms``, the reference on the same structure in the same
process. Each run appends one line (``--name``) to
benchmarks/results/hamiltonian_accuracy.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

RESULTS = Path(__file__).parent / "results" / "hamiltonian_accuracy.jsonl"
CONFIGS = Path(__file__).parents[1] / "src" / "thermodefect" / "configs"
MILLI = 1e3


def label(dataset_path: Path, repeats: int) -> None:
    """``repeats`` rattled copies of every default-config cell (pristine + 5 defects), appended."""
    from thermodefect.data.hamiltonians import HamiltonianDataset
    from thermodefect.reference.registry import get_reference
    from thermodefect.settings import ReferenceSettings, load_settings
    from thermodefect.structures import build_cells

    settings = load_settings(CONFIGS / "default.toml")
    settings = settings.model_copy(update={"supercells": settings.supercells.model_copy(update={"kind": "cubic"})})
    cells = build_cells(settings, 64)
    reference = get_reference(ReferenceSettings())
    dataset = HamiltonianDataset(dataset_path)
    k = 0
    for rep in range(repeats):
        sigma_angstrom = 0.05 + 0.025 * (rep % 3)
        for name, atoms in cells.items():
            rattled = atoms.copy()
            rattled.rattle(sigma_angstrom, seed=2000 + k)
            started = time.perf_counter()
            sample = reference.label(rattled, hamiltonian=True).sample
            sample.metadata.update(defect=name, rattle_angstrom=sigma_angstrom,
                                   **{key: atoms.info[key] for key in ("defect_site", "defect_index") if key in atoms.info})
            dataset.append(sample)
            k += 1
            print(f"labelled {k}: {name}, σ = {sigma_angstrom:.3f} Å, {time.perf_counter() - started:.1f} s", flush=True)


def _interleaved_amplitudes(dataset, keys: list[str]) -> list[str]:
    """``keys`` in content-hash order within each rattle amplitude, amplitudes taken in turn."""
    by_amplitude = defaultdict(list)
    for key in sorted(keys):
        by_amplitude[dataset.metadata(key).get("rattle_angstrom")].append(key)
    queues = [items for _, items in sorted(by_amplitude.items(), key=lambda kv: kv[0] or 0)]
    out = []
    while any(queues):
        out += [q.pop(0) for q in queues if q]
    return out


def stratified_split(dataset, n_test: int) -> tuple[list[str], list[str]]:
    """Held-out keys: ``n_test`` spread evenly over the defects and, within each defect, over the
    rattle amplitudes (content-hash order within an amplitude), the rest for training."""
    by_defect = defaultdict(list)
    for key in dataset.keys():
        meta = dataset.metadata(key)
        by_defect[str(meta.get("defect"))].append(key)
    groups = [_interleaved_amplitudes(dataset, items) for _, items in sorted(by_defect.items())]
    test = []
    while len(test) < n_test and any(groups):
        for items in groups:
            if items and len(test) < n_test:
                test.append(items.pop(0))
    held = set(test)
    return [k for k in dataset.keys() if k not in held], test


def overlap_model(workdir: Path, basis: dict[int, str], cutoff_angstrom: float, workers: int = 1):
    """The two-center overlap fitted to tblite atom pairs on ``workers`` processes (cached in ``workdir``)."""
    from thermodefect.hamiltonian.two_center import TwoCenterModel, fit_overlap_from_pairs
    from thermodefect.reference.registry import get_reference
    from thermodefect.settings import ReferenceSettings

    path = workdir / "two_center_overlap.json"
    if path.exists():
        return TwoCenterModel.load(path), None
    started = time.perf_counter()
    model = fit_overlap_from_pairs(get_reference(ReferenceSettings()), basis, cutoff_angstrom, workers=workers)
    seconds = time.perf_counter() - started
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return model, seconds


def compare(sample, ham, overlap, electronic, hosts=None, results=None) -> dict:
    """Gap, level and eigenvalue errors of the model's H and S against one reference sample.

    ``hosts``: (reference, model) pristine host references for aligned band edges of a defect
    cell; ``results`` (a list) receives the (reference, model) GapResults.
    """
    from thermodefect.electronic.analysis import analyze_operators, analyze_sample
    from thermodefect.hamiltonian import predict
    from thermodefect.workflow.rundata import atoms_of_sample
    from thermodefect.workflow.comparison import eigenvalue_errors, gap_and_level_errors

    ref_host, model_host = hosts or (None, None)
    atoms = atoms_of_sample(sample)
    reference = analyze_sample(sample, atoms, electronic, host=ref_host)
    h_op = predict(ham, [atoms])[0]
    s_op = overlap.operator(sample.structure)
    predicted = analyze_operators(h_op, s_op, sample.n_electrons, atoms, electronic, host=model_host)
    if results is not None:
        results.append((reference, predicted))
    return {
        "defect": sample.metadata.get("defect"),
        "rattle_angstrom": sample.metadata.get("rattle_angstrom"),
        "edges": reference.edges,
        "reference_gap_ev": reference.gap_ev,
        "reference_level_electrons": [lv.electrons for lv in reference.levels],
        "reference_conduction_electrons": reference.conduction_electrons,
        "model_conduction_electrons": predicted.conduction_electrons,
        **gap_and_level_errors(reference, predicted),
        "reference_levels_ev": [lv.above_vbm_ev for lv in reference.levels],
        "model_levels_ev": [lv.above_vbm_ev for lv in predicted.levels],
        **eigenvalue_errors(sample, h_op, s_op, electronic),
    }


def compare_all(test: list, ham, overlap, electronic, aligned: bool) -> list[dict]:
    """:func:`compare` of every held-out cell; with ``aligned`` the defect cells take their band edges
    from the held-out pristine cells of the same rattle amplitude (all of them where none has it), each
    side from its own analysis of those cells, as the pipeline does per temperature."""
    from thermodefect.electronic.levels import HostReference

    pristine = [s for s in test if s.metadata.get("defect") == "pristine"]
    rows, by_amplitude = [], defaultdict(list)
    for s in pristine:
        results = []
        rows.append(compare(s, ham, overlap, electronic, results=results))
        by_amplitude[s.metadata.get("rattle_angstrom")].append(results[0])
    def hosts_for(amplitude):
        chosen = by_amplitude.get(amplitude) or [r for rs in by_amplitude.values() for r in rs]
        return tuple(HostReference.from_results([r[side] for r in chosen]) for side in (0, 1))
    for s in test:
        if s.metadata.get("defect") != "pristine":
            hosts = hosts_for(s.metadata.get("rattle_angstrom")) if aligned and pristine else None
            rows.append(compare(s, ham, overlap, electronic, hosts))
    return rows


def per_defect(rows: list[dict]) -> dict[str, dict]:
    import numpy as np

    groups = defaultdict(list)
    for r in rows:
        groups[r["defect"]].append(r)
    out = {}
    for defect, members in groups.items():
        levels = [e for m in members for e in m["level_errors_mev"]]
        own = [m["gap_error_mev"] for m in members if m["edges"] != "aligned"]
        out[defect] = {
            "n": len(members),
            # An aligned defect cell's gap is its pristine host's (edges taken from the pristine cells),
            # so it is no error of the defect cell: only cells with their own edges count.
            "gap_mae_mev": float(np.mean(own)) if own else None,
            "gap": "own band edges" if own else "host gap (edges aligned to the pristine cells)",
            "level_mae_mev": float(np.mean(levels)) if levels else None,
            "levels_found": f"{sum(len(m['model_levels_ev']) for m in members)} model / "
                            f"{sum(len(m['reference_levels_ev']) for m in members)} reference",
            "eigenvalue_mae_mev": float(np.mean([m["eigenvalue_mae_mev"] for m in members])),
            "eigenvalue_mae_aligned_mev": float(np.mean([m["eigenvalue_mae_aligned_mev"] for m in members])),
        }
    return out


def _mean_or_none(values: list[float]) -> float | None:
    import numpy as np

    return float(np.mean(values)) if values else None


def timing(ham, overlap, sizes: list[int], reference_max_atoms: int, electronic) -> dict[str, dict]:
    """Seconds per structure: model (H + S + gap and levels) and, side by side, the reference."""
    from thermodefect.electronic.analysis import analyze_operators
    from thermodefect.hamiltonian import predict
    from thermodefect.reference.registry import get_reference
    from thermodefect.settings import ReferenceSettings
    from thermodefect.structures import pristine_supercell, rattle

    out = {}
    for n in sizes:
        atoms = rattle(pristine_supercell("Ga", "As", 5.65, n, "cubic"), 1, 0.05, seed=n)[0]
        started = time.perf_counter()
        h_op = predict(ham, [atoms])[0]
        s_op = overlap.operator(h_op.structure)
        result = analyze_operators(h_op, s_op, 4.0 * n, atoms, electronic)
        row = {"model_seconds": time.perf_counter() - started, "model_gap_ev": result.gap_ev,
               "solver": result.solver}
        if n <= reference_max_atoms:
            started = time.perf_counter()
            get_reference(ReferenceSettings()).label(atoms, hamiltonian=True)
            row["reference_seconds"] = time.perf_counter() - started
            row["reference_over_model"] = row["reference_seconds"] / row["model_seconds"]
        out[str(n)] = row
        print(f"timing {n} atoms: {json.dumps(row)}", flush=True)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("settings", nargs="?", default="{}", help="JSON of HamiltonianModelSettings overrides.")
    parser.add_argument("--dataset", type=Path, default=Path("/tmp/hamdata/gaas64_defects.h5"))
    parser.add_argument("--label", type=int, default=0, help="Label this many repeats of (pristine + 5 defects) first.")
    parser.add_argument("--n-test", type=int, default=12, help="Held-out samples, spread over the defects.")
    parser.add_argument("--n-train", type=int, default=0, help="Training samples (default: all others).")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timing", type=int, nargs="*", default=[], help="Cell sizes whose prediction is timed.")
    parser.add_argument("--reference-max-atoms", type=int, default=216, help="Largest size also timed with the reference.")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/thermodefect-ham-accuracy"))
    parser.add_argument("--name", default="", help="Label of the run in the results file.")
    parser.add_argument("--model", type=Path, help="Evaluate this saved model (trained here before) instead of training.")
    parser.add_argument("--init", type=Path,
                        help="Continue training this saved model (trained here before; its baseline and normalisation kept) "
                             "with the settings' training options, instead of training from scratch.")
    parser.add_argument("--cell-edges", action="store_true",
                        help="Band edges of defect cells from their own states (electronic.band_edges = 'cell') instead of pristine-aligned.")
    args = parser.parse_args(argv)
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    if args.label:
        args.dataset.parent.mkdir(parents=True, exist_ok=True)
        label(args.dataset, args.label)
    from thermodefect.data.hamiltonians import HamiltonianDataset
    from thermodefect.hamiltonian import evaluate, train_model
    from thermodefect.hamiltonian.two_center import ScaledTwoCenterModel, atoms_per_sample_for
    from thermodefect.settings import ElectronicSettings, load_settings

    demo = load_settings(CONFIGS / "demo.toml").hamiltonian
    overrides = json.loads(args.settings)
    settings = demo.model_copy(update={"patience": 10_000, **overrides})
    settings = type(settings).model_validate(settings.model_dump())
    electronic = ElectronicSettings()
    dataset = HamiltonianDataset(args.dataset)
    train_keys, test_keys = stratified_split(dataset, args.n_test)
    train = [dataset[k] for k in train_keys[:args.n_train or None]]
    test = [dataset[k] for k in test_keys]
    print(f"{len(train)} training and {len(test)} held-out cells", flush=True)

    overlap, overlap_seconds = overlap_model(args.workdir, train[0].basis, settings.two_center_cutoff_angstrom,
                                              workers=max(1, args.threads))
    if args.model:  # a model this script trained before: evaluate and time it again
        from thermodefect.hamiltonian import load_model

        ham = load_model(args.model)
        history = json.loads((args.model / "training.json").read_text())
        baseline_fit, baseline_seconds = ham.two_center.fit_info, None
        train_seconds = history["seconds_per_epoch"] * history["epochs_run"]
        epochs, seconds_per_epoch = history["epochs_run"], history["seconds_per_epoch"]
        final_loss = history["history"][-1]["train_loss"]
    else:
        initial = None
        if args.init:
            from thermodefect.hamiltonian import load_model

            initial = load_model(args.init)
            baseline, baseline_fit, baseline_seconds = None, initial.two_center.fit_info, None
        else:
            started = time.perf_counter()
            baseline = ScaledTwoCenterModel(overlap)
            baseline_fit = baseline.fit(train, atoms_per_sample=atoms_per_sample_for(len(train)))
            baseline_seconds = time.perf_counter() - started
        started = time.perf_counter()
        result = train_model(train, [], settings, args.workdir / "model", seed=0, progress=False, baseline=baseline,
                             initial=initial)
        train_seconds = time.perf_counter() - started
        ham, epochs, seconds_per_epoch = result.model, result.epochs_run, result.seconds_per_epoch
        final_loss = result.history[-1]["train_loss"]
    print(f"model: {epochs} epochs, {train_seconds:.0f} s of training", flush=True)
    metrics = evaluate(ham, test, bands_near_gap=electronic.bands_near_gap)
    rows = compare_all(test, ham, overlap, electronic, aligned=not args.cell_edges)
    levels = [e for r in rows for e in r["level_errors_mev"]]
    row = {
        "name": args.name, "settings": overrides, "band_edges": "cell" if args.cell_edges else "aligned", "n_train": len(train), "n_test": len(test),
        "threads": args.threads, "torch": torch.__version__, "machine": platform.machine(),
        "overlap_fit_seconds": overlap_seconds, "overlap_fit": overlap.fit_info,
        "baseline_fit_seconds": baseline_seconds, "baseline_fit_mae_mev": baseline_fit["mae"] * MILLI,
        "model": str(args.model) if args.model else None, "initial_model": str(args.init) if args.init else None,
        "train_seconds": train_seconds, "epochs": epochs, "seconds_per_epoch": seconds_per_epoch,
        "final_train_loss": final_loss, "potential_offset_ev": float(ham.potential_offset),
        "test": metrics,
        "summary": {
            "hamiltonian_mae_mev": metrics["mae"],
            "eigenvalue_mae_mev": float(np.mean([r["eigenvalue_mae_mev"] for r in rows])),
            "eigenvalue_mae_aligned_mev": float(np.mean([r["eigenvalue_mae_aligned_mev"] for r in rows])),
            "gap_mae_mev": _mean_or_none([r["gap_error_mev"] for r in rows if r["edges"] != "aligned"]),
            "gap_cells": "cells with their own band edges (aligned defect cells carry the pristine gap)",
            "level_mae_mev": float(np.mean(levels)) if levels else None,
        },
        "per_defect": per_defect(rows),
        "test_cells": rows,
    }
    if args.timing:
        row["timing"] = timing(ham, overlap, args.timing, args.reference_max_atoms, electronic)
    print(json.dumps({k: row[k] for k in ("summary", "per_defect")}, indent=1))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as handle:
        handle.write(json.dumps(row, default=float) + "\n")


if __name__ == "__main__":
    sys.exit(main())
