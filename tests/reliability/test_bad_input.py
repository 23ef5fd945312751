"""Malformed inputs through the CLI as a user runs it: one line on stderr, exit 2, run directory untouched.

Each case names the command line (``{...}`` fields are filled below) and a
fragment the error line must contain, so a case passes only when it is
rejected for its own reason.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import h5py
import pytest

from .conftest import CORPUS
from .helpers import run_cli, tree_digest

PAYLOAD_MARKER = "pwned-by-pickle"  # file a malicious checkpoint would create

# (case id, command line, fragment of the error line)
CASES = [
    # -- configs ---------------------------------------------------------
    ("config-missing-file", ["validate", "{tmp}/nope.toml"], "not found"),
    ("config-is-directory", ["validate", "{tmp}"], "not found"),
    ("config-binary-garbage", ["validate", "{cfg:binary_garbage}"], "not"),
    ("config-toml-syntax", ["run", "{cfg:toml_syntax_error}"], "not valid TOML"),
    ("config-unknown-section", ["validate", "{cfg:unknown_top_section}"], "bogus"),
    ("config-unknown-key", ["run", "{cfg:unknown_key_in_section}"], "colour"),
    ("config-wrong-type-seed", ["structures", "{cfg:wrong_type_seed}"], "seed"),
    ("config-negative-temperature", ["run", "{cfg:negative_temperature}"], "production_k"),
    ("config-empty-temperatures", ["validate", "{cfg:empty_temperature_list}"], "training_k"),
    ("config-temperature-text", ["label", "{cfg:temperature_is_text}", "-s", "{good}"], "production_k"),
    ("config-unknown-defect", ["structures", "{cfg:unknown_defect}"], "Xx_i"),
    ("config-repeated-defect", ["validate", "{cfg:repeated_defect}"], "repeat"),
    ("config-defect-other-material", ["structures", "{cfg:defect_of_other_material}"], "Si_i"),
    ("config-impossible-cubic-cell", ["structures", "{cfg:impossible_cubic_supercell}"], "100"),
    ("config-impossible-transfer-cell", ["run", "{cfg:impossible_transfer_size}"], "7"),
    ("config-impossible-primitive-cell", ["structures", "{cfg:impossible_primitive_supercell}"], "17"),
    ("config-unknown-supercell-kind", ["validate", "{cfg:unknown_supercell_kind}"], "kind"),
    ("config-zero-atoms", ["run", "{cfg:zero_atoms_supercell}"], "training_atoms"),
    ("config-unknown-reference", ["label", "{cfg:unknown_reference}", "-s", "{good}"], "vasp5"),
    ("config-negative-timeout", ["validate", "{cfg:negative_timeout}"], "timeout_s"),
    ("config-negative-retries", ["label", "{cfg:negative_retries}", "-s", "{good}"], "retries"),
    ("config-zero-workers", ["run", "{cfg:zero_workers}"], "workers"),
    ("config-unknown-engine", ["validate", "{cfg:unknown_engine}"], "engine"),
    ("config-unknown-element", ["structures", "{cfg:unknown_element}"], "Xx"),
    ("config-same-cation-anion", ["validate", "{cfg:same_cation_anion}"], "differ"),
    ("config-negative-lattice", ["run", "{cfg:negative_lattice_constant}"], "lattice_constant_angstrom"),
    ("config-mace-max-L", ["ff", "train", "{cfg:mace_max_L_too_large}"], "max_L"),
    ("config-options-not-table", ["validate", "{cfg:reference_options_not_table}"], "options"),
    ("config-toy-unknown-option", ["label", "{cfg:label_toy_unknown_option}", "-s", "{good}"], "spin"),
    ("config-faulty-bad-rate", ["label", "{cfg:label_faulty_bad_rate}", "-s", "{good}"], "fault_rate"),
    ("config-ase-missing-module", ["label", "{cfg:label_ase_missing_module}", "-s", "{good}"], "nosuchcode"),
    ("config-no-hamiltonian-reference", ["label", "{cfg:label_albe_for_hamiltonian}", "-s", "{good}"], "hamiltonian"),
    ("config-other-run-same-dir", ["label", "{cfg:label_toy_other_run}", "-s", "{good}"], "different config"),
    ("run-until-unknown-stage", ["run", "{config}", "--until", "bogus_stage"], "bogus_stage"),
    ("run-only-unknown-stage", ["run", "{config}", "--only", "bogus_stage"], "bogus_stage"),
    ("label-unknown-target", ["label", "{config}", "-s", "{good}", "--what", "energies"], "energies"),
    # -- structure files -------------------------------------------------
    ("structures-missing-file", ["label", "{config}", "-s", "{tmp}/nope.extxyz"], "not found"),
    ("structures-truncated", ["label", "{config}", "-s", "{corpus}/structures/truncated_frame.extxyz"], "truncated_frame"),
    ("structures-unknown-element", ["label", "{config}", "-s", "{corpus}/structures/unknown_element.extxyz"], "unknown_element"),
    ("structures-species-not-in-reference", ["label", "{config}", "-s", "{corpus}/structures/species_not_in_reference.extxyz"], "Cu"),
    ("structures-overlapping-atoms", ["label", "{config}", "-s", "{corpus}/structures/overlapping_atoms.extxyz"], "Å apart"),
    ("structures-coincident-atoms", ["ham", "predict", "{config}", "{corpus}/structures/coincident_atoms.extxyz", "-m", "{ckpt}", "-o", "{tmp}/pred"], "Å apart"),
    ("structures-empty", ["label", "{config}", "-s", "{corpus}/structures/empty.extxyz"], "empty.extxyz"),
    ("structures-nan-position", ["label", "{config}", "-s", "{corpus}/structures/nan_position.extxyz"], "finite"),
    ("structures-wrong-atom-count", ["label", "{config}", "-s", "{corpus}/structures/wrong_atom_count.extxyz"], "wrong_atom_count"),
    ("structures-wrong-columns", ["label", "{config}", "-s", "{corpus}/structures/wrong_columns.extxyz"], "wrong_columns"),
    ("structures-binary-garbage", ["ham", "predict", "{config}", "{corpus}/structures/binary_garbage.extxyz", "-m", "{ckpt}", "-o", "{tmp}/pred"], "binary_garbage"),
    ("structures-not-a-structure", ["gap", "{config}", "-s", "{corpus}/structures/not_a_structure.xyz", "--model", "{ckpt}"], "not_a_structure"),
    # -- datasets ----------------------------------------------------------
    ("forces-without-labels", ["ff", "train", "{config}", "--data", "{corpus}/datasets/forces_without_labels.extxyz"], "REF_"),
    ("forces-wrong-shape", ["ff", "train", "{config}", "--data", "{corpus}/datasets/forces_wrong_shape.extxyz"], "forces_wrong_shape"),
    ("forces-missing-file", ["ff", "eval", "{config}", "--data", "{tmp}/nope.extxyz", "--model", "{tmp}/nope.model"], "nope"),
    ("hdf5-text-file", ["ham", "train", "{config}", "--data", "{corpus}/datasets/text_named_h5.h5"], "text_named_h5"),
    ("hdf5-truncated-index", ["ham", "train", "{config}", "--data", "{derived}/truncated_index/hamiltonians.h5"], "hamiltonians.h5"),
    ("hdf5-truncated-shard", ["ham", "eval", "{config}", "-m", "{ckpt}", "--data", "{derived}/truncated_shard/hamiltonians.h5"], "unreadable"),
    ("hdf5-missing-shard", ["ham", "train", "{config}", "--data", "{derived}/missing_shard/hamiltonians.h5"], "missing"),
    ("hdf5-foreign-layout", ["ham", "train", "{config}", "--data", "{derived}/foreign.h5"], "not a thermodefect"),
    ("hdf5-wrong-block-shape", ["ham", "train", "{config}", "--data", "{derived}/wrong_shape/hamiltonians.h5"], "blocks"),
    ("hdf5-missing-file", ["ham", "train", "{config}", "--data", "{tmp}/nope.h5"], "nope.h5"),
    # -- model checkpoints ---------------------------------------------------
    ("checkpoint-missing", ["ham", "eval", "{config}", "-m", "{tmp}/no-model"], "no-model"),
    ("checkpoint-empty-ensemble", ["ham", "eval", "{config}", "-m", "{derived}/empty_ensemble"], "member"),
    ("checkpoint-json-garbage", ["ham", "eval", "{config}", "-m", "{derived}/json_garbage"], "not valid JSON"),
    ("checkpoint-tampered-weights", ["ham", "eval", "{config}", "-m", "{derived}/tampered"], "checksum"),
    ("checkpoint-wrong-architecture", ["ham", "predict", "{config}", "{good}", "-m", "{derived}/wrong_arch", "-o", "{tmp}/pred"], "tensor"),
    ("checkpoint-pickle-payload", ["ham", "eval", "{config}", "-m", "{derived}/malicious"], "refused"),
    ("checkpoint-pickle-payload-gap", ["gap", "{config}", "-s", "{good}", "--model", "{derived}/malicious"], "refused"),
    ("checkpoint-mace-garbage", ["ff", "eval", "{config}", "--model", "{corpus}/datasets/text_named_h5.h5", "--data", "{good_labelled}"], "text_named_h5"),
    # -- run directories -------------------------------------------------
    ("status-not-a-run", ["status", "{corpus}"], "not a run directory"),
    ("status-corrupt-manifest", ["status", "{derived}/corrupt_manifest_run"], "manifest"),
    ("report-no-summary", ["report", "{run}"], "summary"),
    ("report-corrupt-summary", ["report", "{derived}/corrupt_summary_run"], "summary"),
]


class _Payload:
    """Unpickling this runs ``open(marker, "w")``: what a hostile checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _write_checkpoint_weights(directory: Path, data: bytes) -> None:
    (directory / "model.pt").write_bytes(data)
    meta = json.loads((directory / "model.json").read_text())
    meta["weights_sha256"] = hashlib.sha256(data).hexdigest()
    (directory / "model.json").write_text(json.dumps(meta))


