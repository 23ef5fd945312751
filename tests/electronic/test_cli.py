"""``thermodefect gap`` and ``thermodefect bands`` run as a user would: the toy reference, and an indirect-gap model as DeepH folders."""

import json

from ase.io import write
from typer.testing import CliRunner

from thermodefect.cli.main import app
from thermodefect.data.deeph import write_deeph
from thermodefect.electronic.kpoints import gamma_centred_grid
from thermodefect.structures import make_defect, parse_defect, pristine_supercell

CONFIG = """
[run]
directory = "{run}"
[reference.hamiltonian]
{reference}
[electronic]
points_per_segment = 3
bands_near_gap = 10
{extra}"""
TOY_REFERENCE = 'name = "toy"\noptions = {}'


def _setup(tmp_path):
    pristine = pristine_supercell("Ga", "As", 5.65, 16, "primitive")
    antisite = make_defect(pristine, parse_defect("As_Ga", "Ga", "As"))
    structures = tmp_path / "cells.extxyz"
    write(str(structures), [pristine, antisite], format="extxyz")
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(run=tmp_path / "run", reference=TOY_REFERENCE, extra=""))
    return config, structures


def test_gap_command_prints_and_writes_json(tmp_path):
    config, structures = _setup(tmp_path)
    result = CliRunner().invoke(app, ["gap", str(config), "--structures", str(structures)])
    assert result.exit_code == 0, result.output
    assert "gap" in result.output and "defect level" in result.output
    data = json.loads((tmp_path / "run" / "results" / "electronic" / "gap.json").read_text())
    first, second = data["results"]
    assert first["defect"] == "pristine" and first["levels"] == []
    assert second["defect"] == "As_Ga" and second["levels"]
    assert first["gap_ev"] > 0.5


