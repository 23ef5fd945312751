"""Train MACE models with mace-torch's own trainer (``mace.cli.run_train.run``).

Training data: extended XYZ whose frames carry ``info["REF_energy"]`` (eV)
and ``arrays["REF_forces"]`` (eV/Å). A model is trained from scratch, or
fine-tuned from a foundation model given by mace-torch name (``"small"``,
``"medium-mpa-0"``, …, downloaded by mace-torch) or by a local file path:
naive fine-tuning (all weights continue from the foundation) or, with
``replay_file``, mace-torch's multihead fine-tuning with a replay head.

Everything mace-torch writes (logs, checkpoints, results, the ``.model``
file) lands in the model's output directory. mace-torch ``torch.load``s
pickles without restriction, so nothing it loads comes from outside this
process: its checkpoints go to a fresh private folder per model (removed
after training), and a foundation model is first rebuilt from its weights by
:func:`~thermodefect.forcefield.model_files.rewrite_mace_model` into
``<output_dir>/<name>.foundation.model``.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from thermodefect.core.errors import describe
from thermodefect.forcefield.model_files import PICKLE_NOTE, ForceFieldError, rewrite_mace_model

ENERGY_KEY = "REF_energy"  # info key, eV
FORCES_KEY = "REF_forces"  # arrays key, (n_atoms, 3) eV/Å


def resolve_foundation_model(name_or_path: str) -> str:
    """Check a foundation model name or path before training starts.

    A local file is used as is (fully offline). A mace-torch name is fetched
    into mace-torch's cache now, so that a missing network gives one clear
    line instead of a traceback deep inside training. Returns the local file.
    """
    if Path(name_or_path).expanduser().is_file():
        return str(Path(name_or_path).expanduser().resolve())
    from mace.calculators.foundations_models import download_mace_mp_checkpoint, mace_mp_names

    if name_or_path not in [n for n in mace_mp_names if n is not None]:
        raise ForceFieldError(
            f"foundation model {name_or_path!r} is neither a file nor a mace-torch model name "
            f"({', '.join(n for n in mace_mp_names if n)})"
        )
    try:
        return str(download_mace_mp_checkpoint(name_or_path))
    except Exception as exc:  # urllib/socket/HTTP errors vary by platform
        raise ForceFieldError(
            f"cannot fetch foundation model {name_or_path!r} ({type(exc).__name__}); "
            "download it elsewhere and set forcefield.foundation_model to the local .model file path"
        ) from None


def mace_arguments(
    ff: Any,
    train_file: Path,
    output_dir: Path,
    seed: int,
    name: str = "model",
    valid_file: Path | None = None,
    foundation: str | None = None,
    checkpoints_dir: Path | None = None,
    e0s: str | None = None,
) -> list[str]:
    """Command-line arguments for mace-torch's trainer from :class:`ForceFieldSettings`.

    ``e0s`` replaces ``ff.e0s`` (needed when that is ``"isolated"``: the
    dictionary from :func:`~thermodefect.forcefield.baseline.e0s_argument`).
    """
    out = Path(output_dir)
    e0s = e0s or ff.e0s
    if e0s == "isolated":
        raise ForceFieldError("forcefield.e0s = 'isolated' needs the reference's isolated-atom energies; none were computed")
    argv = [
        f"--name={name}",
        f"--seed={seed}",
        f"--train_file={train_file}",
        f"--energy_key={ENERGY_KEY}",
        f"--forces_key={FORCES_KEY}",
        f"--work_dir={out}",
        f"--model_dir={out}",
        f"--log_dir={out / 'logs'}",
        f"--checkpoints_dir={checkpoints_dir or out / 'checkpoints'}",
        f"--results_dir={out / 'results'}",
        f"--downloads_dir={out / 'downloads'}",
        "--model=MACE",
        f"--max_num_epochs={ff.max_num_epochs}",
        f"--patience={ff.patience}",
        f"--batch_size={ff.batch_size}",
        f"--valid_batch_size={ff.batch_size}",
        f"--energy_weight={ff.energy_weight}",
        f"--forces_weight={ff.forces_weight}",
        f"--default_dtype={ff.default_dtype}",
        f"--device={ff.device}",
        f"--E0s={e0s}",
        f"--loss={ff.loss}",
        "--eval_interval=1",
        "--error_table=PerAtomRMSE",
        "--plot=False",
        "--save_cpu",
    ]
    if ff.ema_decay is not None:
        argv += ["--ema", f"--ema_decay={ff.ema_decay}"]
    if ff.stage_two:
        argv += ["--stage_two", f"--stage_two_energy_weight={ff.stage_two_energy_weight}",
                 f"--stage_two_forces_weight={ff.forces_weight}"]
    argv += [f"--valid_file={valid_file}"] if valid_file is not None else [f"--valid_fraction={ff.valid_fraction}"]
    if foundation is None:
        argv += [
            f"--lr={ff.learning_rate}",
            f"--r_max={ff.r_max_angstrom}",
            f"--num_channels={ff.num_channels}",
            f"--max_L={ff.max_L}",
            f"--max_ell={ff.max_ell}",
            f"--num_interactions={ff.num_interactions}",
            f"--correlation={ff.correlation}",
        ]
        if ff.pair_repulsion:
            argv += ["--pair_repulsion"]
    else:
        # Architecture and r_max come from the foundation model.
        argv += [f"--foundation_model={foundation}", f"--lr={ff.finetune_learning_rate}"]
        if ff.replay_file is not None:
            argv += [
                "--multiheads_finetuning=True",
                f"--pt_train_file={ff.replay_file}",
                f"--pseudolabel_replay={ff.pseudolabel_replay}",
                "--force_mh_ft_lr=True",
            ]
        else:
            argv += ["--multiheads_finetuning=False"]
    return argv


def check_training_data(path: Path, min_frames: int = 2) -> None:
    """Refuse a training file mace-torch would choke on, with one line.

    Needs ``min_frames`` extended-XYZ frames, each with ``REF_energy`` (eV)
    and ``REF_forces`` of shape (n_atoms, 3) eV/Å. mace-torch's own errors
    (an ``assert`` among them) would otherwise surface as tracebacks.
    """
    from ase.io import read

    from thermodefect.data.forces import ENERGY_KEY, FORCES_KEY

    if not path.is_file():
        raise ForceFieldError(f"{path}: training file not found")
    try:
        frames = read(str(path), index=":", format="extxyz")
    except Exception as exc:  # ASE raises many types on malformed files
        raise ForceFieldError(f"{path}: not a readable extended XYZ file ({type(exc).__name__})") from None
    if len(frames) < min_frames:
        raise ForceFieldError(f"{path}: needs at least {min_frames} labelled frames, found {len(frames)}")
    for k, atoms in enumerate(frames):
        forces = atoms.arrays.get(FORCES_KEY)
        if ENERGY_KEY not in atoms.info or forces is None:
            raise ForceFieldError(f"{path} frame {k}: no {ENERGY_KEY}/{FORCES_KEY} labels; label it with `thermodefect label`")
        if forces.shape != (len(atoms), 3):
            raise ForceFieldError(f"{path} frame {k}: {FORCES_KEY} has shape {forces.shape}, needs ({len(atoms)}, 3)")


def train_model(
    ff: Any,
    train_file: str | Path,
    output_dir: str | Path,
    seed: int,
    name: str = "model",
    valid_file: str | Path | None = None,
    isolated_energies_ev: Mapping[str, float] | None = None,
) -> Path:
    """Train (or fine-tune, if ``ff.foundation_model`` is set) one MACE model.

    ``ff`` is a :class:`thermodefect.settings.ForceFieldSettings`. Returns the
    path of the trained ``<output_dir>/<name>.model``. Runs in this process.
    With ``ff.baseline`` other than ``"none"`` the model learns the labels
    minus the baseline (:mod:`thermodefect.forcefield.baseline`), from
    ``<output_dir>/<name>.residual-*.extxyz``. ``isolated_energies_ev``
    (symbol: eV, from the reference) are required by ``ff.e0s = "isolated"``.
    """
    import torch
    from mace.cli.run_train import run

    train_file = Path(train_file)
    check_training_data(train_file, min_frames=1 if valid_file else 2)
    if valid_file:
        check_training_data(Path(valid_file), min_frames=1)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    valid_file = Path(valid_file) if valid_file else None
    if ff.baseline != "none":
        train_file = _residual_file(train_file, output_dir / f"{name}.residual-train.extxyz", ff.baseline)
        valid_file = valid_file and _residual_file(valid_file, output_dir / f"{name}.residual-valid.extxyz", ff.baseline)
    e0s = None
    if ff.e0s == "isolated":
        from thermodefect.forcefield.baseline import e0s_argument

        e0s = e0s_argument(isolated_energies_ev or {}, ff.baseline)
    foundation = None
    if ff.foundation_model:
        source = resolve_foundation_model(ff.foundation_model)
        # Naive fine-tuning copies every foundation tensor of matching shape,
        # the E0s included: a foundation with the same elements would keep its
        # own energy zero (another reference's, eV per atom away) unless the
        # copy carries this training's E0s. "foundation" E0s keep the foundation's.
        own_e0s = None if ff.e0s == "foundation" or ff.replay_file is not None else finetuning_e0s(e0s or ff.e0s, train_file)
        foundation = str(rewrite_mace_model(source, output_dir / f"{name}.foundation.model", atomic_energies_ev=own_e0s))
        print("note: " + PICKLE_NOTE.format(path=source), file=sys.stderr, flush=True)
    checkpoints = Path(tempfile.mkdtemp(prefix=f"{name}-checkpoints-", dir=output_dir))
    argv = mace_arguments(ff, train_file, output_dir, seed, name, valid_file, foundation, checkpoints, e0s)
    args = _parse_mace_arguments(argv)
    dtype = torch.get_default_dtype()
    console_log = output_dir / f"{name}.console.log"
    print(f"training MACE model {name} (seed {seed}); mace-torch output: {console_log}", file=sys.stderr, flush=True)
    try:
        # mace-torch logs every epoch (and its full configuration) to the
        # console; keep the user's terminal readable and the details on disk.
        with _restore_root_logging(), open(console_log, "a") as sink, \
                contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            try:
                run(args)
            except (Exception, SystemExit) as exc:  # mace-torch raises anything, or exits
                traceback.print_exc(file=sink)
                raise ForceFieldError(f"mace-torch training of {name} failed ({type(exc).__name__}: {describe(exc)}); details in {console_log}") from None
    finally:
        torch.set_default_dtype(dtype)  # mace-torch sets it globally
        shutil.rmtree(checkpoints, ignore_errors=True)
    model_path = output_dir / f"{name}.model"
    stage_two = output_dir / f"{name}_stagetwo.model"
    if ff.stage_two and stage_two.is_file():
        # mace-torch writes both stages; the stage-two weights are the trained model.
        stage_two.replace(model_path)
    if not model_path.is_file():
        raise ForceFieldError(f"mace-torch finished without writing {model_path}; see {output_dir / 'logs'}")
    return model_path


def finetuning_e0s(e0s: str, train_file: Path) -> dict[int, float]:
    """The E0s (atomic number: eV) mace-torch's ``--E0s`` gives for ``train_file``: a dictionary string as is;
    ``"average"`` by least squares of the frames' energies on their element counts, as mace-torch fits them."""
    import ast

    import numpy as np
    from ase.io import read

    if e0s != "average":
        try:
            values = ast.literal_eval(e0s)
        except (ValueError, SyntaxError):
            raise ForceFieldError(f"forcefield.e0s {e0s!r} is neither 'average', 'isolated', 'foundation' nor a dictionary") from None
        return {int(z): float(v) for z, v in values.items()}
    frames = read(str(train_file), index=":", format="extxyz")
    elements = sorted({int(z) for atoms in frames for z in atoms.numbers})
    counts = np.array([[np.count_nonzero(atoms.numbers == z) for z in elements] for atoms in frames], float)
    energies = np.array([float(atoms.info[ENERGY_KEY]) for atoms in frames])
    solution = np.linalg.lstsq(counts, energies, rcond=None)[0]
    return dict(zip(elements, (float(x) for x in solution)))


