"""A synthetic run directory for report tests.

The numbers below are a hand-written test fixture, not results of any
calculation; each is distinct so a test can find it in the rendered HTML.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

TRAINING_ATOMS = 128
TRANSFER_ATOMS = 250
HOSTILE_TEXT = "<script>alert('x')</script> & \"quoted\""
# Numbers in a warning are those of its row (n_independent, n_snapshots), as the statistics stage writes them.
GAP_WARNING = "gap: mean rests on 1.4 independent snapshots (of 50); its error estimate is unreliable"


def fixture_validation() -> dict:
    """Model against reference on the same MD snapshots (``summary["validation"]``), hand-written."""
    def curve(defect, temperature, ref_gap, model_gap, gap_mae, ref_level=None, model_level=None, level_mae=None):
        return {"defect": defect, "temperature_k": temperature, "cell_atoms": TRAINING_ATOMS, "n_snapshots": 3,
                "reference_gap_mean_ev": ref_gap, "model_gap_mean_ev": model_gap,
                "reference_gap_std_ev": 0.017, "model_gap_std_ev": 0.019,
                "reference_level_mean_ev": ref_level, "model_level_mean_ev": model_level,
                "reference_level_std_ev": None if ref_level is None else 0.026,
                "model_level_std_ev": None if model_level is None else 0.028,
                "reference_level_below_cbm_mean_ev": None if ref_level is None else round(ref_gap - ref_level, 6),
                "model_level_below_cbm_mean_ev": None if model_level is None else round(model_gap - model_level, 6),
                "gap_mae_mev": gap_mae, "level_mae_mev": level_mae}

    return {
        "edges": "aligned",
        "validated_mae_mev": 30.0,
        "snapshots": [],
        "curves": [curve("As_Ga", 100.0, 0.742, 0.735, 8.21, 0.161, 0.149, 12.47),
                   curve("As_Ga", 300.0, 0.701, 0.692, 10.05, 0.183, 0.169, 14.29),
                   curve("V_Ga", 100.0, 0.751, 0.746, 6.83), curve("V_Ga", 300.0, 0.711, 0.704, 7.64)],
        "summary": [{"defect": "As_Ga", "cell_atoms": TRAINING_ATOMS, "n_snapshots": 6, "gap_mae_mev": 9.13,
                     "vbm_mae_mev": 14.02, "cbm_mae_mev": 11.56, "level_mae_mev": 13.38, "missing_levels": 1},
                    {"defect": "V_Ga", "cell_atoms": TRAINING_ATOMS, "n_snapshots": 6, "gap_mae_mev": 7.24,
                     "vbm_mae_mev": 12.61, "cbm_mae_mev": 10.92, "level_mae_mev": None, "missing_levels": 0}],
        "overall": {"n_snapshots": 12, "gap_mae_mev": 8.19, "level_mae_mev": 13.38},
    }


def fixture_summary() -> dict:
    return {
        "config": {
            "run": {"directory": "run", "seed": 7},
            "material": {"cation": "Ga", "anion": "As", "lattice_constant_angstrom": 5.65, "lattice": "fixed"},
            "supercells": {"kind": "primitive", "training_atoms": TRAINING_ATOMS, "production_atoms": TRAINING_ATOMS,
                           "transfer_atoms": [TRANSFER_ATOMS]},
            "defects": {"names": ["As_Ga", "V_Ga"]},
            "temperatures": {"training_k": [100.0, 500.0], "production_k": [100.0, 300.0], "test_k": [300.0]},
            "reference": {"forces": {"name": "xtb", "options": {"method": "GFN1-xTB"}},
                          "hamiltonian": {"name": "xtb", "options": {"method": "GFN1-xTB"}}},
        },
        "run": {"directory": f"/runs/{HOSTILE_TEXT}", "started": "2025-01-02T03:04:05", "finished": "2025-01-02T05:06:07",
                "wall_time_s": 7322.0, "thermodefect_version": "0.1.0"},
        "labels": {"forces": 431, "hamiltonian": 77, "failures": 3, "reference_forces": "xtb (GFN1-xTB)",
                   "reference_hamiltonian": "xtb (GFN1-xTB)", "seconds_per_label": 13.57},
        "forcefield": {
            "rounds": [
                {"round": 0, "n_labels": 100, "n_selected": 0, "energy_mae_mev_per_atom": 4.21,
                 "force_mae_mev_per_angstrom": 91.37, "force_rmse_mev_per_angstrom": 120.44,
                 "per_defect": {"As_Ga": {"force_mae_mev_per_angstrom": 88.12, "force_rmse_mev_per_angstrom": 111.9,
                                          "energy_mae_mev_per_atom": 3.93, "n_structures": 10},
                                "V_Ga": {"force_mae_mev_per_angstrom": 97.65, "force_rmse_mev_per_angstrom": 130.08,
                                         "energy_mae_mev_per_atom": 4.58, "n_structures": 10}}},
                {"round": 1, "n_labels": 150, "n_selected": 50, "energy_mae_mev_per_atom": 1.86,
                 "force_mae_mev_per_angstrom": 42.73, "force_rmse_mev_per_angstrom": 57.31,
                 "per_defect": {"As_Ga": {"force_mae_mev_per_angstrom": 40.04, "force_rmse_mev_per_angstrom": 52.6,
                                          "energy_mae_mev_per_atom": 1.71, "n_structures": 10},
                                "V_Ga": {"force_mae_mev_per_angstrom": 45.49, "force_rmse_mev_per_angstrom": 61.22,
                                         "energy_mae_mev_per_atom": 2.02, "n_structures": 10}}},
            ],
            "converged": True,
            "final_test": {"round": 1, "temperature_k": 300.0, "n_collapsed": 2, "energy_mae_mev_per_atom": 2.47,
                           "force_mae_mev_per_angstrom": 47.81, "force_rmse_mev_per_angstrom": 63.09,
                           "per_defect": {"As_Ga": {"force_mae_mev_per_angstrom": 47.81, "force_rmse_mev_per_angstrom": 63.09,
                                                    "energy_mae_mev_per_atom": 2.47, "n_structures": 9}},
                           "missing_defects": ["V_Ga"]},
        },
        "hamiltonian": {
            "rounds": [
                {"round": 0, "n_labels": 20, "hamiltonian_mae_mev": 12.34, "eigenvalue_mae_mev": 45.67,
                 "onsite_mae_mev": 8.76, "hopping_mae_mev": 13.02},
                {"round": 1, "n_labels": 40, "hamiltonian_mae_mev": 6.54, "eigenvalue_mae_mev": 21.09,
                 "onsite_mae_mev": 4.32, "hopping_mae_mev": 7.18},
            ],
            "converged": False,
            "stopped": "max_rounds reached",
        },
        "accuracy": [
            {"defect": "As_Ga", "temperature_k": 300.0, "cell_atoms": TRAINING_ATOMS, "n": 4, "hamiltonian_mae_mev": 5.11,
             "eigenvalue_mae_mev": 19.87, "gap_mae_mev": 23.45, "level_mae_mev": 31.62},
            {"defect": "V_Ga", "temperature_k": 300.0, "cell_atoms": TRAINING_ATOMS, "n": 4, "hamiltonian_mae_mev": 5.93,
             "eigenvalue_mae_mev": 22.58, "gap_mae_mev": 27.19, "level_mae_mev": None},
        ],
        "validation": fixture_validation(),
        "thermal": [
            {"cell_atoms": TRAINING_ATOMS, "defect": "As_Ga", "temperature_k": 100.0, "set": "production",
             "edges": "aligned", "n_snapshots": 50,
             "gap_mean_ev": 0.731, "gap_std_ev": 0.021, "gap_sem_ev": 0.0030, "gap_model_std_ev": 0.0041,
             "gap_uncertainty_ev": 0.0051, "gap_n_independent": 49.0,
             "vbm_mean_ev": -5.412, "vbm_std_ev": 0.011, "vbm_sem_ev": 0.0016, "vbm_model_std_ev": 0.0022,
             "vbm_uncertainty_ev": 0.0027, "vbm_n_independent": 47.3,
             "cbm_mean_ev": -4.681, "cbm_std_ev": 0.013, "cbm_sem_ev": 0.0019, "cbm_model_std_ev": 0.0024,
             "cbm_uncertainty_ev": 0.0031, "cbm_n_independent": 46.8,
             "conduction_electrons_mean": 0.0, "valence_holes_mean": 0.0,
             "levels": [{"label": "level 1", "relative_to": "VBM", "n_snapshots": 50, "mean_ev": 0.152, "std_ev": 0.034,
                         "sem_ev": 0.0048, "model_std_ev": 0.0063, "uncertainty_ev": 0.0079, "n_independent": 50.0,
                         "below_cbm_mean_ev": 0.579, "below_cbm_std_ev": 0.036, "below_cbm_sem_ev": 0.0051,
                         "below_cbm_model_std_ev": 0.0066, "below_cbm_uncertainty_ev": 0.0083,
                         "below_cbm_n_independent": 49.8, "electrons_mean": 2.0}],
             "convergence": {"gap": [0.742, 0.736, 0.733, 0.731], "level_1_below_cbm": [0.583, 0.581, 0.579]},
             "warnings": []},
            {"cell_atoms": TRAINING_ATOMS, "defect": "As_Ga", "temperature_k": 300.0, "set": "production",
             "edges": "aligned", "n_snapshots": 50,
             "gap_mean_ev": 0.689, "gap_std_ev": 0.043, "gap_sem_ev": 0.0363, "gap_model_std_ev": 0.0052,
             "gap_uncertainty_ev": 0.0367, "gap_n_independent": 1.4,
             "vbm_mean_ev": -5.397, "vbm_std_ev": 0.019, "vbm_sem_ev": 0.0031, "vbm_model_std_ev": 0.0027,
             "vbm_uncertainty_ev": 0.0041, "vbm_n_independent": 37.6,
             "cbm_mean_ev": -4.708, "cbm_std_ev": 0.024, "cbm_sem_ev": 0.0037, "cbm_model_std_ev": 0.0029,
             "cbm_uncertainty_ev": 0.0047, "cbm_n_independent": 42.1,
             "conduction_electrons_mean": 0.0, "valence_holes_mean": 0.0,
             "levels": [{"label": "level 1", "relative_to": "VBM", "n_snapshots": 50, "mean_ev": 0.171, "std_ev": 0.058,
                         "sem_ev": 0.0082, "model_std_ev": 0.0071, "uncertainty_ev": 0.0108, "n_independent": 50.0,
                         "below_cbm_mean_ev": 0.518, "below_cbm_std_ev": 0.061, "below_cbm_sem_ev": 0.0088,
                         "below_cbm_model_std_ev": 0.0073, "below_cbm_uncertainty_ev": 0.0114,
                         "below_cbm_n_independent": 48.0, "electrons_mean": 2.0}],
             "convergence": {"gap": [0.702, 0.694, 0.689], "level_1_below_cbm": [0.524, 0.518]},
             "warnings": [GAP_WARNING]},
            # Rows of an older run: no set, edges, ensemble, below-CBM, electrons, convergence or warnings.
            {"cell_atoms": TRAINING_ATOMS, "defect": "V_Ga", "temperature_k": 100.0, "n_snapshots": 50,
             "gap_mean_ev": 0.744, "gap_std_ev": 0.018, "gap_sem_ev": 0.0025, "vbm_mean_ev": -5.425, "vbm_std_ev": 0.010,
             "cbm_mean_ev": -4.681, "cbm_std_ev": 0.012, "levels": []},
            {"cell_atoms": TRAINING_ATOMS, "defect": "V_Ga", "temperature_k": 300.0, "n_snapshots": 50,
             "gap_mean_ev": 0.702, "gap_std_ev": 0.039, "gap_sem_ev": 0.0055, "vbm_mean_ev": -5.409, "vbm_std_ev": 0.017,
             "cbm_mean_ev": -4.707, "cbm_std_ev": 0.022, "levels": []},
            {"cell_atoms": TRANSFER_ATOMS, "defect": "As_Ga", "temperature_k": 300.0, "set": "transfer",
             "edges": "aligned", "n_snapshots": 20,
             "gap_mean_ev": 0.817, "gap_std_ev": 0.027, "gap_sem_ev": 0.0060, "gap_model_std_ev": 0.0045,
             "gap_uncertainty_ev": 0.0075, "gap_n_independent": 20.0,
             "vbm_mean_ev": -5.366, "vbm_std_ev": 0.012, "vbm_sem_ev": 0.0027, "vbm_model_std_ev": 0.0021,
             "vbm_uncertainty_ev": 0.0034, "vbm_n_independent": 19.8,
             "cbm_mean_ev": -4.549, "cbm_std_ev": 0.016, "cbm_sem_ev": 0.0036, "cbm_model_std_ev": 0.0023,
             "cbm_uncertainty_ev": 0.0043, "cbm_n_independent": 19.7,
             "conduction_electrons_mean": 0.0, "valence_holes_mean": 0.0,
             "levels": [{"label": HOSTILE_TEXT, "relative_to": "VBM", "n_snapshots": 20, "mean_ev": 0.163,
                         "std_ev": 0.041, "sem_ev": 0.0092, "model_std_ev": 0.0058, "uncertainty_ev": 0.0109,
                         "n_independent": 19.9, "below_cbm_mean_ev": 0.654, "below_cbm_std_ev": 0.043,
                         "below_cbm_sem_ev": 0.0096, "below_cbm_model_std_ev": 0.0059,
                         "below_cbm_uncertainty_ev": 0.0113, "below_cbm_n_independent": 20.0, "electrons_mean": 2.0}],
             "convergence": {"gap": [0.823, 0.817], "level_1_below_cbm": [0.659, 0.654]},
             "warnings": []},
        ],
        "timing": {"cell_atoms": TRAINING_ATOMS, "reference_seconds": 14.25, "model_seconds": 0.37, "speedup": 38.5},
        "md_validation": {"vdos_overlap": 0.964, "rdf_max_abs_diff": 0.087, "temperature_k": 300.0},
    }


def fixture_figure_data() -> dict[str, object]:
    """Hand-written results files behind the figures not drawn from the summary: relative path -> JSON."""
    distance = [0.0, 0.1, 0.2, 0.3, 0.4]
    return {
        "results/ff_al_summary.json": {"rounds": 2, "converged": True, "metrics": [{"round": 0}, {"round": 1}]},
        "results/ff_parity_round-0.json": {"reference_ev_per_angstrom": [0.0, 1.0], "predicted_ev_per_angstrom": [0.0, 1.0],
                                           "defect": ["As_Ga", "As_Ga"]},
        "results/ff_parity_round-1.json": {"reference_ev_per_angstrom": [0.1, -0.2, 0.3, 0.4],
                                           "predicted_ev_per_angstrom": [0.12, -0.18, 0.27, 0.41],
                                           "defect": ["As_Ga", "As_Ga", "V_Ga", "V_Ga"]},
        "results/figures/bands_As_Ga.json": {
            "title": "As_Ga, 8 atoms, 300 K snapshot", "energy_zero": "VBM", "labels": ["L", "Γ", "X"],
            "label_positions": [0, 2, 4], "distance_per_angstrom": distance,
            "energies_ev": [[-0.5, 0.2, 1.1], [-0.1, 0.3, 1.0], [0.0, 0.25, 0.9], [-0.2, 0.3, 1.2], [-0.4, 0.2, 1.3]],
            "defect_weight": [[0.0, 0.8, 0.1]] * 5, "vbm_ev": -5.4, "cbm_above_vbm_ev": 0.9,
            "levels": [{"above_vbm_ev": 0.25, "degeneracy": 1}], "reference_gamma_ev": [-0.05, 0.0, 0.31, 0.95],
            "source": "model", "defect": "As_Ga", "cell_atoms": 8, "temperature_k": 300.0,
        },
        "results/figures/md.json": {
            "source": "MACE NVT production MD", "defect": "pristine", "cell_atoms": 8, "frame_interval_fs": 10.0,
            "temperatures": [
                {"temperature_k": t, "n_frames": 8,
                 "vdos": {"frequency_thz": [0.0, 2.0, 4.0, 6.0], "density": [0.0, 0.3, 0.5, 0.2]},
                 "rdf": {"r_angstrom": [1.0, 2.0, 3.0], "g": {"As-As": [0.0, 0.5, 1.1], "As-Ga": [0.0, 2.0, 0.9],
                                                             "Ga-Ga": [0.0, 0.4, 1.2]}}}
                for t in (100.0, 300.0)
            ],
        },
    }


def write_figure_data(root: Path) -> Path:
    """Write :func:`fixture_figure_data` into the run directory ``root``."""
    for rel, data in fixture_figure_data().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
    return root


def make_run_dir(root: Path, summary: dict | None, config_text: str | None = "[run]\ndirectory = \"run\"\n") -> Path:
    """A run directory with ``results/summary.json`` (when given) and ``config.toml``."""
    (root / "results").mkdir(parents=True, exist_ok=True)
    (root / "report" / "figures").mkdir(parents=True, exist_ok=True)
    if summary is not None:
        (root / "results" / "summary.json").write_text(json.dumps(summary))
    if config_text is not None:
        (root / "config.toml").write_text(config_text)
    return root


@pytest.fixture
def summary() -> dict:
    return fixture_summary()


@pytest.fixture
def run_dir(tmp_path, summary) -> Path:
    return make_run_dir(tmp_path / "run", summary)


@pytest.fixture
def make_run(tmp_path):
    """Build a run directory under tmp_path from a summary dict (None: no summary.json)."""

    def build(summary: dict | None, **kwargs) -> Path:
        return make_run_dir(tmp_path / "run", summary, **kwargs)

    return build


@pytest.fixture
def hostile_text() -> str:
    return HOSTILE_TEXT


@pytest.fixture
def figure_data():
    """Writes the hand-written figure-data results files into a run directory (see :func:`fixture_figure_data`)."""
    return write_figure_data
