"""``gap`` and ``bands``: band edges, defect levels and band structures of given structures."""

from __future__ import annotations

from pathlib import Path

import typer

STRUCTURES_HELP = "Structure file (any ASE format; every frame is analysed)."
MODEL_HELP = "Trained Hamiltonian model directory (default: label with the configured Hamiltonian reference)."
OVERLAP_MODEL_HELP = "Overlap model: a two-center JSON file or an overlap model directory (default: overlap from the reference)."
MAX_ATOMS_HELP = "Refuse frames with more atoms than this (a frame of several thousand atoms takes minutes); raise it to analyse larger cells."
DEFAULT_MAX_ATOMS = 5000
PROGRESS_ABOVE_ATOMS = 500  # frames this large say on stderr what they are doing: each step takes seconds to minutes


def register(app: typer.Typer) -> None:
    from thermodefect.cli.main import load_config, user_errors

    @app.command()
    @user_errors
    def gap(
        config: Path = typer.Argument(..., help="TOML config file."),
        structures: Path = typer.Option(..., "--structures", "-s", help=STRUCTURES_HELP),
        model: Path = typer.Option(None, "--model", help=MODEL_HELP),
        overlap_model: Path = typer.Option(None, "--overlap-model", help=OVERLAP_MODEL_HELP),
        output: Path = typer.Option(None, "--output", "-o", help="Directory for gap.json (default: <run dir>/results/electronic)."),
        max_atoms: int = typer.Option(DEFAULT_MAX_ATOMS, "--max-atoms", min=1, help=MAX_ATOMS_HELP),
    ) -> None:
        """Print the gap, VBM, CBM (and where they are in k) and defect levels of each structure; write gap.json."""
        from thermodefect.core.files import atomic_write_json

        settings = load_config(config)
        out = output or settings.run.directory / "results" / "electronic"
        analysed, at_gamma, warnings = [], {}, {}
        for index, atoms, sample in _samples(settings, structures, model, overlap_model, max_atoms):
            _progress(index, atoms, "band edges, gap and defect levels")
            result, at_gamma[index], warnings[index] = _analyse(settings.electronic, atoms, sample)
            analysed.append((index, atoms, result))
        rows = []
        for index, atoms, result in _aligned(settings, analysed, at_gamma, model, overlap_model):
            _echo_result(index, atoms, result, warnings[index])
            rows.append({"frame": index, "defect": atoms.info.get("defect", ""), **result.to_dict()})
        atomic_write_json(out / "gap.json", {"structures": str(structures), "source": _source(settings, model), "results": rows})
        typer.echo(f"wrote {out / 'gap.json'}")

    @app.command()
    @user_errors
    def bands(
        config: Path = typer.Argument(..., help="TOML config file."),
        structures: Path = typer.Option(..., "--structures", "-s", help=STRUCTURES_HELP),
        model: Path = typer.Option(None, "--model", help=MODEL_HELP),
        overlap_model: Path = typer.Option(None, "--overlap-model", help=OVERLAP_MODEL_HELP),
        output: Path = typer.Option(None, "--output", "-o", help="Directory for bands.json and plots (default: <run dir>/results/electronic)."),
        max_atoms: int = typer.Option(DEFAULT_MAX_ATOMS, "--max-atoms", min=1, help=MAX_ATOMS_HELP),
    ) -> None:
        """Band structure along electronic.band_path (bands near the gap), with defect levels; JSON + PNG."""
        from thermodefect.electronic import band_figure_data, band_structure
        from thermodefect.electronic.bands import zincblende_primitive_cell
        from thermodefect.core.errors import UserInputError
        from thermodefect.core.files import atomic_write_json
        from thermodefect.report.figures import plot_band_structure

        settings = load_config(config)
        out = output or settings.run.directory / "results" / "electronic"
        samples, analysed, at_gamma, warnings = {}, [], {}, {}
        for index, atoms, sample in _samples(settings, structures, model, overlap_model, max_atoms):
            if sample.realspace is None:
                raise UserInputError(
                    "bands need real-space H(R) blocks; the reference gives Γ-point matrices only: pass --model "
                    "(and --overlap-model for a non-orthogonal basis)"
                )
            _progress(index, atoms, "band edges, gap and defect levels")
            samples[index] = sample
            result, at_gamma[index], warnings[index] = _analyse(settings.electronic, atoms, sample)
            analysed.append((index, atoms, result))
        rows = []
        for index, atoms, result in _aligned(settings, analysed, at_gamma, model, overlap_model):
            sample = samples.pop(index)
            _progress(index, atoms, "bands along electronic.band_path")
            # The path's special points are the zincblende (fcc) ones, folded into this cell.
            bs = band_structure(*sample.realspace, sample.n_electrons, atoms, settings.electronic,
                                special_cell=zincblende_primitive_cell(atoms))
            _echo_result(index, atoms, result, warnings[index])
            figure = out / f"bands-{index}.png"
            out.mkdir(parents=True, exist_ok=True)
            title = f"{atoms.info.get('defect', '')} {len(atoms)} atoms".strip()
            plot_band_structure(band_figure_data(bs, result, title=title), figure)
            rows.append(
                {
                    "frame": index,
                    "defect": atoms.info.get("defect", ""),
                    "labels": bs.path.labels,
                    "label_positions": bs.path.label_positions,
                    "kpts_frac": bs.path.kpts_frac,
                    "distance_per_angstrom": bs.path.distance,
                    "energies_ev": bs.energies_ev,
                    "defect_weight": bs.defect_weight,
                    "gap": result.to_dict(),
                    "figure": figure.name,
                }
            )
            typer.echo(f"wrote {figure}")
        atomic_write_json(out / "bands.json", {"structures": str(structures), "source": _source(settings, model), "results": rows})
        typer.echo(f"wrote {out / 'bands.json'}")


