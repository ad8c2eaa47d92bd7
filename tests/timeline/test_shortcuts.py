"""The timeline's shortcuts, each equal to `evaluate_gate` at every step: a gate's rule run
once per combination of its benchmarks' statuses (and waivers) that occurs, statuses compared
as float64 columns where numpy compares exactly as Python does (and by Python where not)."""

from __future__ import annotations

from typing import Any

from rules.evaluate import Waiver
from rules.evidence import Ledger
from rules.plan import LoadedPlan, load_plan
from rules.series import EvidenceIndex
from rules.timeline import timeline
from schemas.timefmt import DAY, HOUR, format_timestamp

from .compare import mismatches

T0 = 19_700 * DAY
Row = tuple[str, str, Any, int, int, str | None]  # id, indicator, value, observed, reported, supersedes


def _plan(rule: dict[str, Any], kinds: dict[str, str]) -> LoadedPlan:
    return load_plan({
        "plan": "p", "version": "1", "mission": {"id": "m", "name": "M"},
        "indicators": [{"id": i, "name": i, "unit": "u", "kind": k} for i, k in kinds.items()],
        "phases": [{"id": "ph", "name": "ph", "gates": [
            {"id": "g", "name": "g", "rule": rule, "approval": {"roles": ["r"], "quorum": 1}}]}]})


def _index(plan: LoadedPlan, rows: list[Row]) -> EvidenceIndex:
    ledger = Ledger(plan)
    for n, (rid, ind, value, obs, rep, sup) in enumerate(rows):
        raw = {"id": rid, "mission": "m", "indicator": ind, "value": value, "source": "s",
               "observed_at": format_timestamp(obs), "reported_at": format_timestamp(rep)}
        if sup:
            raw["supersedes"] = sup
        assert ledger.add(raw, line=n + 1).status == "stored", raw
    return EvidenceIndex(ledger.records.values())


def _b(bid: str, ind: str, **kw: Any) -> dict[str, Any]:
    return {"benchmark": {"id": bid, "indicator": ind, **kw}}


def test_recurring_status_combinations_with_other_values_and_waivers() -> None:
    # Values swing so that the same statuses come back with other values, while a late
    # backfill, a correction, a withdrawal, staleness, an empty window and waivers that start
    # and end move the statuses under a score, an at_least and a not.
    rule = {"score": {"min": 0.5, "of": [
        _b("lt", "x", aggregate="latest", op=">", threshold=3, max_age="P2D"),
        {"at_least": 2, "of": [
            _b("mn", "x", aggregate="mean", op=">=", threshold=2.5, window="P3D", min_points=2),
            _b("mx", "y", aggregate="max", op="<", threshold=0, window="P2D"),
            {"not": _b("ch", "y", aggregate="change", op="==", threshold=0, window="P4D")}]},
        {"benchmark": {"id": "tr", "indicator": "x", "aggregate": "trend", "op": ">", "threshold": 0,
                       "window": "P5D", "weight": 2}}]}}
    plan = _plan(rule, {"x": "integer", "y": "number"})
    rows: list[Row] = []
    for d in range(30):
        rows.append((f"x{d}", "x", [1, 5, 2, 6, 0, 7][d % 6], T0 + d * DAY, T0 + d * DAY + (3 * DAY if d % 7 == 3 else HOUR),
                     None))
        if d % 5 != 4:  # gaps, so y's two-day window is sometimes empty
            rows.append((f"y{d}", "y", [-1.5, 0.0, -0.0, 2.0, -3.0][d % 5], T0 + d * DAY + 6 * HOUR,
                         T0 + d * DAY + 6 * HOUR, None))
    rows += [("x3c", "x", 9, T0 + 3 * DAY, T0 + 8 * DAY, "x3"),          # correction of a late report
             ("y7w", "y", None, T0 + 7 * DAY + 6 * HOUR, T0 + 9 * DAY, "y7"),  # withdrawal
             ("back", "x", 4, T0 - 10 * DAY, T0 + 20 * DAY, None)]          # late backfill
    index = _index(plan, rows)
    waivers = [Waiver("mx", "alice", "sensor fault", until=T0 + 12 * DAY), Waiver("tr", "bob", "seasonal"),
               Waiver("ch", "carol", "under a not: not waivable")]
    for ws in ([], waivers):
        tl = timeline(plan, index, T0 - 2 * DAY, T0 + 34 * DAY, 12 * HOUR, waivers=ws)
        assert mismatches(plan, index, tl, ws) == []
        # The shortcut is exercised: two steps with the same statuses but other values.
        seen: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        repeats = 0
        for i in range(len(tl.instants)):
            statuses = tuple(tl.benchmarks[b].status[i] for b in tl.gate_benchmarks["g"])
            vals = tuple(repr(tl.benchmarks[b].value[i]) for b in tl.gate_benchmarks["g"])
            repeats += seen.setdefault(statuses, vals) != vals
        assert repeats > 10