def test_bands_command_writes_plots_and_json(tmp_path):
    config, structures = _setup(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["bands", str(config), "--structures", str(structures), "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "bands.json").read_text())
    assert data["results"][0]["labels"] == ["L", "Γ", "X", "K"]
    assert len(data["results"][1]["energies_ev"]) == 3 * 3 + 1
    assert (out / "bands-0.png").stat().st_size > 1000 and (out / "bands-1.png").exists()


def test_missing_structures_file_is_one_line_error(tmp_path):
    config, _ = _setup(tmp_path)
    result = CliRunner().invoke(app, ["gap", str(config), "--structures", str(tmp_path / "nope.xyz")])
    assert result.exit_code == 2
    assert "structure file not found" in result.output


def test_gap_aligns_a_defect_frame_to_the_pristine_frame_of_its_lattice(tmp_path):
    config, structures = _setup(tmp_path)
    result = CliRunner().invoke(app, ["gap", str(config), "--structures", str(structures)])
    assert result.exit_code == 0, result.output
    first, second = json.loads((tmp_path / "run" / "results" / "electronic" / "gap.json").read_text())["results"]
    assert first["edges"] == "cell" and second["edges"] == "aligned"
    # The 16-atom pristine cell (planes 6.5 Å apart) is k-sampled; the defect cell stays at Γ.
    assert first["edge_kpoints"] == "grid+path" and second["edge_kpoints"] == "gamma"
    assert abs(second["gap_ev"] - first["gap_ev"]) < 1e-9  # one pristine frame: its gap is the host gap
    assert abs(second["vbm_ev"] - (first["vbm_ev"] + second["alignment_ev"])) < 1e-9


def test_gap_without_a_pristine_frame_aligns_to_the_ideal_cell(tmp_path):
    config, structures = _setup(tmp_path)
    pristine = pristine_supercell("Ga", "As", 5.65, 16, "primitive")
    alone = tmp_path / "antisite.extxyz"
    write(str(alone), [make_defect(pristine, parse_defect("As_Ga", "Ga", "As"))], format="extxyz")
    both = json.loads(_gap_json(tmp_path, config, structures))["results"][1]
    only = json.loads(_gap_json(tmp_path, config, alone))["results"][0]
    assert only["edges"] == "aligned"
    assert abs(only["vbm_ev"] - both["vbm_ev"]) < 1e-6  # the ideal cell is the file's pristine frame
    cell_rule = tmp_path / "cell.toml"
    cell_rule.write_text(config.read_text() + "band_edges = \"cell\"\n")
    assert json.loads(_gap_json(tmp_path, cell_rule, alone))["results"][0]["edges"] == "cell"


def _gap_json(tmp_path, config, structures) -> str:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["gap", str(config), "--structures", str(structures), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return (out / "gap.json").read_text()


# The band path resolves the indirect model's CBM to 1 meV (tests/electronic/test_edge_kpoints.py).
PATH_TOL_EV = 2e-3


def _indirect_setup(tmp_path, indirect, extra: str = "", frames=None, repeat: int = 1):
    """The indirect-gap model's primitive cell (or its ``repeat``³ supercell) as a DeepH folder (the
    reference) and a structure file of it (or of ``frames``)."""
    atoms, sample = indirect.sample(repeat)
    write_deeph(sample, tmp_path / "deeph" / "cell")
    structures = tmp_path / "primitive.extxyz"
    write(str(structures), frames or [atoms], format="extxyz")
    config = tmp_path / "indirect.toml"
    reference = f'name = "deeph"\noptions = {{directory = "{tmp_path / "deeph"}"}}'
    config.write_text(CONFIG.format(run=tmp_path / "run", reference=reference, extra=extra))
    return config, structures


def test_gap_samples_k_points_of_a_primitive_cell_and_says_where_the_edges_are(tmp_path, indirect):
    config, structures = _indirect_setup(tmp_path, indirect)
    scan = indirect.dense_scan()
    out = CliRunner().invoke(app, ["gap", str(config), "--structures", str(structures)])
    assert out.exit_code == 0, out.output
    assert "band edges over grid+path" in out.output and "VBM at Γ, CBM at (" in out.output
    assert "indirect gap (smallest direct gap" in out.output and "upper bound" not in out.output
    (row,) = json.loads((tmp_path / "run" / "results" / "electronic" / "gap.json").read_text())["results"]
    assert row["edge_kpoints"] == "grid+path" and row["n_kpoints"] > 500 and row["gap_is_direct"] is False
    assert abs(row["gap_ev"] - scan["gap"]) < PATH_TOL_EV
    assert row["k_vbm_frac"] == [0.0, 0.0, 0.0] and indirect.same_star(row["k_cbm_frac"], [1 / 3] * 3)


def test_gap_forced_to_gamma_on_a_primitive_cell_warns_of_an_upper_bound(tmp_path, indirect):
    config, structures = _indirect_setup(tmp_path, indirect, extra='edge_kpoints = "gamma"')
    out = CliRunner().invoke(app, ["gap", str(config), "--structures", str(structures)])
    assert out.exit_code == 0, out.output
    warnings = [line for line in out.output.splitlines() if "upper bound" in line]
    assert len(warnings) == 1 and "3.0 Å apart" in warnings[0] and 'edge_kpoints = "auto"' in warnings[0]
    assert "band edges at Γ" in out.output
    (row,) = json.loads((tmp_path / "run" / "results" / "electronic" / "gap.json").read_text())["results"]
    assert row["edge_kpoints"] == "gamma" and row["n_kpoints"] == 1
    assert abs(row["gap_ev"] - indirect.dense_scan()["gamma_gap"]) < 1e-9  # 5.95 eV, not 0.53


def test_a_defect_frame_is_aligned_to_the_gamma_analysis_of_a_k_sampled_pristine_frame(tmp_path, indirect):
    atoms = indirect.cell(2)  # 16 atoms, lattice planes 6 Å apart: k-sampled when pristine
    marked = atoms.copy()  # the same atoms marked as a defect cell: analysed at Γ, aligned to the pristine frame
    marked.info.update({"defect": "marked", "defect_site": [0.0, 0.0, 0.0], "defect_index": 0})
    config, structures = _indirect_setup(tmp_path, indirect, frames=[atoms, marked], repeat=2)
    out = CliRunner().invoke(app, ["gap", str(config), "--structures", str(structures)])
    assert out.exit_code == 0, out.output
    pristine, defect = json.loads((tmp_path / "run" / "results" / "electronic" / "gap.json").read_text())["results"]
    # Γ of the 2³ supercell holds the primitive cell's k-points with k_i ∈ {0, 1/2}.
    folded = indirect.bands(gamma_centred_grid((2, 2, 2)))
    gamma_gap = folded[:, 1].min() - folded[:, 0].max()
    assert pristine["edge_kpoints"] == "grid+path" and abs(pristine["gap_ev"] - indirect.dense_scan()["gap"]) < PATH_TOL_EV
    assert defect["edge_kpoints"] == "gamma" and defect["edges"] == "aligned"
    assert abs(defect["alignment_ev"]) < 1e-9 and abs(defect["gap_ev"] - gamma_gap) < 1e-9
    assert gamma_gap > pristine["gap_ev"] + 0.5  # 1.13 eV against 0.53 eV
    assert "a defect cell is analysed at Γ" in out.output  # its Γ gap is an upper bound too


def test_bands_prints_where_the_edges_are(tmp_path, indirect):
    config, structures = _indirect_setup(tmp_path, indirect)
    out_dir = tmp_path / "out"
    out = CliRunner().invoke(app, ["bands", str(config), "--structures", str(structures), "-o", str(out_dir)])
    assert out.exit_code == 0, out.output
    assert "band edges over grid+path" in out.output and "indirect" in out.output
    (row,) = json.loads((out_dir / "bands.json").read_text())["results"]
    assert row["gap"]["edge_kpoints"] == "grid+path" and row["gap"]["gap_is_direct"] is False
    assert indirect.same_star(row["gap"]["k_cbm_frac"], [1 / 3] * 3)
    assert abs(row["gap"]["gap_ev"] - indirect.dense_scan()["gap"]) < PATH_TOL_EV
    assert (out_dir / "bands-0.png").stat().st_size > 1000