def _cell_key(atoms) -> tuple:
    return tuple(round(float(x), 2) for x in atoms.cell.array.ravel())


def _ideal_pristine(settings, atoms):
    """The ideal pristine supercell of ``[material]`` on the lattice of ``atoms`` (a defect cell), or None."""
    import numpy as np

    from thermodefect.structures import pristine_supercell
    from thermodefect.structures.checks import StructureError

    m = settings.material
    shape = atoms.cell.array / abs(atoms.get_volume()) ** (1 / 3)
    for kind in dict.fromkeys([settings.supercells.kind, "cubic", "primitive"]):
        for n in (len(atoms) - 1, len(atoms), len(atoms) + 1):
            try:
                cell = pristine_supercell(m.cation, m.anion, m.lattice_constant_angstrom, n, kind)
            except StructureError:
                continue
            if np.allclose(cell.cell.array / abs(cell.get_volume()) ** (1 / 3), shape, atol=1e-3):
                cell.set_cell(atoms.cell, scale_atoms=True)
                return cell
    return None


def _analyse(electronic, atoms, sample):
    """``(result, Γ result, warning or None)`` of one frame.

    ``result`` has its band edges over ``electronic.edge_kpoints``. Aligned
    edges are Γ quantities, so a k-sampled frame is also analysed at Γ to serve
    as a pristine host (the Γ result is ``result`` itself when that is at Γ).
    """
    from thermodefect.electronic import analyze_sample

    result = analyze_sample(sample, atoms, electronic, edge_kpoints=electronic.edge_kpoints)
    at_gamma = result
    if result.edge_kpoints not in ("gamma", "stored") and electronic.band_edges == "aligned":
        at_gamma = analyze_sample(sample, atoms, electronic)
    return result, at_gamma, _gamma_warning(electronic, atoms, sample, result)


def _gamma_warning(electronic, atoms, sample, result) -> str | None:
    """One line when Γ alone gave the edges of a cell too small to be folded onto Γ: its gap is an upper bound."""
    from thermodefect.electronic.analysis import is_pristine_cell
    from thermodefect.electronic.kpoints import folds_onto_gamma, plane_spacings_angstrom

    if result.n_kpoints > 1 or folds_onto_gamma(atoms.cell, electronic):
        return None
    if not is_pristine_cell(atoms):
        remedy = "a defect cell is analysed at Γ: use a larger supercell"
    elif sample.realspace is None:
        remedy = "only Γ-point matrices are available: --model with --overlap-model gives real-space H and S to k-sample"
    else:
        remedy = 'set [electronic] edge_kpoints = "auto" to sample k-points'
    return (f"warning: band edges at Γ only in a cell whose lattice planes are {plane_spacings_angstrom(atoms.cell).min():.1f} Å "
            f"apart (< gamma_min_spacing_angstrom = {electronic.gamma_min_spacing_angstrom:g}): the Γ gap is an upper bound "
            f"of the true gap; {remedy}")


