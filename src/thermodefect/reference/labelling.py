"""Label many structures with the reference(s), in parallel, resumably.

Structures already in the datasets (same content key) are skipped; the rest
go through an :class:`~thermodefect.core.executors.Executor`. Each result
is written as soon as it arrives, by this (main) process only. A failure
(exception, SCF not converged, NaN forces, timeout) becomes one line of
``failures.jsonl`` and is retried up to ``ReferenceSettings.retries`` times;
it never stops the run or loses a finished label. When the forces and the
Hamiltonian references are the same, one calculation fills both datasets.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from thermodefect.core.keys import CONFIG_TYPE, DEFECT, TEMPERATURE_K
from thermodefect.data.forces import ForcesDataset, labelled_atoms
from thermodefect.data.hamiltonians import HamiltonianDataset
from thermodefect.core.keys import structure_key
from thermodefect.core.errors import UserInputError
from thermodefect.core.files import append_line
from thermodefect.structures.checks import MIN_DISTANCE_FRACTION, check_structure, common_elements

WHAT = frozenset({"forces", "hamiltonian"})


@dataclass
class LabelTask:
    """One reference calculation: which structure, which reference, which datasets."""

    key: str
    atoms: Any  # ase.Atoms
    reference: dict[str, Any]  # ReferenceSettings as a dict (picklable)
    targets: tuple[str, ...]  # subset of ("forces", "hamiltonian")
    attempt: int = 1


@dataclass
class LabelReport:
    n_new: int = 0
    n_skipped: int = 0
    n_failed: int = 0
    seconds_per_label: list[float] = field(default_factory=list)

    @property
    def mean_seconds_per_label(self) -> float:
        return sum(self.seconds_per_label) / len(self.seconds_per_label) if self.seconds_per_label else 0.0

    def summary(self) -> str:
        return (
            f"labelled {self.n_new} new, skipped {self.n_skipped} already labelled, {self.n_failed} failed; "
            f"{self.mean_seconds_per_label:.2f} s/label"
        )


def run_label_task(task: LabelTask):
    """Worker side: build the reference and label one structure (picklable in/out)."""
    from thermodefect.reference.registry import get_reference
    from thermodefect.settings import ReferenceSettings

    reference = get_reference(ReferenceSettings.model_validate(task.reference))
    reference.attempt = task.attempt  # fault injection (reference "faulty") draws per attempt
    return reference.label(task.atoms, hamiltonian="hamiltonian" in task.targets)


def _split_references(reference_settings):
    """(forces settings, hamiltonian settings) from a References- or ReferenceSettings."""
    if hasattr(reference_settings, "forces") and hasattr(reference_settings, "hamiltonian"):
        return reference_settings.forces, reference_settings.hamiltonian
    return reference_settings, reference_settings


def providing_reference(settings, needs: str):
    """The reference of ``settings``, refused unless it provides ``needs``."""
    from thermodefect.reference.registry import get_reference

    reference = get_reference(settings)
    if needs not in reference.provides:
        raise UserInputError(f"reference {settings.name!r} cannot label {needs} (it provides {', '.join(sorted(reference.provides))})")
    return reference


def known_elements(reference, elements) -> set[str] | None:
    """The elements among ``elements`` the reference has an orbital basis for.

    ``None`` when the reference provides no Hamiltonian: it declares no
    elements then, and an unknown one fails in its calculation instead.
    """
    if "hamiltonian" not in reference.provides:
        return None
    known = set()
    for element in sorted(elements):
        try:
            reference.basis(element)
        except (UserInputError, KeyError, ValueError):  # the reference has no basis for this species
            continue
        known.add(element)
    return known


def check_label_request(structures: list, reference_settings, what: Iterable[str], *,
                        min_distance_fraction: float = MIN_DISTANCE_FRACTION, source: str = "structure") -> frozenset[str]:
    """Refuse a labelling request that cannot work, before anything is written.

    Checks ``what``, that each reference builds and provides what it must
    label, and every structure with :func:`~thermodefect.structures.checks.check_structure`
    (at least one atom, finite, periodic with a positive volume, only elements
    the references have a basis for, no atoms closer than
    ``min_distance_fraction`` of their covalent radii). Errors name
    ``f"{source} {k}"`` for structure ``k``. Returns ``what`` as a set.
    """
    what = frozenset(what)
    if not what or not what <= WHAT:
        raise UserInputError(f"--what must be a subset of forces,hamiltonian; got {','.join(sorted(what)) or 'nothing'}")
    forces_ref, ham_ref = _split_references(reference_settings)
    used = ([(forces_ref, "forces")] if "forces" in what else []) + ([(ham_ref, "hamiltonian")] if "hamiltonian" in what else [])
    references = [(settings.name, providing_reference(settings, needs)) for settings, needs in used]
    elements = {s for atoms in structures for s in atoms.get_chemical_symbols()}
    known, known_by = common_elements([(known_elements(reference, elements), f"reference {name!r}") for name, reference in references],
                                       elements)
    for k, atoms in enumerate(structures):
        check_structure(atoms, source=f"{source} {k}", known_elements=known, known_by=known_by,
                        min_distance_fraction=min_distance_fraction)
    return what


def _plan(structures, keys, what, forces_ds, ham_ds, forces_ref, ham_ref) -> tuple[list[LabelTask], int]:
    have_forces = set(forces_ds.keys()) if "forces" in what else set()
    have_ham = set(ham_ds.keys()) if "hamiltonian" in what else set()
    same = forces_ref.model_dump() == ham_ref.model_dump()
    tasks, skipped, seen = [], 0, set()
    for atoms, key in zip(structures, keys):
        if key in seen:
            continue
        seen.add(key)
        need = tuple(t for t in ("forces", "hamiltonian") if t in what and key not in (have_forces if t == "forces" else have_ham))
        if not need:
            skipped += 1
            continue
        if same or len(need) == 1:
            ref = forces_ref if need == ("forces",) else ham_ref
            tasks.append(LabelTask(key, atoms, ref.model_dump(mode="json"), need))
        else:
            tasks.append(LabelTask(key, atoms, forces_ref.model_dump(mode="json"), ("forces",)))
            tasks.append(LabelTask(key, atoms, ham_ref.model_dump(mode="json"), ("hamiltonian",)))
    return tasks, skipped


def _record_failure(path, task: LabelTask, metadata: dict[str, Any], exc: BaseException) -> None:
    line = {
        "key": task.key,
        "defect": metadata.get(DEFECT),
        "reference": task.reference["name"],
        "targets": list(task.targets),
        "reason": f"{type(exc).__name__}: {exc}".splitlines()[0],
        "attempt": task.attempt,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    append_line(path, json.dumps(line, default=str))


def label_structures(
    structures: list,
    reference_settings,
    run,
    what: Iterable[str] = ("forces", "hamiltonian"),
    executor=None,
    metadata: list[dict[str, Any]] | None = None,
    progress: bool = True,
    min_distance_fraction: float = MIN_DISTANCE_FRACTION,
) -> LabelReport:
    """Label ``structures`` into ``run``'s datasets; see the module docstring.

    ``reference_settings``: :class:`ReferencesSettings` (forces + hamiltonian)
    or one :class:`ReferenceSettings` used for both. ``metadata[k]`` (e.g.
    ``defect``, ``temperature_k``, ``config_type``) is stored with structure
    ``k``'s labels; ``atoms.info`` supplies it where not given. Every
    structure is checked first (:func:`check_label_request`; atoms closer
    than ``min_distance_fraction`` of their covalent radii are refused).
    """
    from tqdm import tqdm

    from thermodefect.core.executors import LocalExecutor

    structures = list(structures)
    what = check_label_request(structures, reference_settings, what, min_distance_fraction=min_distance_fraction)
    forces_ref, ham_ref = _split_references(reference_settings)
    metadata = list(metadata) if metadata is not None else [{} for _ in structures]
    if len(metadata) != len(structures):
        raise ValueError(f"{len(metadata)} metadata entries for {len(structures)} structures")
    keys = [structure_key(atoms) for atoms in structures]
    meta_by_key = {}
    for atoms, key, meta in zip(structures, keys, metadata):
        info = {k: atoms.info[k] for k in (DEFECT, TEMPERATURE_K, CONFIG_TYPE) if k in atoms.info}
        meta_by_key.setdefault(key, {**info, **meta})
    forces_ds = ForcesDataset(run.forces_dataset)
    ham_ds = HamiltonianDataset(run.hamiltonian_dataset)
    tasks, skipped = _plan(structures, keys, what, forces_ds, ham_ds, forces_ref, ham_ref)
    report = LabelReport(n_skipped=skipped)
    own_executor = executor is None
    executor = executor or LocalExecutor(1)
    bar = tqdm(total=len(tasks), desc="labelling", unit="label", file=sys.stderr, disable=not progress)
    failed_keys: set[str] = set()
    done_keys: set[str] = set()
    try:
        attempt = 1
        while tasks:
            retry = []
            timeout = max(t.reference.get("timeout_s", 0) for t in tasks) or None
            max_attempts = {t.key: 1 + int(t.reference.get("retries", 0)) for t in tasks}
            for task, outcome in executor.map(run_label_task, tasks, timeout_s=timeout):
                meta = meta_by_key[task.key]
                if isinstance(outcome, BaseException):
                    _record_failure(run.failures, task, meta, outcome)
                    if task.attempt < max_attempts[task.key]:
                        retry.append(LabelTask(task.key, task.atoms, task.reference, task.targets, task.attempt + 1))
                    else:
                        failed_keys.add(task.key)
                        bar.update(1)
                    continue
                _write_label(task, outcome, meta, forces_ds, ham_ds)
                report.seconds_per_label.append(outcome.seconds)
                done_keys.add(task.key)
                bar.update(1)
            tasks, attempt = retry, attempt + 1
    finally:
        bar.close()
        if own_executor:
            executor.close()
    report.n_new = len(done_keys - failed_keys)
    report.n_failed = len(failed_keys)
    return report


def _write_label(task: LabelTask, label, meta: dict[str, Any], forces_ds: ForcesDataset, ham_ds: HamiltonianDataset) -> None:
    if "forces" in task.targets:
        forces_ds.append([labelled_atoms(task.atoms, label.energy_ev, label.forces_ev_per_angstrom, meta)])
    if "hamiltonian" in task.targets:
        sample = label.sample
        sample.metadata = {**sample.metadata, **meta, "structure_key": task.key}
        ham_ds.append(sample)
