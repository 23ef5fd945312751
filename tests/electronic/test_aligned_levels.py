"""Pristine-aligned host band edges and defect levels (electronic.levels).

Synthetic state windows check the rule itself; GFN1-xTB 64-atom cells at
ideal positions check it on the paper's defects, where the cell's own
states give wrong edges for both vacancies (a 1.5 eV "gap" for V_As, 2.0 eV
with three levels for V_Ga).
"""

import pytest

from thermodefect.electronic.levels import (
    GapResult,
    HostReference,
    WindowTooSmall,
    aligned_edges_and_levels,
    alignment_shift,
)


def _result(energies, electrons, localized, onsite):
    n = len(energies)
    window = {"energies_ev": energies, "electrons": electrons, "defect_weight": [0.5 if x else 0.01 for x in localized],
              "ipr": [0.1] * n, "localized": localized, "indices": list(range(n))}
    return GapResult(0.0, 1.0, 1.0, 0.0, 1.0, 2.0 * n, [], 8, "dense", window=window, onsite=onsite)


HOST = HostReference(vbm_ev=-6.0, cbm_ev=-5.0, onsite={"31": {"mean": [-10.0, -4.0], "count": 4},
                                                        "33": {"mean": [-15.0, -6.0], "count": 4}}, n_snapshots=2)


def test_alignment_shift_is_the_mean_onsite_change_of_elements_the_host_has():
    onsite = {"31": {"mean": [-9.9, -3.9], "count": 2}, "33": {"mean": [-14.8, -5.8], "count": 1}, "14": {"mean": [0.0], "count": 5}}
    expected = (2 * (0.1 + 0.1) + 1 * (0.2 + 0.2)) / (2 * 2 + 1 * 2)
    assert alignment_shift(onsite, HOST) == pytest.approx(expected)
    with pytest.raises(ValueError, match="no atom"):
        alignment_shift({"14": {"mean": [0.0], "count": 1}}, HOST)


def test_host_reference_averages_edges_and_onsite_weighted_by_atoms():
    a = {"vbm_ev": -6.0, "cbm_ev": -5.2, "onsite": {"31": {"mean": [1.0], "count": 1}}}
    b = {"vbm_ev": -6.2, "cbm_ev": -5.0, "onsite": {"31": {"mean": [4.0], "count": 3}}}
    host = HostReference.from_results([a, b])
    assert (host.vbm_ev, host.cbm_ev, host.n_snapshots) == (pytest.approx(-6.1), pytest.approx(-5.1), 2)
    assert host.onsite["31"]["mean"] == [pytest.approx(3.25)] and host.onsite["31"]["count"] == 4


def test_levels_between_the_shifted_host_edges_keep_their_electrons():
    onsite = {"31": {"mean": [-9.9, -3.9], "count": 4}}  # ΔV = +0.1
    energies = [-6.3, -5.85, -5.84, -5.83, -5.5, -4.8]
    electrons = [2.0, 2.0, 1.0, 0.0, 0.0, 0.0]
    localized = [False, True, True, True, True, False]
    aligned = aligned_edges_and_levels(_result(energies, electrons, localized, onsite), HOST, 0.02)
    assert (aligned.vbm_ev, aligned.cbm_ev, aligned.edges) == (pytest.approx(-5.9), pytest.approx(-4.9), "aligned")
    assert aligned.gap_ev == pytest.approx(HOST.gap_ev) and aligned.alignment_ev == pytest.approx(0.1)
    assert [(lv.degeneracy, lv.electrons) for lv in aligned.levels] == [(3, 3.0), (1, 0.0)]
    assert aligned.levels[0].above_vbm_ev == pytest.approx(0.06)
    assert aligned.conduction_electrons == 0.0 and aligned.valence_holes == 0.0


def test_electrons_outside_levels_are_free_carriers():
    onsite = {"31": {"mean": [-10.0, -4.0], "count": 4}}  # ΔV = 0
    # a delocalized occupied state just below the CBM (a donor electron in the conduction band) and a
    # localized occupied state above the CBM (resonant): both count as conduction electrons
    energies = [-6.2, -6.0, -5.02, -4.7, -4.5]
    electrons = [2.0, 1.0, 1.0, 2.0, 0.0]
    localized = [False, False, False, True, False]
    aligned = aligned_edges_and_levels(_result(energies, electrons, localized, onsite), HOST, 0.02)
    assert aligned.levels == []
    assert aligned.conduction_electrons == pytest.approx(3.0)
    assert aligned.valence_holes == pytest.approx(1.0)  # the half-empty state at the VBM


def test_a_state_deep_in_the_gap_is_a_level_however_spread_out():
    from thermodefect.electronic.levels import EDGE_MARGIN_EV

    onsite = {"31": {"mean": [-10.0, -4.0], "count": 4}}  # ΔV = 0: edges -6.0, -5.0
    # spread-out states: one just above the VBM, one deep (0.3 eV), one just below the CBM
    energies = [-6.2, -6.0 + EDGE_MARGIN_EV / 2, -5.7, -5.0 - EDGE_MARGIN_EV / 2, -4.8]
    electrons = [2.0, 2.0, 1.0, 0.0, 0.0]
    aligned = aligned_edges_and_levels(_result(energies, electrons, [False] * 5, onsite), HOST, 0.02)
    assert [(round(lv.above_vbm_ev, 6), lv.electrons) for lv in aligned.levels] == [(0.3, 1.0)]
    assert aligned.conduction_electrons == 0.0 and aligned.valence_holes == 0.0