def _aligned(settings, analysed, at_gamma, model, overlap_model):
    """``(index, atoms, result)`` with defect cells aligned to a pristine host (``band_edges = "aligned"``).

    The host of a defect frame is the mean of the Γ results (``at_gamma``, by
    frame index) of the file's pristine frames on the same lattice; without
    one, the ideal pristine cell of ``[material]`` on that lattice, analysed
    at Γ with the same Hamiltonian source.
    """
    from thermodefect.electronic import analyze_sample
    from thermodefect.electronic.analysis import is_pristine_cell as is_pristine
    from thermodefect.electronic.levels import HostReference, realign

    electronic = settings.electronic
    if electronic.band_edges != "aligned" or all(is_pristine(a) for _, a, _ in analysed):
        return analysed
    pristine: dict[tuple, list] = {}
    for index, atoms, _ in analysed:
        if is_pristine(atoms):
            pristine.setdefault(_cell_key(atoms), []).append(at_gamma[index])
    hosts = {key: HostReference.from_results(results) for key, results in pristine.items()}
    out = []
    for index, atoms, result in analysed:
        key = _cell_key(atoms)
        if not is_pristine(atoms) and key not in hosts:
            ideal = _ideal_pristine(settings, atoms)
            if ideal is None:
                typer.echo(f"note: frame {index}: no pristine cell on its lattice; band edges from its own states", err=True)
                hosts[key] = None
            else:
                typer.echo(f"note: frame {index}: band edges aligned to the ideal pristine cell of [material] on its lattice "
                           "(add pristine frames of the same cell to the file to align to those instead)", err=True)
                (_, _, sample), = _samples_of(settings, [ideal], "ideal pristine cell", model, overlap_model)
                hosts[key] = HostReference.from_results([analyze_sample(sample, ideal, electronic)])
        host = None if is_pristine(atoms) else hosts[key]
        out.append((index, atoms, realign(result, host, electronic.degeneracy_tolerance_ev)))
    return out


def _source(settings, model) -> str:
    return f"model {model}" if model is not None else f"reference {settings.reference.hamiltonian.name}"


def _read_structures(path: Path, max_atoms: int):
    """Every frame of ``path``; refused in one line when unreadable, empty or larger than ``max_atoms``."""
    from thermodefect.cli.label import _read_structures as read_structure_file
    from thermodefect.core.errors import UserInputError

    frames = read_structure_file(path, UserInputError)
    for k, atoms in enumerate(frames):
        if len(atoms) > max_atoms:
            raise UserInputError(
                f"{path} frame {k}: {len(atoms)} atoms is more than --max-atoms {max_atoms}; a frame this large takes "
                f"minutes to hours: pass --max-atoms {len(atoms)} to analyse it anyway"
            )
    return frames


def _progress(index: int, atoms, step: str) -> None:
    """One line on stderr per step of a large frame, so long work is never silent."""
    if len(atoms) >= PROGRESS_ABOVE_ATOMS:
        import time

        typer.echo(f"[{time.strftime('%H:%M:%S')}] frame {index} ({len(atoms)} atoms): {step}", err=True)


def _samples(settings, structures: Path, model: Path | None, overlap_model: Path | None, max_atoms: int = DEFAULT_MAX_ATOMS):
    """Yield ``(frame index, atoms, HamiltonianSample)`` from the reference or a model.

    Every frame is read and checked first, so bad input is refused before any calculation.
    """
    yield from _samples_of(settings, _read_structures(structures, max_atoms), structures, model, overlap_model)


