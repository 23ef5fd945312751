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
                                          "energy_mae_mev_per_atom": 3.93, "n": 10},
                                "V_Ga": {"force_mae_mev_per_angstrom": 97.65, "force_rmse_mev_per_angstrom": 130.08,
                                         "energy_mae_mev_per_atom": 4.58, "n": 10}}},
                {"round": 1, "n_labels": 150, "n_selected": 50, "energy_mae_mev_per_atom": 1.86,
                 "force_mae_mev_per_angstrom": 42.73, "force_rmse_mev_per_angstrom": 57.31,
                 "per_defect": {"As_Ga": {"force_mae_mev_per_angstrom": 40.04, "force_rmse_mev_per_angstrom": 52.6,
                                          "energy_mae_mev_per_atom": 1.71, "n": 10},
                                "V_Ga": {"force_mae_mev_per_angstrom": 45.49, "force_rmse_mev_per_angstrom": 61.22,
                                         "energy_mae_mev_per_atom": 2.02, "n": 10}}},
            ],
            "converged": True,
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
        "thermal": [
            {"cell_atoms": TRAINING_ATOMS, "defect": "As_Ga", "temperature_k": 100.0, "n_snapshots": 50,
             "gap_mean_ev": 0.731, "gap_std_ev": 0.021, "gap_sem_ev": 0.0030, "vbm_mean_ev": -5.412, "vbm_std_ev": 0.011,
             "cbm_mean_ev": -4.681, "cbm_std_ev": 0.013,
             "levels": [{"label": "a1", "mean_ev": 0.152, "std_ev": 0.034, "sem_ev": 0.0048, "relative_to": "VBM"}]},
            {"cell_atoms": TRAINING_ATOMS, "defect": "As_Ga", "temperature_k": 300.0, "n_snapshots": 50,
             "gap_mean_ev": 0.689, "gap_std_ev": 0.043, "gap_sem_ev": 0.0061, "vbm_mean_ev": -5.397, "vbm_std_ev": 0.019,
             "cbm_mean_ev": -4.708, "cbm_std_ev": 0.024,
             "levels": [{"label": "a1", "mean_ev": 0.171, "std_ev": 0.058, "sem_ev": 0.0082, "relative_to": "VBM"}]},
            {"cell_atoms": TRAINING_ATOMS, "defect": "V_Ga", "temperature_k": 100.0, "n_snapshots": 50,
             "gap_mean_ev": 0.744, "gap_std_ev": 0.018, "gap_sem_ev": 0.0025, "vbm_mean_ev": -5.425, "vbm_std_ev": 0.010,
             "cbm_mean_ev": -4.681, "cbm_std_ev": 0.012, "levels": []},
            {"cell_atoms": TRAINING_ATOMS, "defect": "V_Ga", "temperature_k": 300.0, "n_snapshots": 50,
             "gap_mean_ev": 0.702, "gap_std_ev": 0.039, "gap_sem_ev": 0.0055, "vbm_mean_ev": -5.409, "vbm_std_ev": 0.017,
             "cbm_mean_ev": -4.707, "cbm_std_ev": 0.022, "levels": []},
            {"cell_atoms": TRANSFER_ATOMS, "defect": "As_Ga", "temperature_k": 300.0, "n_snapshots": 20,
             "gap_mean_ev": 0.817, "gap_std_ev": 0.027, "gap_sem_ev": 0.0060, "vbm_mean_ev": -5.366, "vbm_std_ev": 0.012,
             "cbm_mean_ev": -4.549, "cbm_std_ev": 0.016,
             "levels": [{"label": HOSTILE_TEXT, "mean_ev": 0.163, "std_ev": 0.041, "sem_ev": 0.0092, "relative_to": "VBM"}]},
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