def _residual_file(source: Path, target: Path, baseline: str) -> Path:
    """``source``'s frames with the baseline's energy and forces removed, written to ``target``."""
    from ase.io import read, write

    from thermodefect.core.files import replace_atomically
    from thermodefect.forcefield.baseline import residual_frames

    frames = residual_frames(read(str(source), index=":", format="extxyz"), baseline)
    replace_atomically(target, lambda tmp: write(str(tmp), frames, format="extxyz"))
    return target


def _parse_mace_arguments(argv: list[str]):
    """mace-torch's parsed arguments; a value it refuses is one line here, not a usage text in a log file."""
    from mace.tools import build_default_arg_parser

    parser = build_default_arg_parser()

    def refuse(message: str):
        raise ForceFieldError(f"mace-torch refused the training options: {message}")

    parser.error = refuse
    return parser.parse_args(argv)


def train_ensemble(
    ff: Any,
    train_file: str | Path,
    output_dir: str | Path,
    seed: int,
    valid_file: str | Path | None = None,
    keep: Callable[[Path], bool] = Path.is_file,
    trained: Callable[[Path], None] = lambda path: None,
    isolated_energies_ev: Mapping[str, float] | None = None,
    workers: int = 1,
    start_from: Sequence[str | Path] | None = None,
    start_epochs: int | None = None,
) -> list[Path]:
    """Train ``ff.ensemble_size`` models differing only in seed (``seed + k``).

    Model k is ``<output_dir>/model-k.model``. A model for which ``keep``
    says yes is kept, so an interrupted ensemble resumes with the next model
    (a run directory keeps only the files its manifest names); ``trained``
    is told of each model as soon as it is written (in this process).
    ``workers > 1`` trains that many members at once, each in its own
    process with one thread: the members are independent, and on a few cores
    a small MACE model trains faster per core on one thread than on many.
    ``start_from`` (one model file per member) continues member k from
    ``start_from[k]`` instead: :func:`warm_start_settings`, ``start_epochs``
    epochs (default ``ff.max_num_epochs``).
    """
    from thermodefect.core.executors import LocalExecutor

    paths = [Path(output_dir) / f"model-{k}.model" for k in range(ff.ensemble_size)]
    if start_from is not None and len(start_from) != len(paths):
        raise ForceFieldError(f"warm start needs one model per ensemble member: {len(start_from)} for {len(paths)}")
    member = [ff if start_from is None else warm_start_settings(ff, start_from[k], start_epochs or ff.max_num_epochs)
              for k in range(len(paths))]
    jobs = [(member[k], str(train_file), str(output_dir), seed + k, f"model-{k}", valid_file and str(valid_file),
             dict(isolated_energies_ev or {})) for k, path in enumerate(paths) if not keep(path)]
    workers = max(1, min(workers, len(jobs)))
    with LocalExecutor(workers) as executor:
        for _, result in executor.map(_train_member, jobs):
            if isinstance(result, BaseException):
                raise result if isinstance(result, ForceFieldError) else ForceFieldError(
                    f"training an ensemble member failed ({type(result).__name__}: {describe(result)})") from None
            trained(Path(result))
    return paths


def warm_start_settings(ff: Any, start: str | Path, epochs: int) -> Any:
    """``ff`` for continuing the MACE model ``start`` on new labels (mace-torch's naive fine-tuning).

    Its architecture, weights and (for ``e0s = "average"``, which a refit on
    the new labels would move) E0s are kept; ``epochs`` epochs at
    ``ff.finetune_learning_rate``, no replay set.
    """
    update = {"foundation_model": str(start), "max_num_epochs": int(epochs), "replay_file": None}
    if ff.e0s == "average":
        update["e0s"] = "foundation"
    return ff.model_copy(update=update)


def _train_member(job: tuple) -> str:
    """One ensemble member (module level: it is sent to worker processes)."""
    ff, train_file, output_dir, seed, name, valid_file, isolated = job
    return str(train_model(ff, train_file, output_dir, seed, name=name, valid_file=valid_file, isolated_energies_ev=isolated))


@contextlib.contextmanager
def _restore_root_logging():
    """mace-torch adds file and stream handlers to the root logger on every run."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    root.handlers = []  # handlers bound to the real console would bypass the redirect
    try:
        yield
    finally:
        for h in root.handlers:
            if h not in handlers:
                h.close()
        root.handlers = handlers
        root.setLevel(level)