def test_thresholds_float64_cannot_hold_are_compared_by_python() -> None:
    # Two integers of 2**53 - 1 and a 2 sum to 2**54 exactly, later a 4 makes 2**54 + 4;
    # 2**54 + 1 becomes 2**54 as a float64, so float64 would find both sums >= 2**54 + 1 and
    # take the two steps for one combination of statuses. Each benchmark is a gate alone, so
    # nothing else tells the steps apart.
    big = 2**54 + 1
    m = 2**53 - 1
    rows: list[Row] = [("a", "n", m, T0, T0, None), ("b", "n", m, T0 + DAY, T0 + DAY, None),
                       ("c", "n", 2, T0 + 2 * DAY, T0 + 2 * DAY, None), ("e", "n", 4, T0 + 2 * DAY, T0 + 3 * DAY, None),
                       ("d", "n", -m, T0 + 4 * DAY, T0 + 4 * DAY, None), ("d2", "n", -m + 3, T0 + 4 * DAY, T0 + 5 * DAY, "d"),
                       ("t", "b", True, T0, T0, None), ("f", "b", False, T0 + 2 * DAY, T0 + 2 * DAY, None),
                       ("f2", "b", None, T0 + 2 * DAY, T0 + 3 * DAY, "f")]
    benchmarks = [
        dict(aggregate="sum", op=">=", threshold=big), dict(aggregate="sum", op="==", threshold=big),
        dict(aggregate="sum", op="<", threshold=big), dict(aggregate="sum", op="between", threshold=[big, 2**60]),
        dict(aggregate="sum", op="!=", threshold=2**54 + 4), dict(aggregate="sum", op=">", threshold=2.0**54),
        dict(aggregate="latest", op="<=", threshold=-(2**53) - 1), dict(aggregate="min", op=">", threshold=-(2**53) - 1),
        dict(aggregate="mean", op=">", threshold=1.5e15)]
    checked = 0
    for n, b in enumerate(benchmarks):
        plan = _plan(_b(f"b{n}", "n", **b), {"n": "integer"})
        index = _index(plan, [r for r in rows if r[1] == "n"])
        tl = timeline(plan, index, T0 - DAY, T0 + 6 * DAY, 12 * HOUR)
        assert mismatches(plan, index, tl) == [], b
        checked += 1
    assert checked == len(benchmarks)
    plan = _plan(_b("ge", "n", aggregate="sum", op=">=", threshold=big), {"n": "integer"})
    index = _index(plan, [r for r in rows if r[1] == "n"])
    tl = timeline(plan, index, T0 - DAY, T0 + 6 * DAY, 12 * HOUR)
    at = tl.instants.index(T0 + 2 * DAY)
    assert tl.benchmarks["ge"].value[at] == 2**54 and tl.benchmarks["ge"].status[at] is False
    assert tl.benchmarks["ge"].value[at + 2] == 2**54 + 4 and tl.benchmarks["ge"].status[at + 2] is True
    for rule in ({"any": [_b("bo", "b", aggregate="latest", op="==", threshold=True),
                          _b("bn", "b", aggregate="latest", op="!=", threshold=False, max_age="P1D")]},
                 {"all": [_b("bs", "b", aggregate="sum", op=">=", threshold=1),
                          _b("bc", "b", aggregate="count", op="!=", threshold=0, window="P1D")]}):
        plan = _plan(rule, {"b": "boolean"})
        index = _index(plan, [r for r in rows if r[1] == "b"])
        assert mismatches(plan, index, timeline(plan, index, T0 - DAY, T0 + 6 * DAY, 12 * HOUR)) == []


def test_between_with_a_bound_float64_cannot_hold_is_compared_by_python_at_its_bounds() -> None:
    # Sums of 2**53, 2**53 + 2, + 4, + 6: a low bound of 2**53 + 1 is 2**53 as a float64, so
    # numpy would find 2**53 in [2**53 + 1, 1e18] though only the high bound is one it holds;
    # and Python's comparison must include both bounds of [2**53 + 2, 2**53 + 4].
    rows: list[Row] = [("a", "n", 2**52, T0, T0, None), ("b", "n", 2**52, T0 + DAY, T0 + DAY, None),
                       *[(f"c{d}", "n", 2, T0 + d * DAY, T0 + d * DAY, None) for d in (2, 3, 4)]]
    for threshold, want in (([2**53 + 1, 1e18], [False, False, True, True, True]),
                            ([2**53 + 2, 2**53 + 4], [False, False, True, True, False])):
        plan = _plan(_b("s", "n", aggregate="sum", op="between", threshold=threshold), {"n": "integer"})
        index = _index(plan, rows)
        tl = timeline(plan, index, T0, T0 + 4 * DAY, DAY)
        assert mismatches(plan, index, tl) == []
        assert tl.benchmarks["s"].value == [2**52, 2**53, 2**53 + 2, 2**53 + 4, 2**53 + 6]
        assert tl.benchmarks["s"].status == want


def test_status_combinations_too_wide_for_an_int64_key() -> None:
    # 31 benchmarks take 62 bits of codes, and the waiver sets (none, then four ending one
    # after another) 3 bits more: too many to pack in an int64, where the fifth set's number
    # (4 << 62) would wrap to 0 and its steps, when only "f" (failing) is waived, would share
    # the rule's result with the steps when nothing is.
    rule = {"all": [_b(f"p{i}", "x", aggregate="latest", op=">=", threshold=0) for i in range(30)]
            + [_b("f", "x", aggregate="latest", op=">=", threshold=100)]}
    plan = _plan(rule, {"x": "integer"})
    index = _index(plan, [("a", "x", 1, T0, T0, None)])
    waivers = [Waiver(b, "alice", "test", until=T0 + (d + 1) * DAY) for d, b in enumerate(["p0", "p1", "p2", "f"])]
    tl = timeline(plan, index, T0, T0 + 5 * DAY, DAY, waivers=waivers)
    assert mismatches(plan, index, tl, waivers) == []
    assert tl.gates["g"] == [True] * 4 + [False] * 2
