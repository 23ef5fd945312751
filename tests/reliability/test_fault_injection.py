"""Labelling survives injected reference faults: every failure recorded, retries as configured, no corrupt entry."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from thermodefect.core.keys import structure_key
from thermodefect.core.errors import UserInputError
from thermodefect.reference.faults import FAULT_KINDS, FaultyReference, injected_fault
from thermodefect.reference.labelling import label_structures
from thermodefect.settings import ReferenceSettings
from thermodefect.core.rundir import RunDirectory

from .helpers import assert_datasets_match_clean, faulty_reference, rattled_gaas

N_STRUCTURES = 24
FAULT_RATE = 0.2
KINDS = ("raise", "hang", "nan_forces", "scf")
REASON_OF_KIND = {"raise": "injected crash", "hang": "TaskTimeout", "nan_forces": "NaN", "scf": "SCF not converged"}


def _expected_faults(keys, seed, retries):
    """key -> list of injected fault kinds, one per failed attempt, as the labelling will meet them."""
    expected = {}
    for key in keys:
        faults = []
        for attempt in range(1, retries + 2):
            kind = injected_fault(seed, key, attempt, FAULT_RATE, KINDS)
            if kind is None:
                break
            faults.append(kind)
        expected[key] = faults
    return expected


def test_injected_fault_is_deterministic_and_near_its_rate():
    draws = [injected_fault(7, f"key{k}", 1, FAULT_RATE, KINDS) for k in range(4000)]
    assert draws == [injected_fault(7, f"key{k}", 1, FAULT_RATE, KINDS) for k in range(4000)]
    rate = sum(d is not None for d in draws) / len(draws)
    assert abs(rate - FAULT_RATE) < 0.03
    assert set(Counter(d for d in draws if d)) == set(KINDS)
    # a retry draws again: some structures that fail on attempt 1 pass on attempt 2
    assert any(draws[k] and injected_fault(7, f"key{k}", 2, FAULT_RATE, KINDS) is None for k in range(4000))


@pytest.mark.parametrize(
    "options",
    [{"fault_rate": 1.5}, {"kinds": ["explode"]}, {"reference": "faulty"}, {"seed": "x"}, {"hang_s": -1}, {"bogus": 1}],
)
def test_bad_fault_options_are_one_line_user_errors(options):
    with pytest.raises(UserInputError) as info:
        FaultyReference(options)
    assert len(str(info.value).splitlines()) == 1


@pytest.mark.parametrize("retries", [0, 2])
def test_labelling_survives_20_percent_faults(tmp_path, retries):
    frames = rattled_gaas(N_STRUCTURES, seed=retries)
    keys = [structure_key(a) for a in frames]
    seed = 11
    expected = _expected_faults(keys, seed, retries)
    lost = {k for k, faults in expected.items() if len(faults) == retries + 1}
    assert sum(map(len, expected.values())) >= 3, "the seed must inject faults for the test to mean anything"

    clean = RunDirectory.create(tmp_path / "clean", "clean\n")
    label_structures(frames, ReferenceSettings(name="toy", options={}), clean, progress=False)
    run = RunDirectory.create(tmp_path / "faulty", "faulty\n")
    reference = faulty_reference(FAULT_RATE, seed=seed, kinds=KINDS, retries=retries, timeout_s=0.5)
    report = label_structures(frames, reference, run, progress=False)

    assert report.n_failed == len(lost) and report.n_new == N_STRUCTURES - len(lost)
    failures = [json.loads(line) for line in run.failures.read_text().splitlines()] if run.failures.exists() else []
    by_key: dict[str, list] = {}
    for line in failures:
        by_key.setdefault(line["key"], []).append(line)
    assert {k: len(v) for k, v in by_key.items()} == {k: len(f) for k, f in expected.items() if f}
    for key, lines in by_key.items():
        assert [line["attempt"] for line in lines] == list(range(1, len(lines) + 1))
        for line, kind in zip(lines, expected[key]):
            assert REASON_OF_KIND[kind] in line["reason"], (kind, line["reason"])
            assert line["reference"] == "faulty" and line["defect"] == "pristine"
    assert_datasets_match_clean(run, clean, set(keys) - lost)

    # Rerunning labels only what was lost; nothing twice.
    again = label_structures(frames, reference.model_copy(update={"retries": 3}), run, progress=False)
    assert again.n_skipped == N_STRUCTURES - len(lost)
    assert_datasets_match_clean(run, clean, set(keys) - {k for k in lost if all(
        injected_fault(seed, k, a, FAULT_RATE, KINDS) for a in range(1, 5))})


def test_fault_kinds_are_all_known():
    assert set(KINDS) < set(FAULT_KINDS)