def _derive_inputs(derived: Path, run: Path, checkpoint: Path) -> None:
    """Malformed binaries made from real outputs (see corpus/README.md)."""
    import torch

    data = run / "data"
    index = (data / "hamiltonians.h5").read_bytes()
    (derived / "truncated_index").mkdir(parents=True)
    (derived / "truncated_index" / "hamiltonians.h5").write_bytes(index[: len(index) // 2])
    shutil.copytree(data, derived / "truncated_shard")
    for shard in (derived / "truncated_shard" / "hamiltonians.h5.d").glob("*.h5"):
        shard.write_bytes(shard.read_bytes()[:1000])
    (derived / "missing_shard").mkdir()
    shutil.copy(data / "hamiltonians.h5", derived / "missing_shard" / "hamiltonians.h5")
    with h5py.File(derived / "foreign.h5", "w") as f:
        f.create_dataset("x", data=[1, 2, 3])
    shutil.copytree(data, derived / "wrong_shape")
    for shard in (derived / "wrong_shape" / "hamiltonians.h5.d").glob("*.h5"):
        with h5py.File(shard, "a") as f:
            blocks = f["realspace/hamiltonian/blocks"][()]
            del f["realspace/hamiltonian/blocks"]
            f["realspace/hamiltonian/blocks"] = blocks[:-1, :3, :3]
    (derived / "empty_ensemble").mkdir()
    shutil.copytree(checkpoint, derived / "json_garbage")
    (derived / "json_garbage" / "model.json").write_text("{ not json")
    shutil.copytree(checkpoint, derived / "tampered")
    weights = bytearray((derived / "tampered" / "model.pt").read_bytes())
    weights[len(weights) // 2] ^= 0xFF
    (derived / "tampered" / "model.pt").write_bytes(bytes(weights))
    shutil.copytree(checkpoint, derived / "wrong_arch")
    state = torch.load(checkpoint / "model.pt", weights_only=True)
    first = next(iter(state))
    state[first] = torch.zeros(tuple(s + 1 for s in state[first].shape) or (2,), dtype=state[first].dtype)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    _write_checkpoint_weights(derived / "wrong_arch", buffer.getvalue())
    shutil.copytree(checkpoint, derived / "malicious")
    buffer = io.BytesIO()
    torch.save({"weights": _Payload(derived / PAYLOAD_MARKER)}, buffer)
    _write_checkpoint_weights(derived / "malicious", buffer.getvalue())
    shutil.copytree(run, derived / "corrupt_manifest_run")
    (derived / "corrupt_manifest_run" / "manifest.json").write_text('{"version": 1, "stages": {"structures": ')
    shutil.copytree(run, derived / "corrupt_summary_run")
    (derived / "corrupt_summary_run" / "results" / "summary.json").write_text("[1, 2,")


@pytest.fixture(scope="module")
def inputs(labelled_run, good_checkpoint, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-input")
    derived = root / "derived"
    derived.mkdir()
    _derive_inputs(derived, labelled_run["run"], good_checkpoint)
    configs = root / "configs"
    configs.mkdir()
    for path in (CORPUS / "configs").glob("*.toml"):
        data = path.read_bytes().replace(b"@RUN@", str(labelled_run["run"]).encode())
        data = data.replace(b"@NEWRUN@", str(root / "new-run").encode())
        (configs / path.name).write_bytes(data)
    other = labelled_run["config"].read_text().replace("seed = 3", "seed = 4")
    (configs / "label_toy_other_run.toml").write_text(other)
    return {
        "tmp": root, "derived": derived, "configs": configs, "config": labelled_run["config"], "run": labelled_run["run"],
        "good": labelled_run["structures"], "good_labelled": labelled_run["run"] / "data" / "forces.extxyz",
        "corpus": CORPUS, "ckpt": good_checkpoint,
    }


def _fill(arg: str, inputs: dict) -> str:
    if arg.startswith("{cfg:"):
        return str(inputs["configs"] / (arg[5:-1] + ".toml"))
    return arg.format(**{k: str(v) for k, v in inputs.items()})


def test_corpus_is_large_enough():
    files = [p for p in CORPUS.rglob("*") if p.is_file() and p.name != "README.md"]
    assert len(CASES) >= 40 and len(files) >= 30
    assert len({case[0] for case in CASES}) == len(CASES)
    used = {arg[5:-1] for _, argv, _ in CASES for arg in argv if arg.startswith("{cfg:")}
    assert {p.stem for p in (CORPUS / "configs").glob("*.toml")} <= used, "every corpus config is run"


HEAVY_COMMANDS = ("ham", "ff", "gap", "bands")  # import torch / mace-torch: seconds per subprocess


def _param(case_id, argv, fragment):
    marks = [pytest.mark.slow] if argv[0] in HEAVY_COMMANDS else []
    return pytest.param(case_id, argv, fragment, marks=marks, id=case_id)


@pytest.mark.parametrize("case_id, argv, fragment", [_param(*case) for case in CASES])
def test_bad_input_is_rejected_cleanly(inputs, case_id, argv, fragment):
    watched = [inputs["run"], inputs["tmp"] / "new-run"]
    watched += [inputs["derived"] / d for d in ("corrupt_manifest_run", "corrupt_summary_run")]
    before = [tree_digest(p) for p in watched]
    try:
        result = run_cli([_fill(a, inputs) for a in argv])
        created = (inputs["tmp"] / "new-run").exists()
    finally:
        shutil.rmtree(inputs["tmp"] / "new-run", ignore_errors=True)  # one failing case must not fail the next
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout
    assert fragment.lower() in lines[0].lower(), lines[0]
    assert [tree_digest(p) for p in watched] == before, "a rejected input changed a run directory"
    assert not created, "a rejected input created a run directory"
    assert not (inputs["derived"] / PAYLOAD_MARKER).exists(), "unpickling a checkpoint ran its payload"