def test_a_window_that_misses_an_edge_is_refused():
    onsite = {"31": {"mean": [-10.0, -4.0], "count": 4}}
    with pytest.raises(WindowTooSmall, match="aligned host edges"):
        aligned_edges_and_levels(_result([-5.9, -5.5], [2.0, 0.0], [False, False], onsite), HOST, 0.02)


def test_a_record_round_trips_to_the_same_alignment():
    from thermodefect.workflow.rundata import gap_record

    onsite = {"31": {"mean": [-9.9, -3.9], "count": 4}}
    result = _result([-6.3, -5.85, -4.95, -4.8], [2.0, 2.0, 0.0, 0.0], [False, True, False, False], onsite)
    direct = aligned_edges_and_levels(result, HOST, 0.02)
    again = aligned_edges_and_levels(GapResult.from_record(gap_record(result)), HOST, 0.02)
    assert (again.vbm_ev, again.cbm_ev, len(again.levels)) == (direct.vbm_ev, direct.cbm_ev, 1)
    assert again.levels[0].above_vbm_ev == pytest.approx(direct.levels[0].above_vbm_ev)


# --------------------------------------------------------------------------- GFN1-xTB, 64 atoms
@pytest.fixture(scope="module")
def xtb64():
    """Ideal 64-atom cubic cells: pristine and four of the paper's defects, GFN1-xTB Hamiltonians."""
    pytest.importorskip("tblite")
    from thermodefect.electronic import analyze_sample
    from thermodefect.reference.xtb import XtbReference
    from thermodefect.structures import make_defect, parse_defect, pristine_supercell

    reference = XtbReference({"method": "GFN1-xTB"})
    pristine = pristine_supercell("Ga", "As", 5.65, 64, "cubic")
    cells = {"pristine": pristine}
    cells.update({name: make_defect(pristine, parse_defect(name, "Ga", "As")) for name in ("V_As", "V_Ga", "As_Ga", "As_i")})
    samples = {name: reference.label(atoms, hamiltonian=True).sample for name, atoms in cells.items()}
    host = HostReference.from_results([analyze_sample(samples["pristine"], pristine)])
    return {name: (analyze_sample(samples[name], cells[name]), analyze_sample(samples[name], cells[name], host=host))
            for name in cells}, host


# Electrons the neutral defect puts above the host valence band: in-gap levels + conduction electrons -
# valence holes. As_Ga: the two extra electrons of the antisite (deep donor). V_Ga: three electrons in the
# Ga vacancy's t2 state. V_As: the one electron of the As vacancy above its a1 (shallow donor here). As_i:
# three (its a1 pair is resonant in the valence band).
EXCESS_ELECTRONS = {"As_Ga": 2.0, "V_Ga": 3.0, "V_As": 1.0, "As_i": 3.0}


@pytest.mark.parametrize("name", sorted(EXCESS_ELECTRONS))
def test_xtb_defect_electrons_are_accounted_for(xtb64, name):
    results, host = xtb64
    _, aligned = results[name]
    assert aligned.gap_ev == pytest.approx(host.gap_ev)
    assert abs(aligned.alignment_ev) < 0.2  # a 64-atom defect shifts the far atoms' on-site energies by < 0.2 eV
    counted = sum(lv.electrons for lv in aligned.levels) + aligned.conduction_electrons - aligned.valence_holes
    assert counted == pytest.approx(EXCESS_ELECTRONS[name])


def test_xtb_ga_vacancy_has_its_three_electron_level_above_the_vbm(xtb64):
    (cell, aligned), host = xtb64[0]["V_Ga"], xtb64[1]
    assert cell.gap_ev - host.gap_ev > 1.0  # the cell's own states: resonances taken for band edges
    assert len(aligned.levels) == 1
    level = aligned.levels[0]
    assert (level.degeneracy, level.electrons) == (3, 3.0)
    assert 0.0 < level.above_vbm_ev < 0.3
    assert aligned.conduction_electrons == 0.0 and aligned.valence_holes == 0.0


def test_xtb_as_vacancy_is_a_shallow_donor_with_the_host_gap(xtb64):
    (cell, aligned), host = xtb64[0]["V_As"], xtb64[1]
    assert abs(cell.gap_ev - host.gap_ev) > 0.5  # the cell's own lowest delocalized empty state is 0.8 eV too high
    assert abs(aligned.gap_ev - host.gap_ev) < 0.15
    assert aligned.levels == [] and aligned.conduction_electrons == 1.0


def test_xtb_antisite_keeps_one_doubly_occupied_level(xtb64):
    (cell, aligned), _ = xtb64[0]["As_Ga"], xtb64[1]
    assert [(lv.degeneracy, lv.electrons) for lv in aligned.levels] == [(1, 2.0)]
    assert [(lv.degeneracy, lv.electrons) for lv in cell.levels] == [(1, 2.0)]
    # same state; only the VBM it is measured from differs (the cell's own VB top lies 0.1 eV lower)
    assert aligned.levels[0].energy_ev == pytest.approx(cell.levels[0].energy_ev)
    assert 0.1 < aligned.levels[0].above_vbm_ev < cell.levels[0].above_vbm_ev
