"""Validation of MACE dynamics against the reference (the paper's Fig. 2c,d).

The same 64-atom GaAs cell, temperature, thermostat and seed are run with a
MACE model trained on reference labels and with the reference itself; VDOS
and partial RDFs are compared by ``vdos_overlap`` (∫ min(p, q) dν, 1 =
identical) and ``max_r |Δg(r)|``. The reference here is the Albe potential
(reference MD with xtb costs ~10 s per step on 2 cores).

    python benchmarks/md_validation.py [--steps 2000] [--temperature 300]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from ff_common import RESULTS, albe_trained_mace, gaas_cell


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--temperature", type=float, default=300.0)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    from thermodefect.dynamics import rdf, rdf_max_difference, run_nvt, vdos, vdos_overlap
    from thermodefect.forcefield import ForceFieldEnsemble
    from thermodefect.potentials.albe import AlbeGaAs
    from thermodefect.settings import MDSettings

    work = args.workdir or Path(tempfile.mkdtemp(prefix="md-validation-"))
    model = albe_trained_mace(work)
    md = MDSettings(thermostat="langevin", timestep_fs=2.0, friction_per_fs=0.002, equilibration_steps=200,
                    production_steps=args.steps, sample_interval=5)
    cell = gaas_cell(64)
    runs = {
        "mace": run_nvt(cell, ForceFieldEnsemble([model]).calculator("first"), args.temperature, md, 1, work / "mace.extxyz"),
        "reference": run_nvt(cell, AlbeGaAs(), args.temperature, md, 1, work / "albe.extxyz"),
    }
    interval_fs = md.timestep_fs * md.sample_interval
    spectra = {k: vdos(r.frames, interval_fs) for k, r in runs.items()}
    rdfs = {k: rdf(r.frames, r_max_angstrom=6.0, n_bins=120) for k, r in runs.items()}
    result = {
        "cell_atoms": len(cell), "temperature_k": args.temperature, "production_steps": args.steps,
        "reference": "albe", "thermostat": md.thermostat, "frame_interval_fs": interval_fs,
        "vdos_overlap": vdos_overlap(spectra["reference"], spectra["mace"]),
        "rdf_max_abs_difference": rdf_max_difference(rdfs["reference"], rdfs["mace"]),
        "mean_temperature_k": {k: sum(f.info["temperature_k"] for f in r.frames) / len(r.frames) for k, r in runs.items()},
        "vdos": {k: {"frequency_thz": s.frequency_thz[s.frequency_thz <= 12].tolist(), "density": s.density[s.frequency_thz <= 12].tolist()} for k, s in spectra.items()},
        "rdf": {k: {"r_angstrom": g.r_angstrom.tolist(), **{p: v.tolist() for p, v in g.g.items()}} for k, g in rdfs.items()},
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "md_validation.json"
    out.write_text(json.dumps(result))
    print(json.dumps({k: result[k] for k in ("vdos_overlap", "rdf_max_abs_difference", "mean_temperature_k")}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
