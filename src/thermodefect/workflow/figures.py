"""Figures of the run that need models or trajectories: band structures, VDOS, RDF.

Written to ``report/figures/`` where the report picks them up:
``bands_<defect>.png`` (model bands along the zincblende path, reference
eigenvalues at Γ as markers), ``vdos.png`` and ``rdf.png`` (MACE production
MD per temperature).
"""

from __future__ import annotations

import numpy as np


def _figure(figsize=(5.0, 4.2)):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=120)


def band_structure_figures(ctx) -> list[str]:
    """One band-structure figure per defect, on its first held-out snapshot."""
    from ase.build import bulk

    from thermodefect.data.hamiltonians import HamiltonianDataset
    from thermodefect.electronic.analysis import analyze_sample
    from thermodefect.electronic.bands import band_structure
    from thermodefect.hamiltonian import predict
    from thermodefect.hamiltonian.metrics import band_window
    from thermodefect.hamiltonian.recipe import model_sample
    from thermodefect.workflow.rundata import atoms_of_sample, electrons_per_element, load_predictors, predict_gap, training_keys
    from thermodefect.workflow.snapshots import electron_count

    s = ctx.settings
    keys = training_keys(ctx)["test"]
    dataset = HamiltonianDataset(ctx.run.hamiltonian_dataset)
    first = {}
    for key in keys:
        first.setdefault(dataset.metadata(key).get("defect", "unknown"), key)
    primitive = bulk(s.material.cation + s.material.anion, "zincblende", a=_lattice_constant(ctx)).cell
    ham, overlap = load_predictors(ctx)
    written = []
    for defect, key in first.items():
        sample = dataset[key]
        atoms = atoms_of_sample(sample)
        sample = model_sample(s.hamiltonian, sample)
        h = predict(ham, [atoms])[0]
        ov = predict(overlap, [atoms])[0] if overlap is not None else None
        n_e = electron_count(atoms, electrons_per_element(ctx))
        bands = band_structure(h, ov, n_e, atoms, s.electronic, special_cell=primitive)
        model_gap, _ = predict_gap(ctx, atoms)
        reference = analyze_sample(sample, atoms, s.electronic)
        ref_eigs = _reference_gamma_eigenvalues(sample)
        window = band_window(len(ref_eigs), sample.n_electrons, s.electronic.bands_near_gap)
        fig = _figure()
        ax = fig.add_subplot()
        x = bands.path.distance
        for b in range(bands.energies_ev.shape[1]):
            ax.plot(x, bands.energies_ev[:, b] - model_gap.vbm_ev, color="tab:blue", lw=0.8)
        gammas = [x[p] for p, label in zip(bands.path.label_positions, bands.path.labels) if label == "Γ"]
        for g in gammas:
            ax.scatter(np.full(window.stop - window.start, g), ref_eigs[window] - reference.vbm_ev, s=14,
                       facecolors="none", edgecolors="black", zorder=3, label="reference (Γ)" if g == gammas[0] else None)
        for level in model_gap.levels:
            ax.axhline(level.above_vbm_ev, color="tab:red", lw=1.0, ls="--")
        ax.plot([], [], color="tab:blue", label="model")
        ax.plot([], [], color="tab:red", ls="--", label="model defect level")
        ax.set_xticks([x[p] for p in bands.path.label_positions], bands.path.labels)
        ax.set_xlim(x[0], x[-1])
        ax.set_ylabel("E − VBM (eV)")
        ax.set_title(f"{defect}, {len(atoms)} atoms, {sample.metadata.get('temperature_k', '?')} K snapshot")
        ax.legend(fontsize=7, loc="upper right")
        path = ctx.run.report / "figures" / f"bands_{defect}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, bbox_inches="tight")
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


def dynamics_figures(ctx) -> list[str]:
    """VDOS and partial RDFs of the MACE production MD of the pristine (or first) cell per temperature."""
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
    fig_v, fig_r = _figure(), _figure((5.0, 4.8))
    ax_v = fig_v.add_subplot()
    pairs = None
    axes_r = None
    for job in jobs:
        frames = read_frames(job.path)
        if len(frames) < 4:
            continue
        spectrum = vdos(frames, interval_fs)
        ax_v.plot(spectrum.frequency_thz, spectrum.density, label=f"{job.temperature_k:g} K")
        g = rdf(frames)
        if pairs is None:
            pairs = sorted(g.g)
            axes_r = fig_r.subplots(len(pairs), 1, sharex=True)
            axes_r = np.atleast_1d(axes_r)
        for ax, pair in zip(axes_r, pairs):
            ax.plot(g.r_angstrom, g.g[pair], label=f"{job.temperature_k:g} K")
            ax.set_ylabel(f"g(r) {pair}")
    if pairs is None:
        return []
    ax_v.set_xlabel("frequency (THz)")
    ax_v.set_ylabel("VDOS (normalized)")
    ax_v.set_title(f"MACE NVT MD, {defect}")
    ax_v.legend(fontsize=7)
    axes_r[-1].set_xlabel("r (Å)")
    axes_r[0].legend(fontsize=7)
    axes_r[0].set_title(f"MACE NVT MD, {defect}")
    out = []
    for fig, name in ((fig_v, "vdos.png"), (fig_r, "rdf.png")):
        path = ctx.run.report / "figures" / name
        fig.savefig(path, bbox_inches="tight")
        out.append(str(path))
    return out
