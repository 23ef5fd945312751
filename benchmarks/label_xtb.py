"""GFN1-xTB labels of 64-atom GaAs cells: time per label and the states near the gap.

Writes benchmarks/results/label_xtb.json. Run with OMP_NUM_THREADS=1:

    python benchmarks/label_xtb.py [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from importlib import resources
from pathlib import Path

import numpy as np
import scipy.linalg

from thermodefect.orbitals import n_orbitals
from thermodefect.reference.xtb import XtbReference
from thermodefect.settings import load_settings
from thermodefect.structures import build_cells, defect_neighbours, rattle

RESULTS = Path(__file__).parent / "results" / "label_xtb.json"
STATES_AROUND_GAP = 4  # eigenvalues listed on each side of the Fermi level


def states_near_gap(sample, localization_sites: list[int]) -> dict:
    """VBM, CBM, gap and the weight of each near-gap state on the given atoms (Mulliken)."""
    h, s = sample.kspace.hamiltonian[0], sample.kspace.overlap[0]
    energies, vectors = scipy.linalg.eigh(h, s)
    n_occupied = int(round(sample.n_electrons)) // 2
    sizes = [n_orbitals(sample.basis[int(z)]) for z in sample.structure.numbers]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    mulliken = vectors * (s @ vectors)  # (n_orb, n_states), columns sum to 1
    rows = np.concatenate([np.arange(offsets[a], offsets[a + 1]) for a in localization_sites]) if localization_sites else []
    states = []
    for k in range(n_occupied - STATES_AROUND_GAP, n_occupied + STATES_AROUND_GAP):
        states.append(
            {
                "index": k,
                "occupied": k < n_occupied,
                "energy_ev": float(energies[k]),
                "weight_on_defect_and_neighbours": float(mulliken[rows, k].sum()) if len(rows) else None,
            }
        )
    vbm, cbm = float(energies[n_occupied - 1]), float(energies[n_occupied])
    return {"vbm_ev": vbm, "cbm_ev": cbm, "gap_ev": cbm - vbm, "states": states}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=2, help="rattled pristine cells timed")
    args = parser.parse_args()
    demo = resources.files("thermodefect.configs").joinpath("demo.toml")
    settings = load_settings(Path(str(demo)))
    cells = build_cells(settings, 64)
    reference = XtbReference({"method": "GFN1-xTB"})
    out: dict = {"machine": platform.processor() or platform.machine(), "method": "GFN1-xTB", "n_atoms": 64}
    out["orbitals_per_element"] = {el: {"irreps": reference.basis(el), "n": n_orbitals(reference.basis(el))} for el in ("Ga", "As")}

    timings = []
    for atoms in rattle(cells["pristine"], args.repeats, 0.05, seed=1):
        start = time.perf_counter()
        reference.label(atoms)
        timings.append(time.perf_counter() - start)
    out["seconds_per_label_rattled_pristine"] = timings

    for name in ("pristine", "As_Ga"):
        atoms = cells[name]
        start = time.perf_counter()
        sample = reference.label(atoms).sample
        seconds = time.perf_counter() - start
        sites = defect_neighbours(atoms) if "defect_site" in atoms.info else []
        out[name] = {"seconds": seconds, "localization_atoms": sites, **states_near_gap(sample, sites)}
        print(f"{name}: {seconds:.1f} s, gap {out[name]['gap_ev']:.3f} eV")
    pristine_vbm = out["pristine"]["vbm_ev"]
    out["As_Ga"]["level_above_pristine_like_vbm_ev"] = [
        s["energy_ev"] - pristine_vbm for s in out["As_Ga"]["states"] if s["occupied"]
    ][-1]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k not in ("pristine", "As_Ga")}, indent=2))
    for name in ("pristine", "As_Ga"):
        for s in out[name]["states"]:
            print(name, s)


if __name__ == "__main__":
    main()
