"""The report's sections, each built from one part of ``summary.json``.

Every builder returns ``(anchor, title, body_html)``; ``body_html`` is None
when the pipeline did not produce that part, and the page then says
"not run". Numbers are only ever read from the summary, never computed here
beyond formatting.
"""

from __future__ import annotations

import html
from typing import Any

from thermodefect.report.summary import section, training_cell_atoms
from thermodefect.report.tables import (
    DECIMALS_EV,
    DECIMALS_MEV,
    DECIMALS_RATIO,
    DECIMALS_SECONDS,
    DECIMALS_SEM_EV,
    MISSING,
    fmt,
    fmt_duration,
    fmt_pm,
    fmt_temperature,
    key_value_table,
    table,
)

Section = tuple[str, str, "str | None"]


def _temperatures(values: Any) -> str:
    if not isinstance(values, list):
        return fmt(values)
    return ", ".join(fmt_temperature(v) for v in values) + " K"


def _reference_name(config: dict[str, Any], labels: dict[str, Any], kind: str) -> str | None:
    named = labels.get(f"reference_{kind}")
    if named:
        return str(named)
    ref = ((config.get("reference") or {}).get(kind)) or {}
    if not ref.get("name"):
        return None
    method = (ref.get("options") or {}).get("method")
    return f"{ref['name']} ({method})" if method else str(ref["name"])


def run_info(summary: dict[str, Any]) -> Section:
    """Material, defects, cells, temperatures, references, timing of the run."""
    config = summary.get("config") or {}
    run = section(summary, "run") or {}
    labels = section(summary, "labels") or {}
    material = config.get("material") or {}
    cells = config.get("supercells") or {}
    temps = config.get("temperatures") or {}
    pairs: list[tuple[str, str]] = []
    if material.get("cation") and material.get("anion"):
        text = html.escape(f"{material['cation']}{material['anion']}")
        if material.get("lattice_constant_angstrom") is not None:
            text += f", a = {fmt(material['lattice_constant_angstrom'])} Å"
        if material.get("lattice"):
            text += f" ({html.escape(str(material['lattice']))} lattice)"
        pairs.append(("Material", text))
    names = (config.get("defects") or {}).get("names")
    if names:
        pairs.append(("Defects", html.escape(", ".join(map(str, names)))))
    if cells:
        parts = []
        for key, label in (("training_atoms", "training"), ("production_atoms", "production")):
            if cells.get(key) is not None:
                parts.append(f"{label} {fmt(cells[key])}")
        if cells.get("transfer_atoms"):
            parts.append("transfer " + ", ".join(fmt(n) for n in cells["transfer_atoms"]))
        kind = f" ({html.escape(str(cells['kind']))})" if cells.get("kind") else ""
        pairs.append(("Supercells (atoms)", "; ".join(parts) + kind))
    for key, label in (("training_k", "training"), ("production_k", "production"), ("test_k", "test")):
        if temps.get(key):
            pairs.append((f"Temperatures, {label}", _temperatures(temps[key])))
    for kind, label in (("forces", "forces"), ("hamiltonian", "Hamiltonians")):
        name = _reference_name(config, labels, kind)
        if name:
            pairs.append((f"Reference for {label}", html.escape(name)))
    for key, label in (("directory", "Run directory"), ("started", "Started"), ("finished", "Finished"),
                       ("thermodefect_version", "thermodefect version")):
        if run.get(key) is not None:
            pairs.append((label, fmt(run[key])))
    if run.get("wall_time_s") is not None:
        pairs.append(("Wall time", fmt_duration(run["wall_time_s"])))
    return "run", "Run", key_value_table(pairs) if pairs else None


def labels_used(summary: dict[str, Any]) -> Section:
    labels = section(summary, "labels")
    if not labels:
        return "labels", "Labels used", None
    rows = [
        ("Force labels (energies + forces)", fmt(labels.get("forces"))),
        ("Hamiltonian labels", fmt(labels.get("hamiltonian"))),
        ("Failed reference calculations", fmt(labels.get("failures"))),
        ("Reference for forces", fmt(labels.get("reference_forces"))),
        ("Reference for Hamiltonians", fmt(labels.get("reference_hamiltonian"))),
        ("Reference time per label (s)", fmt(labels.get("seconds_per_label"), DECIMALS_SECONDS)),
    ]
    return "labels", "Labels used", table(["quantity", "value"], rows)


