"""Property: on random plans and evidence (late reports, corrections, withdrawals, windows
ending exactly on a step), the incremental timeline equals `evaluate_gate` at every step."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from rules.evaluate import Waiver
from rules.evidence import Ledger
from rules.plan import load_plan
from rules.series import EvidenceIndex
from rules.timeline import timeline
from schemas.timefmt import DAY, HOUR, format_timestamp

from .compare import mismatches

T0 = 1_700_000_000 * 1_000_000 // DAY * DAY  # a midnight, so day-long windows end on steps
NUMERIC_AGGS = ["latest", "mean", "min", "max", "sum", "count", "change", "trend"]
BOOL_AGGS = ["latest", "count", "sum"]


@st.composite
def benchmarks(draw: st.DrawFn, bid: str, indicators: list[tuple[str, str]]) -> dict[str, Any]:
    ind, kind = draw(st.sampled_from(indicators))
    agg = draw(st.sampled_from(BOOL_AGGS if kind == "boolean" else NUMERIC_AGGS))
    b: dict[str, Any] = {"id": bid, "indicator": ind, "aggregate": agg}
    if kind == "boolean" and agg == "latest":
        b["op"] = draw(st.sampled_from(["==", "!="]))
        b["threshold"] = draw(st.booleans())
    else:
        b["op"] = draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!=", "between"]))
        if b["op"] == "between":
            low = draw(st.integers(-2, 4))
            b["threshold"] = [low, low + draw(st.integers(0, 3))]
        else:
            b["threshold"] = draw(st.integers(-2, 5) | st.sampled_from([0.5, 1.5, 2.25]))
    if draw(st.booleans()):
        b["window"] = draw(st.sampled_from(["P1D", "P2D", "P3D", "PT12H", "P5D", "P1W"]))
    if draw(st.booleans()):
        b["max_age"] = draw(st.sampled_from(["P1D", "P2D", "PT36H", "P4D"]))
    low_points = 0 if agg in ("count", "sum") else 1
    b["min_points"] = draw(st.integers(low_points, 3))
    if draw(st.booleans()):
        b["weight"] = draw(st.integers(1, 3))
    return {"benchmark": b}


@st.composite
def rules_(draw: st.DrawFn, prefix: str, indicators: list[tuple[str, str]], depth: int) -> dict[str, Any]:
    counter = draw(st.shared(st.just([0]), key="bench-counter"))
    if depth == 0 or draw(st.integers(0, 2)) == 0:
        counter[0] += 1
        return draw(benchmarks(f"{prefix}b{counter[0]}", indicators))
    kids = [draw(rules_(prefix, indicators, depth - 1)) for _ in range(draw(st.integers(1, 3)))]
    op = draw(st.sampled_from(["all", "any", "not", "at_least", "score"]))
    if op == "not":
        return {"not": kids[0]}
    if op == "at_least":
        return {"at_least": draw(st.integers(1, len(kids))), "of": kids}
    if op == "score":
        return {"score": {"of": kids, "min": draw(st.sampled_from([0.25, 0.5, 0.75, 1.0]))}}
    return {op: kids}


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]], list[int | None]]:
    kinds = draw(st.lists(st.sampled_from(["number", "integer", "boolean"]), min_size=1, max_size=3))
    indicators = [(f"i{n}", k) for n, k in enumerate(kinds)]
    gates = []
    for g in range(draw(st.integers(1, 2))):
        gates.append({"id": f"g{g}", "name": f"gate {g}", "rule": draw(rules_(f"g{g}", indicators, 2)),
                      "approval": {"roles": ["head"], "quorum": 1}})
    plan = {"plan": "p", "version": "1", "mission": {"id": "m", "name": "M"},
            "indicators": [{"id": i, "name": i, "unit": "u", "kind": k} for i, k in indicators],
            "phases": [{"id": "ph", "name": "phase", "gates": gates}]}
    records: list[dict[str, Any]] = []
    received: list[int | None] = []
    for n in range(draw(st.integers(0, 30))):
        ind, kind = draw(st.sampled_from(indicators))
        value: Any
        if kind == "boolean":
            value = draw(st.booleans())
        elif kind == "integer":
            value = draw(st.integers(-3, 6))
        else:
            value = draw(st.integers(-3, 6) | st.sampled_from([0.1, 0.2, 0.5, -0.0, 1e-300])
                         | st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False))
        # Whole and half days, so observations and knowledge times land on window edges.
        obs = T0 + draw(st.integers(0, 24)) * 12 * HOUR
        rep = obs + draw(st.sampled_from([0, 0, 12 * HOUR, DAY, 3 * DAY, 10 * DAY]))
        rec: dict[str, Any] = {"id": f"r{n}", "mission": "m", "indicator": ind, "value": value,
                               "observed_at": format_timestamp(obs), "reported_at": format_timestamp(rep),
                               "source": "s"}
        earlier = [r for r in records if r["indicator"] == ind]
        if earlier and draw(st.integers(0, 3)) == 0:
            target = draw(st.sampled_from(earlier))
            rec["supersedes"] = target["id"]
            rec["observed_at"] = target["observed_at"]
            rec["reported_at"] = format_timestamp(
                max(rep, int(draw(st.integers(0, 4))) * DAY + _parse(target["reported_at"])))
            if draw(st.booleans()):
                rec["value"] = None
        records.append(rec)
        live = draw(st.integers(0, 3)) == 0
        received.append(_parse(rec["reported_at"]) + draw(st.integers(0, 3)) * DAY if live else None)
    return plan, records, received


def _parse(text: str) -> int:
    from schemas.timefmt import parse_timestamp

    return parse_timestamp(text)


@given(scenarios(), st.integers(-2, 10), st.sampled_from([DAY, 12 * HOUR, 2 * DAY, 5 * HOUR]),
       st.integers(1, 30), st.booleans())
def test_random_timelines_equal_independent_evaluation(
        scenario: tuple[dict[str, Any], list[dict[str, Any]], list[int | None]],
        start_day: int, step: int, steps: int, waive: bool) -> None:
    doc, raws, received = scenario
    plan = load_plan(doc)
    ledger = Ledger(plan)
    for n, (raw, rec_at) in enumerate(zip(raws, received, strict=True)):
        ledger.add(raw, line=n + 1, received_at=rec_at)
    index = EvidenceIndex(ledger.records.values())
    start = T0 + start_day * DAY
    waivers = []
    if waive:
        waivable = [bid for bid, (_, _, under_not) in plan.benchmarks.items() if not under_not]
        if waivable:
            waivers.append(Waiver(waivable[0], "head", "test", start + (steps // 2) * step))
    tl = timeline(plan, index, start, start + steps * step, step, waivers=waivers)
    assert len(tl.instants) == steps + 1
    assert mismatches(plan, index, tl, waivers) == []
