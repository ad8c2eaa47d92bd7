"""Hand-picked cases the random test reaches rarely: exact sums, signed zeros, points that
enter and leave within one step, a window ending exactly on a step, and bad arguments."""

from __future__ import annotations

from typing import Any

import pytest

from rules.evidence import Ledger
from rules.plan import LoadedPlan, load_plan
from rules.series import EvidenceIndex
from rules.timeline import instants, timeline
from schemas.timefmt import DAY, HOUR, format_timestamp

from .compare import mismatches

T0 = 19_700 * DAY


def _plan(benchmarks: list[dict[str, Any]], kind: str = "number") -> LoadedPlan:
    return load_plan({
        "plan": "p", "version": "1", "mission": {"id": "m", "name": "M"},
        "indicators": [{"id": "x", "name": "x", "unit": "u", "kind": kind}],
        "phases": [{"id": "ph", "name": "ph", "gates": [{
            "id": "g", "name": "g", "rule": {"all": [{"benchmark": {"indicator": "x", **b}} for b in benchmarks]},
            "approval": {"roles": ["r"], "quorum": 1}}]}]})


def _index(plan: LoadedPlan, rows: list[tuple[str, Any, int, int, str | None]]) -> EvidenceIndex:
    ledger = Ledger(plan)
    for n, (rid, value, obs, rep, sup) in enumerate(rows):
        raw = {"id": rid, "mission": "m", "indicator": "x", "value": value, "source": "s",
               "observed_at": format_timestamp(obs), "reported_at": format_timestamp(rep)}
        if sup:
            raw["supersedes"] = sup
        assert ledger.add(raw, line=n + 1).status == "stored"
    return EvidenceIndex(ledger.records.values())


SUMS = [{"id": "s", "aggregate": "sum", "op": ">=", "threshold": 0},
        {"id": "a", "aggregate": "mean", "op": "==", "threshold": 0, "window": "P2D"},
        {"id": "n", "aggregate": "min", "op": "<=", "threshold": 0, "window": "P1D"},
        {"id": "t", "aggregate": "trend", "op": ">", "threshold": 0},
        {"id": "c", "aggregate": "change", "op": "<", "threshold": 0, "window": "P3D"}]


def test_negative_zero_and_cancellation_match_fsum() -> None:
    plan = _plan(SUMS)
    rows: list[tuple[str, Any, int, int, str | None]] = [("z1", -0.0, T0, T0, None), ("z2", -0.0, T0 + DAY, T0 + DAY, None),
            ("big", 1e16, T0 + 2 * DAY, T0 + 2 * DAY, None), ("one", 1.0, T0 + 2 * DAY, T0 + 2 * DAY, None),
            ("neg", -1e16, T0 + 3 * DAY, T0 + 3 * DAY, None), ("tiny", 5e-324, T0 + 3 * DAY, T0 + 3 * DAY, None),
            ("third", 0.1, T0 + 4 * DAY, T0 + 4 * DAY, None), ("fifth", 0.2, T0 + 4 * DAY, T0 + 4 * DAY, None)]
    index = _index(plan, rows)
    tl = timeline(plan, index, T0, T0 + 8 * DAY, 12 * HOUR)
    assert mismatches(plan, index, tl) == []
    assert tl.benchmarks["s"].value[tl.instants.index(T0 + 3 * DAY)] == 1.0  # 1e16 + 1 - 1e16, exactly


def test_enter_and_leave_within_one_step_and_window_edges() -> None:
    plan = _plan([{"id": "l", "aggregate": "latest", "op": ">", "threshold": 1, "window": "P1D", "max_age": "P1D"},
                  {"id": "k", "aggregate": "count", "op": ">=", "threshold": 1, "min_points": 0, "window": "P2D"}])
    rows = [("a", 5, T0, T0, None),
            ("b", 1, T0 + DAY, T0 + DAY + HOUR, None),
            ("b2", 2, T0 + DAY, T0 + DAY + 2 * HOUR, "b"),    # b counts for one hour only
            ("b3", None, T0 + DAY, T0 + 3 * DAY, "b2"),       # then withdrawn
            ("late", 7, T0 + DAY, T0 + 5 * DAY, None)]        # known long after its observation
    index = _index(plan, rows)
    tl = timeline(plan, index, T0, T0 + 6 * DAY, DAY)
    assert mismatches(plan, index, tl) == []
    # At T0 + 1 day the point observed at T0 sits exactly on the window's excluded start.
    i = tl.instants.index(T0 + DAY)
    assert tl.benchmarks["l"].points[i] == 0
    tl_hourly = timeline(plan, index, T0, T0 + 6 * DAY, HOUR)
    assert mismatches(plan, index, tl_hourly) == []


def test_unknown_gate_and_bad_ranges_are_refused() -> None:
    plan = _plan(SUMS)
    index = EvidenceIndex([])
    with pytest.raises(KeyError, match="unknown gate 'nope'"):
        timeline(plan, index, T0, T0 + DAY, DAY, gates=["nope"])
    with pytest.raises(ValueError, match="positive"):
        instants(T0, T0 + DAY, 0)
    with pytest.raises(ValueError, match="before its start"):
        instants(T0 + DAY, T0, DAY)


def test_no_evidence_at_all() -> None:
    plan = _plan(SUMS)
    index = EvidenceIndex([])
    tl = timeline(plan, index, T0, T0 + 3 * DAY, DAY)
    assert mismatches(plan, index, tl) == []
    assert tl.gates["g"] == [None] * 4