def _samples_of(settings, frames: list, source, model: Path | None, overlap_model: Path | None):
    """:func:`_samples` of frames already read (``source`` names them in errors)."""
    from thermodefect.cli.ham import _check_frames, model_knowers
    from thermodefect.data.operators import HamiltonianSample
    from thermodefect.reference.labelling import known_elements, providing_reference

    h_model = s_model = None
    if model is not None:
        from thermodefect.hamiltonian import predict
        from thermodefect.hamiltonian.recipe import load_overlap, load_predictor

        h_model = load_predictor(model)  # a checkpoint, or an ensemble directory (mean of its members)
        s_model = load_overlap(overlap_model) if overlap_model is not None else None

    def needs_reference(atoms) -> bool:
        # The reference also gives the electron count, unless the frame carries it.
        return h_model is None or s_model is None or "n_electrons" not in atoms.info

    reference = None
    if any(needs_reference(atoms) for atoms in frames):
        reference = providing_reference(settings.reference.hamiltonian, "hamiltonian")
    knowers = model_knowers([(h_model, model), (s_model, overlap_model)])
    if reference is not None:
        elements = {s for atoms in frames for s in atoms.get_chemical_symbols()}
        knowers.insert(0, (known_elements(reference, elements), f"reference {reference.name!r}"))
    _check_frames([(source, k, atoms) for k, atoms in enumerate(frames)], knowers)
    for index, atoms in enumerate(frames):
        labelled = None
        if needs_reference(atoms):
            _progress(index, atoms, f"Hamiltonian from reference {reference.name!r}")
            labelled = reference.label(atoms, hamiltonian=True).sample
        if h_model is None:
            yield index, atoms, labelled
            continue
        _progress(index, atoms, f"Hamiltonian from the model {model}")
        hamiltonian = predict(h_model, [atoms])[0]
        n_electrons = float(atoms.info.get("n_electrons", labelled.n_electrons if labelled is not None else 0))
        if s_model is not None:
            overlap = predict(s_model, [atoms])[0]
            yield index, atoms, HamiltonianSample(hamiltonian.structure, hamiltonian.basis, n_electrons, realspace=(hamiltonian, overlap))
        elif labelled.realspace is not None:
            yield index, atoms, HamiltonianSample(
                hamiltonian.structure, hamiltonian.basis, n_electrons, realspace=(hamiltonian, labelled.realspace[1])
            )
        else:
            yield index, atoms, _gamma_sample_with_reference_overlap(hamiltonian, labelled)


def _gamma_sample_with_reference_overlap(hamiltonian, labelled):
    """Predicted H folded to Γ, with the reference's Γ overlap (Γ-only references)."""
    import numpy as np

    from thermodefect.data.operators import HamiltonianSample, KSpaceMatrices
    from thermodefect.electronic import bloch_sum

    h_gamma = bloch_sum(hamiltonian).toarray()[None]
    kspace = labelled.kspace
    overlap = None if kspace.overlap is None else np.asarray(kspace.overlap)[:1]
    return HamiltonianSample(
        hamiltonian.structure,
        hamiltonian.basis,
        labelled.n_electrons,
        kspace=KSpaceMatrices(np.zeros((1, 3)), h_gamma, overlap),
        metadata=dict(labelled.metadata),
    )


def _echo_result(index: int, atoms, result, warning: str | None = None) -> None:
    name = atoms.info.get("defect", "")
    typer.echo(
        f"[{index}] {name or 'structure'} ({len(atoms)} atoms, {result.solver}): gap {result.gap_ev:.3f} eV  "
        f"VBM {result.vbm_ev:.3f}  CBM {result.cbm_ev:.3f}  HOMO {result.homo_ev:.3f}  LUMO {result.lumo_ev:.3f} eV"
    )
    typer.echo(_edge_location(result))
    if warning:
        typer.echo(f"      {warning}", err=True)
    for level in result.levels:
        typer.echo(
            f"      defect level {level.above_vbm_ev:+.3f} eV above VBM ({level.below_cbm_ev:.3f} below CBM), "
            f"degeneracy {level.degeneracy}, {level.electrons:g} e, {100 * level.defect_weight:.0f}% on defect"
        )
    if not result.levels:
        typer.echo("      no localized in-gap state")


def _edge_location(result) -> str:
    """Where the band edges are: Γ, or the fractional k of the VBM and CBM over the sampled k-points."""
    if result.n_kpoints == 1 and result.edge_kpoints == "gamma":
        return "      band edges at Γ"

    def k(frac) -> str:
        return "Γ" if not any(frac) else "(" + ", ".join(f"{x:.3f}" for x in frac) + ")"

    kind = "direct gap" if result.gap_is_direct else f"indirect gap (smallest direct gap {result.direct_gap_ev:.3f} eV)"
    return (f"      band edges over {result.edge_kpoints} ({result.n_kpoints} k-points): VBM at {k(result.k_vbm_frac)}, "
            f"CBM at {k(result.k_cbm_frac)} (fractional k); {kind}")
