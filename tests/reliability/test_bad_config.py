"""Configs refused when they are loaded: non-finite and absurd numbers, empty configs, bad run
directories, unknown references and options, band paths, irreps, devices, oversized supercells.

Each corpus config (``corpus/configs_validation/``) is run as a user would, through ``validate``
and through one command that would create something; both must print exactly one ``error: ``
line naming the problem, exit with code 2, and create or change nothing: not the new run
directory, not the existing run, not the (empty) working directory.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import pytest

from .conftest import CORPUS, TINY_TOY
from .helpers import run_cli, tree_digest

CONFIGS = CORPUS / "configs_validation"

# (corpus config, the other command that loads it, fragment of the error line)
CASES = [
    ("production_steps_1e24", ["run"], "md.production_steps = 1e+24: must be at most 1000000000"),
    ("test_steps_1e10", ["structures"], "md.test_production_steps"),
    ("learning_rate_inf", ["label"], "forcefield.learning_rate = inf: must be a finite number"),
    ("hamiltonian_learning_rate_nan", ["run"], "hamiltonian.learning_rate = nan"),
    ("timestep_inf_string", ["run"], "md.timestep_fs = 'inf': must be a finite number"),
    ("timestep_50fs", ["structures"], "md.timestep_fs = 50.0: must be at most 10.0"),
    ("friction_inf", ["run"], "md.friction_per_fs = inf"),
    ("lattice_constant_100", ["structures"], "material.lattice_constant_angstrom = 100.0: must be at most 15.0"),
    ("lattice_constant_inf", ["structures"], "material.lattice_constant_angstrom = inf"),
    ("temperature_nan", ["label"], "temperatures.production_k.1 = nan"),
    ("timeout_inf", ["label"], "reference.forces.timeout_s = inf"),
    ("xtb_option_nan", ["run"], "reference.forces.options.accuracy = nan"),
    ("seed_1e24", ["structures"], "run.seed"),
    ("workers_1e6", ["label"], "compute.workers = 1000000: must be at most 4096"),
    ("empty", ["run"], "the config is empty; write one with `thermodefect init`"),
    ("comments_only", ["structures"], "the config is empty"),
    ("run_directory_empty", ["run"], "run.directory = '': is empty"),
    ("run_directory_root", ["structures"], "run.directory = '/': is a filesystem root"),
    ("reference_vasp", ["run"], "unknown reference 'vasp'"),
    ("hamiltonian_reference_vasp", ["label", "--what", "forces"], "reference.hamiltonian: unknown reference 'vasp'"),
    ("toy_spin_2", ["label"], "unknown option(s) spin"),
    ("toy_with_d_yes", ["label"], "options.with_d must be true or false, got 'yes'"),
    ("toy_cutoff_text", ["run"], "options.cutoff_angstrom must be a number"),
    ("band_path_qqq", ["structures"], "electronic.band_path = 'QQQ': point(s) 'Q' are not special points"),
    ("band_path_one_point", ["run"], "electronic.band_path = 'G': needs at least two special points"),
    ("irreps_node_garbage", ["run"], "hamiltonian.irreps_node = 'sixty-four scalars': not an e3nn irreps string"),
    ("irreps_edge_garbage", ["structures"], "hamiltonian.irreps_edge"),
    ("device_tpu", ["ff", "train"], "forcefield.device = 'tpu': unknown device"),
    ("hamiltonian_device_cuda99", ["run"], "hamiltonian.device = 'cuda:99'"),
    ("supercell_512000_atoms", ["structures"], "supercells.transfer_atoms.1 = 512000: must be at most 5000 atoms per cell"),
    ("training_cell_too_large", ["structures"], "supercells.training_atoms = 6750: must be at most 5000"),
]


def test_every_corpus_config_is_a_case():
    assert {p.stem for p in CONFIGS.glob("*.toml")} == {case[0] for case in CASES}
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def inputs(labelled_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-config")
    configs = root / "configs"
    configs.mkdir()
    for path in CONFIGS.glob("*.toml"):
        data = path.read_bytes().replace(b"@RUN@", str(labelled_run["run"]).encode())
        (configs / path.name).write_bytes(data.replace(b"@NEWRUN@", str(root / "new-run").encode()))
    return {"root": root, "configs": configs, "run": labelled_run["run"], "good": labelled_run["structures"]}


def _argv(command: list[str], config: Path, good: Path) -> list:
    argv = command[:1] + (command[1:2] if command[:1] == ["ff"] else []) + [config]
    if command[0] == "label":
        argv += ["-s", good, "--quiet", *command[1:]]
    return argv


def _assert_refused(result, fragment: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout
    assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("step", ["validate", "other"])
@pytest.mark.parametrize("name, command, fragment", CASES, ids=[case[0] for case in CASES])
def test_bad_config_is_refused_before_anything_is_created(inputs, tmp_path, name, command, fragment, step):
    cwd = tmp_path / "cwd"  # a relative or empty run.directory would land here
    cwd.mkdir()
    new_run = inputs["root"] / "new-run"
    before = tree_digest(inputs["run"])
    argv = ["validate", inputs["configs"] / f"{name}.toml"] if step == "validate" else _argv(command, inputs["configs"] / f"{name}.toml", inputs["good"])
    try:
        result = run_cli(argv, cwd=cwd)
        created = new_run.exists()
    finally:
        shutil.rmtree(new_run, ignore_errors=True)  # one failing case must not fail the next
    _assert_refused(result, fragment)
    assert not created, "a refused config created its run directory"
    assert tree_digest(cwd) == {}, "a refused config wrote into the working directory"
    assert tree_digest(inputs["run"]) == before, "a refused config changed an existing run"


def test_cuda_refused_where_torch_has_no_cuda(tmp_path):
    config = tmp_path / "cuda.toml"
    config.write_text(f'[run]\ndirectory = "{tmp_path / "run"}"\n[reference.forces]\nname = "toy"\noptions = {{}}\n'
                      '[reference.hamiltonian]\nname = "toy"\noptions = {}\n[forcefield]\ndevice = "cuda"\n')
    result = run_cli(["validate", config], cwd=tmp_path)
    if result.returncode == 0 and "forcefield.device cuda" in result.stdout:
        pytest.skip('this machine has CUDA: device = "cuda" is valid here')
    for result in (result, run_cli(["run", config], cwd=tmp_path)):
        _assert_refused(result, "forcefield.device = 'cuda': CUDA is not available")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cuda.toml"], "a refused config created files"


# -- shipped configs still validate --------------------------------------------


@pytest.mark.parametrize("flags", [[], ["--demo"]], ids=["default", "demo"])
def test_init_configs_validate(tmp_path, flags):
    assert run_cli(["init", *flags], cwd=tmp_path).returncode == 0
    result = run_cli(["validate", "thermodefect.toml"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "thermodefect.toml: valid" in result.stdout and "XtbReference" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thermodefect.toml"], "validate created files"


def test_tiny_toy_validates(tmp_path):
    result = run_cli(["validate", TINY_TOY], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ToyTightBinding" in result.stdout and "devices     forcefield.device cpu" in result.stdout


def test_paper_slurm_settings_load(tmp_path):
    """Its values are within every bound (its cuda devices need a GPU node, checked by the preflight there)."""
    from thermodefect.settings import load_settings

    path = tmp_path / "paper_slurm.toml"
    path.write_text(resources.files("thermodefect.configs").joinpath("paper_slurm.toml").read_text())
    assert load_settings(path).forcefield.device == "cuda"


# -- the bounds themselves, in process -----------------------------------------

ACCEPTED = [
    {"md": {"production_steps": 10**9, "timestep_fs": 10.0, "friction_per_fs": 1.0}},
    {"material": {"lattice_constant_angstrom": 2.0}},
    {"material": {"lattice_constant_angstrom": 15.0}},
    {"supercells": {"kind": "cubic", "training_atoms": 8, "production_atoms": 64, "transfer_atoms": [4096]}},
    {"electronic": {"band_path": "GXWKGLUWLK"}},
    {"hamiltonian": {"irreps_node": "16x0e + 8x1o+4x2e", "irreps_edge": "2x0e+1x1o+1x1e+1x2e+1x2o+1x3o+1x3e+1x4e"}},
    {"forcefield": {"device": "cuda:1"}, "hamiltonian": {"device": "mps"}},
    {"run": {"directory": "runs/gaas", "seed": 2**31 - 1}},
]


@pytest.mark.parametrize("data", ACCEPTED)
def test_values_at_the_bounds_are_accepted(data):
    from thermodefect.settings import settings_from_dict

    settings_from_dict(data)


REFUSED = [
    ({"material": {"lattice_constant_angstrom": 1.99}}, "must be at least 2.0"),
    ({"md": {"equilibration_steps": 10**9 + 1}}, "md.equilibration_steps = 1000000001: must be at most 1000000000"),
    ({"md": {"sample_interval": float("nan")}}, "md.sample_interval = nan: must be a finite number"),
    ({"reference": {"forces": {"options": {"kwargs": {"x": [1.0, float("-inf")]}}}}}, "reference.forces.options.kwargs.x.1 = -inf"),
    ({"hamiltonian": {"irreps_node": "0x0e+4x1o"}}, "multiplicities must be at least 1"),
    ({"hamiltonian": {"irreps_edge": ""}}, "not an e3nn irreps string"),
    ({"electronic": {"band_path": "lgxk"}}, "'g', 'k', 'l', 'x'"),
    ({"electronic": {"band_path": "L,G"}}, "','"),
    ({"forcefield": {"device": "cuda:"}}, "unknown device"),
    ({"hamiltonian": {"device": "gpu"}}, "hamiltonian.device = 'gpu'"),
    ({"run": {"seed": -1}}, "run.seed = -1: must be at least 0"),
    ({"run": {"directory": "   "}}, "is empty"),
    ({"labelling": {"rattle_stdev_angstrom": 2.0}}, "must be at most 1.0"),
    ({"hamiltonian": {"ensemble_size": 1000}}, "hamiltonian.ensemble_size = 1000: must be at most 100"),
]


@pytest.mark.parametrize("data, fragment", REFUSED)
def test_values_out_of_bounds_are_refused_with_one_line(data, fragment):
    from thermodefect.settings import SettingsError, settings_from_dict

    with pytest.raises(SettingsError) as info:
        settings_from_dict(data, "c.toml")
    assert "\n" not in str(info.value) and fragment in str(info.value), str(info.value)


def test_preflight_resolves_references_without_a_calculation():
    from thermodefect.settings import settings_from_dict
    from thermodefect.workflow.preflight import PreflightError, preflight

    toy = {"name": "toy", "options": {"with_d": True, "cutoff_angstrom": 4.0}}
    resolved = preflight(settings_from_dict({"reference": {"forces": toy, "hamiltonian": toy}}))
    assert resolved.references["hamiltonian"] == "toy (thermodefect.reference.toy.ToyTightBinding)"
    assert resolved.devices == {"forcefield.device": "cpu", "hamiltonian.device": "cpu"}
    albe = settings_from_dict({"reference": {"forces": toy, "hamiltonian": {"name": "albe", "options": {}}}})
    with pytest.raises(PreflightError, match=r"reference.hamiltonian.name = 'albe': provides no hamiltonian"):
        preflight(albe)
    assert preflight(albe, needs=["forces"]).references["hamiltonian"].startswith("albe (")


@pytest.mark.parametrize("options, fragment", [
    ({"spin": 2}, "unknown option(s) spin"),
    ({"with_d": "yes"}, "options.with_d must be true or false"),
    ({"orthogonal": 1}, "options.orthogonal must be true or false"),
    ({"cutoff_angstrom": 0.5}, "options.cutoff_angstrom"),
    ({"cutoff_angstrom": float("nan")}, "options.cutoff_angstrom"),
    ({"cutoff_angstrom": True}, "options.cutoff_angstrom"),
])
def test_toy_options_checked_by_the_registry(options, fragment):
    from thermodefect.core.errors import UserInputError
    from thermodefect.reference.registry import get_reference
    from thermodefect.settings import ReferenceSettings

    with pytest.raises(UserInputError) as info:
        get_reference(ReferenceSettings(name="toy", options=options))
    assert fragment in str(info.value)

