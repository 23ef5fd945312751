"""Hamiltonian recipe variants judged where a run's results live: gap and levels on held-out MD snapshots.

Takes a finished run (e.g. ``make demo``'s ``demo-run``): its Hamiltonian
training keys, its two-center overlap, and the snapshots its ``validation``
stage labelled with the reference. Each variant changes ``[hamiltonian]``
options of the run's config, trains ``--members`` members on the run's final
training set (at once, one thread each), and analyses every held-out
snapshot with the members' mean and the run's overlap, exactly as the
validation stage does: defect cells aligned to the pristine snapshots of the
same temperature, each side to its own. Rows: gap, VBM and level MAE per
defect (meV) and the As_Ga levels of both sides.

    python benchmarks/hamiltonian_recipe_variants.py --run demo-run \\
        'lr1e-2={"learning_rate": 0.01}' 'ep40={"max_epochs": 40, "patience": 40}'

A variant is ``name={json of [hamiltonian] options}``; ``name`` alone means
the run's own recipe. Writes benchmarks/results/hamiltonian_recipe_variants.json
(or ``--results FILE``; rows of earlier variants kept; a finished variant's
models are reused).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "hamiltonian_recipe_variants.json"


def parse_variant(text: str) -> tuple[str, dict]:
    name, _, spec = text.partition("=")
    return name, (json.loads(spec) if spec else {})


def held_out_keys(dataset, split: dict) -> list[str]:
    """Reference-labelled validation snapshots that are neither training nor test structures."""
    used = set(split["training"]) | set(split["test"])
    return [k for k in dataset.keys() if dataset.metadata(k).get("config_type") == "validation" and k not in used]


def evaluate(settings, dataset, keys, model, overlap, valence) -> list[dict]:
    """The validation stage's comparison rows for ``keys`` (model = ``model`` with the run's overlap)."""
    from thermodefect.electronic.analysis import analyze_operators, analyze_sample
    from thermodefect.electronic.levels import HostReference, realign
    from thermodefect.hamiltonian import predict
    from thermodefect.hamiltonian.recipe import model_sample
    from thermodefect.workflow.rundata import atoms_of_sample
    from thermodefect.workflow.snapshots import electron_count
    from thermodefect.workflow.steps.validation import _side, compare_snapshot

    by_temperature = defaultdict(list)
    for k in keys:
        sample = dataset[k]
        atoms = atoms_of_sample(sample)
        reference = analyze_sample(model_sample(settings.hamiltonian, sample), atoms, settings.electronic)
        h = predict(model, [atoms])[0]
        s = predict(overlap, [atoms])[0] if overlap is not None else None
        predicted = analyze_operators(h, s, electron_count(atoms, valence), atoms, settings.electronic)
        by_temperature[dataset.metadata(k)["temperature_k"]].append((k, dataset.metadata(k)["defect"], atoms, reference, predicted))
    rows = []
    tolerance = settings.electronic.degeneracy_tolerance_ev
    for t, items in sorted(by_temperature.items()):
        pristine = [(r, m) for _, d, _, r, m in items if d == "pristine"]
        hosts = (HostReference.from_results([r for r, _ in pristine]), HostReference.from_results([m for _, m in pristine])) if pristine else None
        for k, defect, atoms, r, m in items:
            if defect != "pristine" and hosts is not None:
                r, m = realign(r, hosts[0], tolerance), realign(m, hosts[1], tolerance)
            rows.append(compare_snapshot(_side(r), _side(m), defect=defect, temperature_k=t, cell_atoms=len(atoms), frame=k))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a finished run directory (validation stage done)")
    parser.add_argument("--members", type=int, default=2, help="ensemble members per variant (at least 2)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ham-variants"))
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON file to write (rows of earlier variants kept)")
    parser.add_argument("variants", nargs="+", help='name={"option": value, ...} of [hamiltonian]')
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    from thermodefect.core.rundir import RunDirectory
    from thermodefect.data.hamiltonians import HamiltonianDataset
    from thermodefect.hamiltonian.recipe import HamiltonianRecipe, load_overlap, load_predictor
    from thermodefect.reference.registry import get_reference
    from thermodefect.settings import load_settings
    from thermodefect.workflow.snapshots import valence_electrons
    from thermodefect.workflow.steps.validation import per_defect

    settings = load_settings(args.run / "config.toml")
    run = RunDirectory(args.run)
    dataset = HamiltonianDataset(run.hamiltonian_dataset)
    split = json.loads(run.training_keys.read_text())
    keys = held_out_keys(dataset, split)
    if not keys:
        sys.exit(f"{args.run}: no held-out validation snapshots (run the validation stage first)")
    overlap = load_overlap(run.two_center_overlap) if run.two_center_overlap.is_file() else None
    valence = valence_electrons([dataset[k] for k in split["training"] + keys])
    results = args.results
    out = json.loads(results.read_text()) if results.is_file() else {}
    out.update({"run": str(args.run), "training_structures": len(split["training"]), "held_out_snapshots": len(keys),
                "members": args.members, "variants": out.get("variants", {})})
    for text in args.variants:
        name, spec = parse_variant(text)
        ham = settings.hamiltonian.model_copy(update=spec)
        directory = args.workdir / name
        recipe = HamiltonianRecipe(ham, settings.run.seed, reference=lambda: get_reference(settings.reference.hamiltonian),
                                   workers=settings.compute.workers)
        recipe.train_hamiltonian(dataset, split["training"], directory, run.two_center_overlap, size=args.members)
        logs = [json.loads((directory / f"member-{k}" / "training.json").read_text()) for k in range(args.members)]
        # Members train at once (one process each), so the slowest one is the wall time.
        seconds = max(log["seconds_per_epoch"] * log["epochs_run"] for log in logs)
        rows = evaluate(settings, dataset, keys, load_predictor(directory), overlap, valence)
        out["variants"][name] = {
            "options": spec, "train_seconds": seconds, "epochs_run": [log["epochs_run"] for log in logs],
            "per_defect": {r["defect"]: {q: r[q] for q in ("n_snapshots", "gap_mae_mev", "vbm_mae_mev", "level_mae_mev", "missing_levels")}
                           for r in per_defect(rows)},
            "As_Ga_levels_above_vbm_ev": [
                {"temperature_k": r["temperature_k"], "reference": [lv["above_vbm_ev"] for lv in r["reference"]["levels"]],
                 "model": [lv["above_vbm_ev"] for lv in r["model"]["levels"]]} for r in rows if r["defect"] == "As_Ga"],
        }
        summary = out["variants"][name]["per_defect"]
        print(f"{name}: {seconds:.0f} s; " + "; ".join(
            f"{d} gap {v['gap_mae_mev']:.1f}" + (f" level {v['level_mae_mev']:.1f}" if v["level_mae_mev"] is not None else "")
            for d, v in summary.items()) + " meV", flush=True)
        results.parent.mkdir(exist_ok=True)
        results.write_text(json.dumps(out, indent=2))
    print(f"wrote {results}")


if __name__ == "__main__":
    main()