def forcefield_accuracy(summary: dict[str, Any]) -> Section:
    """Per-round and per-defect test-set errors of the MACE force field."""
    ff = section(summary, "forcefield") or {}
    rounds = ff.get("rounds") or []
    if not rounds:
        return "forcefield", "Force field accuracy", None
    per_round = [
        [fmt(r.get("round")), fmt(r.get("n_labels")), fmt(r.get("n_selected")),
         fmt(r.get("energy_mae_mev_per_atom"), DECIMALS_MEV), fmt(r.get("force_mae_mev_per_angstrom"), DECIMALS_MEV),
         fmt(r.get("force_rmse_mev_per_angstrom"), DECIMALS_MEV)]
        for r in rounds
    ]
    body = table(
        ["round", "labels", "selected", "energy MAE (meV/atom)", "force MAE (meV/Å)", "force RMSE (meV/Å)"], per_round
    )
    per_defect = [
        [fmt(r.get("round")), html.escape(str(defect)), fmt(m.get("n")),
         fmt(m.get("energy_mae_mev_per_atom"), DECIMALS_MEV), fmt(m.get("force_mae_mev_per_angstrom"), DECIMALS_MEV),
         fmt(m.get("force_rmse_mev_per_angstrom"), DECIMALS_MEV)]
        for r in rounds
        for defect, m in (r.get("per_defect") or {}).items()
        if isinstance(m, dict)
    ]
    if per_defect:
        body += "\n<h3>Per defect</h3>\n" + table(
            ["round", "defect", "test structures", "energy MAE (meV/atom)", "force MAE (meV/Å)", "force RMSE (meV/Å)"],
            per_defect,
        )
    if "converged" in ff:
        body += f"\n<p>Converged: {fmt(bool(ff['converged']))}</p>"
    return "forcefield", "Force field accuracy", body


def hamiltonian_accuracy(summary: dict[str, Any]) -> Section:
    """Per-round learning curve and held-out accuracy per defect and temperature."""
    ham = section(summary, "hamiltonian") or {}
    rounds = ham.get("rounds") or []
    accuracy = section(summary, "accuracy") or []
    if not rounds and not accuracy:
        return "hamiltonian", "Hamiltonian accuracy", None
    body = ""
    if rounds:
        rows = [
            [fmt(r.get("round")), fmt(r.get("n_labels")), fmt(r.get("hamiltonian_mae_mev"), DECIMALS_MEV),
             fmt(r.get("eigenvalue_mae_mev"), DECIMALS_MEV), fmt(r.get("eigenvalue_mae_aligned_mev"), DECIMALS_MEV),
             fmt(r.get("onsite_mae_mev"), DECIMALS_MEV), fmt(r.get("hopping_mae_mev"), DECIMALS_MEV)]
            for r in rounds
        ]
        body += table(
            ["round", "labels", "H MAE (meV)", "eigenvalue MAE (meV)", "eigenvalue MAE, offset removed (meV)",
             "onsite MAE (meV)", "hopping MAE (meV)"], rows
        )
        notes = []
        if "converged" in ham:
            notes.append(f"Converged: {fmt(bool(ham['converged']))}")
        if ham.get("stopped"):
            notes.append(f"stopped: {fmt(ham['stopped'])}")
        if notes:
            body += f"\n<p>{'; '.join(notes)}</p>"
    if accuracy:
        rows = [
            [fmt(a.get("defect")), fmt_temperature(a.get("temperature_k")), fmt(a.get("cell_atoms")), fmt(a.get("n")),
             fmt(a.get("hamiltonian_mae_mev"), DECIMALS_MEV), fmt(a.get("eigenvalue_mae_mev"), DECIMALS_MEV),
             fmt(a.get("eigenvalue_mae_aligned_mev"), DECIMALS_MEV), fmt(a.get("gap_mae_mev"), DECIMALS_MEV),
             fmt(a.get("level_mae_mev"), DECIMALS_MEV) if a.get("level_mae_mev") is not None else "no level"]
            for a in accuracy
        ]
        body += "\n<h3>Held-out accuracy vs the reference</h3>\n" + table(
            ["defect", "T (K)", "cell atoms", "snapshots", "H MAE (meV)", "eigenvalue MAE (meV)",
             "eigenvalue MAE, offset removed (meV)", "gap MAE (meV)", "level MAE (meV)"],
            rows,
        )
    return "hamiltonian", "Hamiltonian accuracy", body


