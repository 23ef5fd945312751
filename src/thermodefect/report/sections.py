"""The report's sections, each built from one part of ``summary.json``.

Every builder returns ``(anchor, title, body_html)``; ``body_html`` is None
when the pipeline did not produce that part, and the page then says
"not run". Numbers are only ever read from the summary, never computed here
beyond formatting.
"""

from __future__ import annotations

import html
from typing import Any

from thermodefect.report.summary import section, thermal_set, training_cell_atoms
from thermodefect.report.tables import (
    DECIMALS_COUNT,
    DECIMALS_ELECTRONS,
    DECIMALS_EV,
    DECIMALS_MEV,
    DECIMALS_RATIO,
    DECIMALS_SECONDS,
    DECIMALS_SEM_EV,
    DECIMALS_UNCERTAINTY_EV,
    MISSING,
    fmt,
    fmt_duration,
    fmt_temperature,
    fmt_uncertain,
    is_number,
    item_list,
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
    for row in run.get("stages") or []:  # per stage: wall time, and how busy the machine's cores were
        busy, cores = row.get("cpu_busy_fraction"), row.get("cpu_cores")
        load = f", {busy:.0%} of {cores} cores busy" if isinstance(busy, (int, float)) and cores else ""
        pairs.append((f"Time, {html.escape(str(row.get('stage')))}", fmt_duration(row.get("wall_time_s") or 0.0) + load))
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


def _ff_errors_cells(m: dict[str, Any]) -> list[str]:
    return [fmt(m.get("energy_mae_mev_per_atom"), DECIMALS_MEV), fmt(m.get("force_mae_mev_per_angstrom"), DECIMALS_MEV),
            fmt(m.get("force_rmse_mev_per_angstrom"), DECIMALS_MEV)]


FF_ERROR_HEADERS = ["energy MAE (meV/atom)", "force MAE (meV/Å)", "force RMSE (meV/Å)"]


def _missing_test_defects(where: str, missing: Any) -> str:
    if not missing:
        return ""
    names = ", ".join(fmt(d) for d in missing)
    return ('\n<div class="warnings"><p><b>Warnings</b></p>\n'
            + item_list([f"{where}: no test frame of {names} (its MD collapsed); its error is not measured"]) + "\n</div>")


def forcefield_accuracy(summary: dict[str, Any]) -> Section:
    """Per-round and per-defect test-set errors of the MACE force field, and the final model's own test."""
    ff = section(summary, "forcefield") or {}
    rounds = ff.get("rounds") or []
    if not rounds:
        return "forcefield", "Force field accuracy", None
    per_round = [[fmt(r.get("round")), fmt(r.get("n_labels")), fmt(r.get("n_selected")), *_ff_errors_cells(r)] for r in rounds]
    body = "<p>Every round on one fixed test set: MD of the round-0 model, labelled by the reference.</p>\n"
    body += table(["round", "labels", "selected", *FF_ERROR_HEADERS], per_round)
    per_defect = [
        [fmt(r.get("round")), html.escape(str(defect)), fmt(m.get("n_structures")), *_ff_errors_cells(m)]
        for r in rounds
        for defect, m in (r.get("per_defect") or {}).items()
        if isinstance(m, dict)
    ]
    if per_defect:
        body += "\n<h3>Per defect</h3>\n" + table(["round", "defect", "test structures", *FF_ERROR_HEADERS], per_defect)
    body += _missing_test_defects("Fixed test set", rounds[-1].get("missing_defects"))
    final = ff.get("final_test")
    if isinstance(final, dict):
        body += (f"\n<h3>Final model on its own MD at {fmt_temperature(final.get('temperature_k'))} K</h3>\n"
                 "<p>The published test: MD driven by the final model, its frames labelled by the reference"
                 f" ({fmt(final.get('n_collapsed'))} frames collapsed and left out).</p>\n")
        rows = [["all", fmt(sum(m.get("n_structures", 0) for m in (final.get("per_defect") or {}).values())), *_ff_errors_cells(final)]]
        rows += [[html.escape(str(d)), fmt(m.get("n_structures")), *_ff_errors_cells(m)]
                 for d, m in (final.get("per_defect") or {}).items() if isinstance(m, dict)]
        body += table(["defect", "test structures", *FF_ERROR_HEADERS], rows)
        body += _missing_test_defects("Final test", final.get("missing_defects"))
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


ONE_SNAPSHOT = "n/a (1 snapshot)"
# Host carriers below half the last shown decimal would print as zero: the row then says "none".
CARRIERS_SHOWN = 0.5 * 10.0**-DECIMALS_ELECTRONS

EDGES_TEXT = {
    "aligned": "host band edges = pristine edges of the same cell size and temperature, shifted by the on-site "
               "potential alignment",
    "cell": "host band edges = highest occupied and lowest empty delocalized states of the defect cell itself",
    "mixed": "host band edges: aligned pristine edges for some snapshots, the defect cell's own delocalized states "
             "for others",
}

THERMAL_DEFINITIONS = (
    "<p>Statistics over the time-ordered MD snapshots of each defect and temperature. "
    "<b>mean ± u</b>: u is the combined uncertainty of the mean, u = sqrt(SEM² + s_ens²), where SEM is the standard "
    "error of the mean from block averaging of the correlated snapshots and s_ens, the ensemble spread, is the "
    "standard deviation over the Hamiltonian ensemble members of each member's thermal mean (without an ensemble, "
    "u = SEM). <b>σ</b> is the thermal broadening: the standard deviation over snapshots, a physical spread of the "
    "quantity, not an error. <b>n_eff</b> = σ²/SEM² is the effective number of independent snapshots (between one and "
    "the number of snapshots). Band edges are absolute (eV); defect levels are given above the VBM (ε − VBM) and "
    "below the CBM (CBM − ε), with the electrons they hold (zero to two per state, summed over degenerate states). "
    "Host carriers are electrons in host conduction states (shallow donor) or holes in host valence states (shallow "
    "acceptor), mean over snapshots.</p>"
)


def edges_text(method: Any) -> str:
    """The sentence that says how the host band edges were found (``edges`` of a thermal or validation row)."""
    known = EDGES_TEXT.get(str(method))
    return html.escape(known) if known else f"host band edges: {fmt(method)}"


def _edges_paragraph(entries: list[dict[str, Any]]) -> str:
    methods = sorted({str(e["edges"]) for e in entries if e.get("edges")})
    return "".join(f'\n<p class="edges">{edges_text(m)}.</p>' for m in methods)


def _uncertainty(source: dict[str, Any], prefix: str, n: Any) -> Any:
    """Combined uncertainty of a mean, falling back to its SEM (rows of older runs); no SEM of one snapshot."""
    combined = source.get(f"{prefix}uncertainty_ev")
    if is_number(combined) or n == 1:
        return combined
    return source.get(f"{prefix}sem_ev")


def _mean_cell(source: dict[str, Any], prefix: str, n: Any) -> str:
    return fmt_uncertain(source.get(f"{prefix}mean_ev"), _uncertainty(source, prefix, n))


def _spread_cell(source: dict[str, Any], key: str, n: Any, decimals: int) -> str:
    """σ, SEM or n_eff; one snapshot has none of them (whatever an older run stored)."""
    if n == 1:
        return ONE_SNAPSHOT
    value = source.get(key)
    return fmt(value, decimals) if is_number(value) else MISSING


def _ensemble_cell(source: dict[str, Any], prefix: str) -> str:
    value = source.get(f"{prefix}model_std_ev")
    return fmt(value, DECIMALS_UNCERTAINTY_EV) if is_number(value) else MISSING


def _count(value: float, noun: str) -> str:
    text = fmt(float(value), DECIMALS_ELECTRONS)
    return f"{text} {noun}" + ("" if text == fmt(1.0, DECIMALS_ELECTRONS) else "s")


def _carriers_cell(entry: dict[str, Any]) -> str:
    electrons, holes = entry.get("conduction_electrons_mean"), entry.get("valence_holes_mean")
    if not is_number(electrons) and not is_number(holes):
        return MISSING
    parts = []
    if is_number(electrons) and abs(electrons) >= CARRIERS_SHOWN:
        parts.append(f"shallow donor: {_count(electrons, 'electron')} in host conduction states")
    if is_number(holes) and abs(holes) >= CARRIERS_SHOWN:
        parts.append(f"shallow acceptor: {_count(holes, 'hole')} in host valence states")
    return "<br>".join(parts) or "none"


def _defect_then_temperature(entry: dict[str, Any]) -> tuple[str, float]:
    temperature = entry.get("temperature_k")
    return str(entry.get("defect")), float(temperature) if is_number(temperature) else float("inf")


def _edge_row(entry: dict[str, Any]) -> list[str]:
    n = entry.get("n_snapshots")
    row = [fmt(entry.get("defect")), fmt_temperature(entry.get("temperature_k")), fmt(n)]
    row += [_mean_cell(entry, "gap_", n), _spread_cell(entry, "gap_std_ev", n, DECIMALS_EV),
            _spread_cell(entry, "gap_sem_ev", n, DECIMALS_SEM_EV), _ensemble_cell(entry, "gap_"),
            _spread_cell(entry, "gap_n_independent", n, DECIMALS_COUNT)]
    for edge in ("vbm_", "cbm_"):
        row += [_mean_cell(entry, edge, n), _spread_cell(entry, f"{edge}std_ev", n, DECIMALS_EV)]
    return row + [_carriers_cell(entry)]


EDGE_HEADERS = (
    "defect", "T (K)", "snapshots", "gap (eV): mean ± u", "gap σ (eV)", "gap SEM (eV)", "gap ensemble spread (eV)",
    "gap n_eff", "VBM (eV): mean ± u", "VBM σ (eV)", "CBM (eV): mean ± u", "CBM σ (eV)", "host carriers",
)
LEVEL_HEADERS = (
    "defect", "T (K)", "level", "snapshots with the level", "ε − VBM (eV): mean ± u", "ε − VBM σ (eV)",
    "ε − VBM SEM (eV)", "ε − VBM ensemble spread (eV)", "ε − VBM n_eff", "CBM − ε (eV): mean ± u", "CBM − ε σ (eV)",
    "electrons in the level",
)


def _level_rows(entry: dict[str, Any]) -> list[list[str]]:
    rows = []
    for level in entry.get("levels") or []:
        if not isinstance(level, dict):
            continue
        n = level.get("n_snapshots", entry.get("n_snapshots"))
        relative = level.get("relative_to", "VBM")
        suffix = f" (vs {html.escape(str(relative))})" if relative and relative != "VBM" else ""
        electrons = level.get("electrons_mean")
        rows.append([
            fmt(entry.get("defect")), fmt_temperature(entry.get("temperature_k")), fmt(level.get("label", "")) + suffix,
            fmt(n), _mean_cell(level, "", n), _spread_cell(level, "std_ev", n, DECIMALS_EV),
            _spread_cell(level, "sem_ev", n, DECIMALS_SEM_EV), _ensemble_cell(level, ""),
            _spread_cell(level, "n_independent", n, DECIMALS_COUNT),
            _mean_cell(level, "below_cbm_", n) if level.get("below_cbm_mean_ev") is not None else MISSING,
            _spread_cell(level, "below_cbm_std_ev", n, DECIMALS_EV) if level.get("below_cbm_mean_ev") is not None
            else MISSING,
            fmt(electrons, DECIMALS_ELECTRONS) if is_number(electrons) else MISSING,
        ])
    return rows


def unvalidated(summary: dict[str, Any]) -> dict[tuple[Any, Any], list[str]]:
    """``{(defect, cell_atoms): [why]}`` for validation rows whose gap or level MAE exceeds the run's bound.

    The validation stage writes the bound (``validated_mae_mev``) into its results.
    """
    data = section(summary, "validation") or {}
    bound = data.get("validated_mae_mev")
    out: dict[tuple[Any, Any], list[str]] = {}
    if not is_number(bound):
        return out  # a run from before the rule
    for row in data.get("summary") or []:
        if not isinstance(row, dict):
            continue
        for key, what in (("gap_mae_mev", "band gap"), ("level_mae_mev", "defect levels")):
            value = row.get(key)
            if is_number(value) and value > bound:
                out.setdefault((row.get("defect"), row.get("cell_atoms")), []).append(
                    f"{what}: model vs reference MAE {fmt(value, DECIMALS_MEV)} meV on "
                    f"{fmt(row.get('n_snapshots'))} snapshots (> {fmt(bound, 0)} meV), not validated")
    # A cell size the run never compared with the reference (no validation row, no accuracy row):
    # its numbers are the model's alone, e.g. transfer cells without transfer_reference_snapshots.
    compared = {r.get("cell_atoms") for r in (data.get("summary") or []) if isinstance(r, dict)}
    compared |= {r.get("cell_atoms") for r in (summary.get("accuracy") or []) if isinstance(r, dict)}
    for row in summary.get("thermal") or []:
        if isinstance(row, dict) and row.get("cell_atoms") not in compared:
            reasons = out.setdefault((row.get("defect"), row.get("cell_atoms")), [])
            if UNCOMPARED not in reasons:
                reasons.append(UNCOMPARED)
    return out


UNCOMPARED = "no snapshot of this cell size was compared with the reference in this run: its gap and levels are unchecked"


def _unvalidated_items(summary: dict[str, Any], size: Any = None) -> list[str]:
    return [f"{fmt(defect)} ({fmt(atoms)} atoms): {why}" for (defect, atoms), reasons in unvalidated(summary).items()
            for why in reasons if size is None or atoms == size]


def _warnings_html(entries: list[dict[str, Any]], first: list[str] = ()) -> str:
    items = list(first) + [
        f"{fmt(e.get('defect'))}, {fmt_temperature(e.get('temperature_k'))} K: {fmt(w)}"
        for e in entries
        for w in (e.get("warnings") if isinstance(e.get("warnings"), list) else [])
    ]
    if not items:
        return ""
    return '\n<div class="warnings"><p><b>Warnings</b></p>\n' + item_list(items) + "\n</div>"


def _cell_role(size: Any, entries: list[dict[str, Any]], summary: dict[str, Any], training: int | None) -> str:
    if training is not None and size == training:
        return " (training cell)"
    sets = sorted({thermal_set(e, summary) for e in entries} - {None})
    return f" ({', '.join(sets)})" if sets else ""


def _size_order(size: Any, training: int | None) -> tuple:
    return (size != training, not is_number(size), size if is_number(size) else 0, str(size))


def temperature_dependence(summary: dict[str, Any]) -> Section:
    """Gap, band edges and levels per T: mean ± combined uncertainty, broadening σ, SEM, one table per cell size."""
    thermal = [t for t in section(summary, "thermal") or [] if isinstance(t, dict)]
    if not thermal:
        return "thermal", "Temperature dependence", None
    training = training_cell_atoms(summary)
    sizes = sorted({t.get("cell_atoms") for t in thermal}, key=lambda n: _size_order(n, training))
    body = THERMAL_DEFINITIONS
    for size in sizes:
        entries = sorted((t for t in thermal if t.get("cell_atoms") == size), key=_defect_then_temperature)
        role = _cell_role(size, entries, summary, training)
        body += f"\n<h3>{fmt(size)} atoms{html.escape(role)}</h3>" + _edges_paragraph(entries)
        body += "\n" + table(EDGE_HEADERS, [_edge_row(t) for t in entries])
        levels = [row for t in entries for row in _level_rows(t)]
        if levels:
            body += "\n<h4>Defect levels</h4>\n" + table(LEVEL_HEADERS, levels)
        body += _warnings_html(entries, _unvalidated_items(summary, size))
    return "thermal", "Temperature dependence", body


VALIDATION_TITLE = "Validation over temperature"
VALIDATION_TEXT = (
    "<p>The Hamiltonian model and the reference are analysed in the same way on the same MD snapshots. "
    "Gap, VBM and CBM MAE = mean over snapshots of |x_model − x_reference| (meV); level MAE = mean over the "
    "reference defect levels of the distance (above the VBM) to the nearest model level (meV), \"no level\" when the "
    "defect has none; missing levels = difference in the number of in-gap levels between model and reference, summed "
    "over snapshots.</p>"
)
VALIDATED_TEXT = (
    "<p>A defect whose gap or level MAE exceeds {bound} meV is listed under Warnings: its model curve is not "
    "validated, here and in the temperature tables.</p>"
)


def _level_mae(value: Any) -> str:
    return fmt(value, DECIMALS_MEV) if is_number(value) else "no level"


def validation(summary: dict[str, Any]) -> Section:
    """Model against reference on the same MD snapshots over temperature: MAE per defect and overall."""
    data = section(summary, "validation") or {}
    rows = [r for r in data.get("summary") or [] if isinstance(r, dict)]
    overall = data.get("overall") if isinstance(data.get("overall"), dict) else None
    if not rows and not overall:
        return "validation", VALIDATION_TITLE, None
    body = VALIDATION_TEXT
    if is_number(data.get("validated_mae_mev")):
        body += VALIDATED_TEXT.format(bound=fmt(data["validated_mae_mev"], 0))
    if data.get("edges"):
        body += f'\n<p class="edges">{edges_text(data["edges"])}.</p>'
    if is_number(data.get("training_snapshots_left_out")) and data["training_snapshots_left_out"] > 0:
        body += (f"\n<p>{fmt(data['training_snapshots_left_out'])} of the predicted snapshots are Hamiltonian training "
                 "structures; they are not validated (the snapshots below are held out).</p>")
    cells = [
        [fmt(r.get("defect")), fmt(r.get("cell_atoms")), fmt(r.get("n_snapshots")),
         fmt(r.get("gap_mae_mev"), DECIMALS_MEV), fmt(r.get("vbm_mae_mev"), DECIMALS_MEV),
         fmt(r.get("cbm_mae_mev"), DECIMALS_MEV), _level_mae(r.get("level_mae_mev")), fmt(r.get("missing_levels"))]
        for r in rows
    ]
    if overall:
        cells.append(
            ["<b>all defects</b>", MISSING, fmt(overall.get("n_snapshots")),
             fmt(overall.get("gap_mae_mev"), DECIMALS_MEV),
             fmt(overall.get("vbm_mae_mev"), DECIMALS_MEV), fmt(overall.get("cbm_mae_mev"), DECIMALS_MEV),
             _level_mae(overall.get("level_mae_mev")), fmt(overall.get("missing_levels"))]
        )
    body += "\n" + table(
        ["defect", "cell atoms", "snapshots", "gap MAE (meV)", "VBM MAE (meV)", "CBM MAE (meV)", "level MAE (meV)",
         "missing levels"],
        cells,
    )
    body += _warnings_html([], _unvalidated_items(summary))
    return "validation", VALIDATION_TITLE, body


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
    run_info, labels_used, forcefield_accuracy, hamiltonian_accuracy, validation, temperature_dependence, speed,
    md_validation,
)
