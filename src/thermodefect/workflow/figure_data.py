"""The data behind the run's figures that need models or trajectories to compute.

Written as JSON to ``results/figures/`` (``run.figure_data``); the report
draws the figures from these files (:data:`thermodefect.report.figures.REGISTRY`),
nothing here draws. Energies in eV, distances in Å or 1/Å, frequencies in THz.

* ``bands_<defect>.json``: model bands along the zincblende path of the
  first held-out snapshot of each defect, relative to the model VBM, with the
  model defect levels and, as ``reference_gamma_ev``, the reference
  eigenvalues at Γ (the ``bands_near_gap`` window) relative to the reference
  VBM (:func:`thermodefect.electronic.bands.band_figure_data` plus the keys below).
* ``md.json``: VDOS and partial RDFs of the MACE NVT production MD of the
  pristine (or first) cell, per temperature. No reference MD is involved.
"""

from __future__ import annotations

import numpy as np

from thermodefect.core.files import atomic_write_json


def band_structure_data(ctx) -> list[str]:
    """One ``bands_<defect>.json`` per defect, on its first held-out snapshot; returns the paths written."""
    from ase.build import bulk

    from thermodefect.data.hamiltonians import HamiltonianDataset
    from thermodefect.electronic.analysis import analyze_sample
    from thermodefect.electronic.bands import band_figure_data, band_structure
    from thermodefect.hamiltonian import predict
    from thermodefect.hamiltonian.metrics import band_window
    from thermodefect.hamiltonian.recipe import model_sample
    from thermodefect.workflow.rundata import atoms_of_sample, electrons_per_element, load_predictors, predict_gap, training_keys
    from thermodefect.workflow.snapshots import electron_count
    from thermodefect.workflow.comparison import pristine_hosts

    s = ctx.settings
    keys = training_keys(ctx)["test"]
    dataset = HamiltonianDataset(ctx.run.hamiltonian_dataset)
    first = {}
    for key in keys:
        first.setdefault(dataset.metadata(key).get("defect", "unknown"), key)
    primitive = bulk(s.material.cation + s.material.anion, "zincblende", a=_lattice_constant(ctx)).cell
    ham, overlap = load_predictors(ctx)
    hosts = pristine_hosts(ctx, dataset, keys)  # defect cells: edges of the pristine test snapshots, aligned
    written = []
    for defect, key in first.items():
        sample = dataset[key]
        atoms = atoms_of_sample(sample)
        sample = model_sample(s.hamiltonian, sample)
        h = predict(ham, [atoms])[0]
        ov = predict(overlap, [atoms])[0] if overlap is not None else None
        n_e = electron_count(atoms, electrons_per_element(ctx))
        bands = band_structure(h, ov, n_e, atoms, s.electronic, special_cell=primitive)
        ref_host, model_host = hosts.get(sample.metadata.get("temperature_k"), (None, None)) if defect != "pristine" else (None, None)
        model_gap, _ = predict_gap(ctx, atoms, host=model_host)
        reference = analyze_sample(sample, atoms, s.electronic, host=ref_host)
        ref_eigs = _reference_gamma_eigenvalues(sample)
        window = band_window(len(ref_eigs), sample.n_electrons, s.electronic.bands_near_gap)
        temperature = sample.metadata.get("temperature_k")
        title = f"{defect}, {len(atoms)} atoms, {'?' if temperature is None else f'{temperature:g}'} K snapshot"
        data = band_figure_data(
            bands, model_gap, title=title, source="model", defect=defect, cell_atoms=len(atoms),
            temperature_k=temperature, snapshot=str(key),
            reference_gamma_ev=(ref_eigs[window] - reference.vbm_ev).tolist(),
            reference_vbm_ev=float(reference.vbm_ev),
        )
        path = ctx.run.figure_data / f"bands_{defect}.json"
        atomic_write_json(path, data)
        written.append(str(path))
    return written


def _lattice_constant(ctx) -> float:
    info = ctx.manifest.info("structures")
    return float(info.get("lattice_constant_angstrom", ctx.settings.material.lattice_constant_angstrom))


def _reference_gamma_eigenvalues(sample) -> np.ndarray:
    import scipy.linalg

    from thermodefect.electronic.bloch import bloch_pair, kspace_pair

    if sample.kspace is not None:
        h, s = kspace_pair(sample.kspace, 0)
    else:
        h, s = bloch_pair(*sample.realspace, k_frac=np.zeros(3))
    dense = [None if m is None else (m.toarray() if hasattr(m, "toarray") else np.asarray(m)) for m in (h, s)]
    return scipy.linalg.eigh(dense[0], dense[1], eigvals_only=True)


def dynamics_data(ctx) -> list[str]:
    """``md.json``: VDOS and partial RDFs of the MACE production MD of the pristine (or first) cell per temperature.

    Keys: ``source``, ``defect``, ``cell_atoms``, ``frame_interval_fs``,
    ``temperatures``: ``[{temperature_k, n_frames, vdos: {frequency_thz, density},
    rdf: {r_angstrom, g: {"A-B": [...]}}}]``. Returns the path written (none
    when no production trajectory has 4 frames or more).
    """
    from thermodefect.dynamics.analysis import rdf, vdos
    from thermodefect.dynamics.nvt import read_frames
    from thermodefect.workflow.rundata import md_jobs

    s = ctx.settings
    jobs = [j for j in md_jobs(ctx) if j.set == "production" and j.path.exists()]
    if not jobs:
        return []
    defect = "pristine" if any(j.defect == "pristine" for j in jobs) else jobs[0].defect
    jobs = sorted((j for j in jobs if j.defect == defect), key=lambda j: j.temperature_k)
    interval_fs = s.md.sample_interval * s.md.timestep_fs
    per_temperature = []
    cell_atoms = None
    for job in jobs:
        frames = read_frames(job.path)
        if len(frames) < 4:
            continue
        cell_atoms = len(frames[0])
        spectrum = vdos(frames, interval_fs)
        g = rdf(frames)
        per_temperature.append({
            "temperature_k": job.temperature_k,
            "n_frames": len(frames),
            "vdos": {"frequency_thz": np.asarray(spectrum.frequency_thz).tolist(), "density": np.asarray(spectrum.density).tolist()},
            "rdf": {"r_angstrom": np.asarray(g.r_angstrom).tolist(), "g": {pair: np.asarray(g.g[pair]).tolist() for pair in sorted(g.g)}},
        })
    if not per_temperature:
        return []
    path = ctx.run.figure_data / "md.json"
    atomic_write_json(path, {"source": "MACE NVT production MD", "defect": defect, "cell_atoms": cell_atoms,
                             "frame_interval_fs": interval_fs, "temperatures": per_temperature})
    return [str(path)]