def _levels_cell(levels: list[dict[str, Any]]) -> str:
    if not levels:
        return MISSING
    lines = []
    for lv in levels:
        relative = lv.get("relative_to", "VBM")
        suffix = f" (vs {html.escape(str(relative))})" if relative and relative != "VBM" else ""
        lines.append(
            f"{fmt(lv.get('label', ''))}: {fmt_pm(lv.get('mean_ev'), lv.get('std_ev'))} "
            f"[SEM {fmt(lv.get('sem_ev'), DECIMALS_SEM_EV)}]{suffix}"
        )
    return "<br>".join(lines)


def _defect_then_temperature(entry: dict[str, Any]) -> tuple[str, float]:
    temperature = entry.get("temperature_k")
    numeric = isinstance(temperature, (int, float)) and not isinstance(temperature, bool)
    return str(entry.get("defect")), float(temperature) if numeric else float("inf")


def temperature_dependence(summary: dict[str, Any]) -> Section:
    """Gap, band edges and levels per T: mean ± std over snapshots and SEM, one table per cell size."""
    thermal = section(summary, "thermal") or []
    if not thermal:
        return "thermal", "Temperature dependence", None
    training = training_cell_atoms(summary)
    sizes = sorted({t.get("cell_atoms") for t in thermal}, key=lambda n: (n != training, str(n)))
    body = (
        "<p>Mean ± standard deviation over MD snapshots (the standard deviation is the thermal broadening); "
        "SEM = standard error of the mean. Defect levels are relative to the VBM.</p>"
    )
    for size in sizes:
        entries = sorted((t for t in thermal if t.get("cell_atoms") == size), key=_defect_then_temperature)
        role = "" if training is None else (" (training cell)" if size == training else " (transfer)")
        rows = [
            [fmt(t.get("defect")), fmt_temperature(t.get("temperature_k")), fmt(t.get("n_snapshots")),
             fmt_pm(t.get("gap_mean_ev"), t.get("gap_std_ev")), fmt(t.get("gap_sem_ev"), DECIMALS_SEM_EV),
             fmt_pm(t.get("vbm_mean_ev"), t.get("vbm_std_ev")), fmt_pm(t.get("cbm_mean_ev"), t.get("cbm_std_ev")),
             _levels_cell(t.get("levels") or [])]
            for t in entries
        ]
        body += f"\n<h3>{fmt(size)} atoms{html.escape(role)}</h3>\n" + table(
            ["defect", "T (K)", "snapshots", "gap (eV)", "gap SEM (eV)", "VBM (eV)", "CBM (eV)",
             "levels − VBM (eV): mean ± std [SEM]"],
            rows,
        )
    return "thermal", "Temperature dependence", body


def speed(summary: dict[str, Any]) -> Section:
    timing = section(summary, "timing")
    if not timing:
        return "speed", "Speed", None
    speedup = timing.get("speedup")
    rows = [[fmt(timing.get("cell_atoms")), fmt(timing.get("reference_seconds"), DECIMALS_SECONDS),
             fmt(timing.get("model_seconds"), DECIMALS_SECONDS),
             f"{fmt(speedup, 1)}×" if speedup is not None else MISSING]]
    return "speed", "Speed", table(["cell atoms", "reference time (s)", "model time (s)", "speedup"], rows)


def md_validation(summary: dict[str, Any]) -> Section:
    md = section(summary, "md_validation")
    if not md:
        return "md-validation", "MD validation", None
    rows = [
        ("Temperature (K)", fmt_temperature(md.get("temperature_k"))),
        ("VDOS overlap, model vs reference MD (1 = identical)", fmt(md.get("vdos_overlap"), DECIMALS_RATIO)),
        ("RDF max |g_model(r) − g_reference(r)|", fmt(md.get("rdf_max_abs_diff"), DECIMALS_RATIO)),
    ]
    return "md-validation", "MD validation", table(["quantity", "value"], rows)


NUMBER_SECTIONS = (
    run_info, labels_used, forcefield_accuracy, hamiltonian_accuracy, temperature_dependence, speed, md_validation,
)
