"""Property tests: the engine agrees with the reference evaluator of `reference.py` on random
plans, random evidence (corrections, withdrawals, ties, live and backfilled knowledge times)
and random instants, including windows and staleness at their exact edges."""

from __future__ import annotations

import itertools
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from rules.compiler import compile_rule, compile_rule_recording
from rules.evaluate import Waiver, evaluate_gate
from rules.evidence import Ledger, Record
from rules.plan import LoadedPlan, load_plan
from rules.series import EvidenceIndex
from schemas.timefmt import HOUR, format_timestamp, parse_duration, parse_timestamp

from . import reference as ref

T0 = parse_timestamp("2025-01-01T00:00:00Z")
STEP = 6 * HOUR
DURATIONS = ["PT6H", "PT12H", "P1D", "P2D", "P3D", "P1W"]
DUR_US = {d: parse_duration(d) for d in DURATIONS}
KINDS = {"i": "integer", "n": "number", "b": "boolean"}

# --- plans ---------------------------------------------------------------------------------------

NUM_OPS = ["<", "<=", ">", ">=", "==", "!=", "between"]


@st.composite
def benchmarks(draw: st.DrawFn) -> dict[str, Any]:
    ind = draw(st.sampled_from(list(KINDS)))
    kind = KINDS[ind]
    aggs = ["latest", "count", "sum"] if kind == "boolean" else \
        ["latest", "mean", "min", "max", "sum", "count", "change", "trend"]
    agg = draw(st.sampled_from(aggs))
    b: dict[str, Any] = {"id": "?", "indicator": ind, "aggregate": agg}
    if kind == "boolean" and agg == "latest":
        b["op"] = draw(st.sampled_from(["==", "!="]))
        b["threshold"] = draw(st.booleans())
    else:
        b["op"] = draw(st.sampled_from(NUM_OPS))
        # Trend slopes are exact fractions: an offset of .37 keeps thresholds off them, so a
        # float rounding in the engine cannot flip a comparison the contract leaves exact.
        base = st.integers(-3, 12)
        if agg == "trend":
            num = base.map(lambda x: x + 0.37)
        elif agg == "mean":
            num = st.one_of(base, base.map(lambda x: x + 0.5))
        else:
            num = st.one_of(base, base.map(lambda x: x + 0.25))
        if b["op"] == "between":
            lo, hi = sorted((draw(num), draw(num)))
            b["threshold"] = [lo, hi]
        else:
            b["threshold"] = draw(num)
    if draw(st.booleans()):
        b["window"] = draw(st.sampled_from(DURATIONS))
    if draw(st.integers(0, 2)) == 0:
        b["max_age"] = draw(st.sampled_from(DURATIONS))
    lo_points = 0 if agg in ("count", "sum") else 1
    if draw(st.booleans()):
        b["min_points"] = draw(st.integers(lo_points, 3))
    if draw(st.booleans()):
        b["weight"] = draw(st.sampled_from([0, 1, 2, 0.5]))
    return {"benchmark": b}


def _inner(kids: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    many = st.lists(kids, min_size=1, max_size=4)
    weight = st.sampled_from([None, 0, 1, 3])

    def with_weight(node: dict[str, Any], w: Any) -> dict[str, Any]:
        return node if w is None else {**node, "weight": w}

    return st.one_of(
        st.builds(lambda k, w: with_weight({"all": k}, w), many, weight),
        st.builds(lambda k, w: with_weight({"any": k}, w), many, weight),
        st.builds(lambda k, w: with_weight({"not": k}, w), kids, weight),
        many.flatmap(lambda k: st.builds(lambda n, w: with_weight({"at_least": n, "of": k}, w),
                                         st.integers(1, len(k)), weight)),
        st.builds(lambda k, m, w: with_weight({"score": {"of": k, "min": m}}, w),
                  many, st.sampled_from([0.25, 0.3, 0.5, 0.6, 0.75, 0.8, 1]), weight),
    )


RULES = st.recursive(benchmarks(), _inner, max_leaves=6)


def _fix(node: dict[str, Any], counter: itertools.count[int]) -> None:
    """Unique benchmark ids; every score with some weight (a plan rule, not what we test)."""
    if "benchmark" in node:
        node["benchmark"]["id"] = f"b{next(counter)}"
        return
    for kid in ref.kids_of(node):
        _fix(kid, counter)  # type: ignore[arg-type]
    if "score" in node and sum(ref.weight(k) for k in node["score"]["of"]) == 0:
        first = node["score"]["of"][0]
        first.get("benchmark", first)["weight"] = 1


def make_plan(rule: dict[str, Any]) -> LoadedPlan:
    _fix(rule, itertools.count())
    return load_plan({
        "plan": "prop", "mission": {"id": "m", "name": "M"},
        "indicators": [
            {"id": "i", "name": "I", "kind": "integer"},
            {"id": "n", "name": "N", "kind": "number"},
            {"id": "b", "name": "B", "kind": "boolean"},
        ],
        "phases": [{"id": "p", "name": "P", "gates": [
            {"id": "g", "name": "G", "rule": rule, "approval": {"roles": ["r"], "quorum": 1}}]}],
    })


# --- evidence ------------------------------------------------------------------------------------

VALUES = {"i": st.integers(0, 10), "n": st.integers(0, 40).map(lambda q: q / 4), "b": st.booleans()}
Arrival = tuple[dict[str, Any], int | None, bool]  # a raw record, its time of receipt, backfill


@st.composite
def arrivals(draw: st.DrawFn) -> list[Arrival]:
    """Raw records as a file, a live service or a backfill would get them: new records,
    corrections and withdrawals (some of them not acceptable: of an unknown or already
    corrected record, of another indicator, reported before what they correct), retries
    (identical or conflicting), missing and future reported_at. Nothing here decides what is
    accepted: the engine and the reference each read them."""
    out: list[Arrival] = []
    for n in range(draw(st.integers(0, 14))):
        earlier = [raw for raw, _, _ in out]
        what = draw(st.sampled_from(["new", "new", "new", "correct", "retry"])) if earlier else "new"
        if what == "retry":
            raw = dict(draw(st.sampled_from(earlier)))
            if draw(st.booleans()):  # the same value written another way, or another value
                ind = raw["indicator"]
                raw["value"] = float(raw["value"]) if ind == "n" and raw["value"] is not None else draw(VALUES[ind])
            raw["reported_at"] = format_timestamp(
                parse_timestamp(raw.get("reported_at") or raw["observed_at"]) + draw(st.sampled_from([0, STEP])))
        else:
            raw = {"id": f"{draw(st.sampled_from(['a', 'b', 'c']))}{n}", "mission": "m", "source": "s"}
            if what == "correct":
                target = draw(st.sampled_from(earlier))
                raw["supersedes"] = draw(st.sampled_from([target["id"], target["id"], "nowhere"]))
                ind = target["indicator"] if draw(st.integers(0, 4)) else draw(st.sampled_from(list(KINDS)))
                obs = parse_timestamp(target["observed_at"])
                base = parse_timestamp(target.get("reported_at") or target["observed_at"])
                reported = base + draw(st.sampled_from([-STEP, 0, STEP, 4 * STEP]))
                value = None if draw(st.integers(0, 2)) == 0 else draw(VALUES[ind])
            else:
                ind = draw(st.sampled_from(list(KINDS)))
                obs = T0 + draw(st.integers(0, 24)) * STEP
                reported = obs + draw(st.sampled_from([-STEP, 0, 0, 0, STEP, STEP, 4 * STEP, 4 * STEP]))
                value = None if draw(st.integers(0, 12)) == 0 else draw(VALUES[ind])
            raw.update(indicator=ind, value=value, observed_at=format_timestamp(obs))
            if draw(st.integers(0, 5)):
                raw["reported_at"] = format_timestamp(reported)
        mode = draw(st.sampled_from(["file", "file", "live", "backfill"]))
        received = None
        if mode != "file":  # received around when it was reported, sometimes before
            received = parse_timestamp(raw.get("reported_at") or raw["observed_at"]) + \
                draw(st.sampled_from([-STEP, 0, STEP, 2 * STEP]))
        out.append((raw, received, mode == "backfill"))
    return out


def accept_both(plan: LoadedPlan, items: list[Arrival]) -> tuple[list[Record], list[ref.RefRecord]]:
    """Each record through the engine's acceptance and the reference's: same outcomes, same
    fields named, same reported_at and knowledge time for every stored record."""
    ledger = Ledger(plan)
    reference = ref.RefLedger({i: plan.indicators[i].kind for i in KINDS})
    for n, (raw, received, backfill) in enumerate(items):
        got = ledger.add(raw, line=n + 1, received_at=received, backfill=backfill)
        status, fields = reference.take(raw, received, backfill)
        assert (got.status, {e.field for e in got.errors}) == (status, fields), (n, raw, received, backfill, got)
    mine = {r.id: (r.reported_at, r.known_at) for r in ledger.records.values()}
    assert mine == {r.id: (r.reported_at, r.known_at) for r in reference.records.values()}
    return list(ledger.records.values()), list(reference.records.values())


def _instants(draw: st.DrawFn, records: list[ref.RefRecord]) -> list[int]:
    """Random instants and the exact edges: a point leaving a window, a point going stale."""
    edges = {T0 - 1}
    for r in records:
        edges |= {r.known_at - 1, r.known_at, r.observed_at}
        for d in DUR_US.values():
            edges |= {r.observed_at + d - 1, r.observed_at + d, r.observed_at + d + 1}
    out = [T0 + draw(st.integers(-4, 40)) * STEP + draw(st.sampled_from([0, 0, 1, -1, HOUR]))]
    out += draw(st.lists(st.sampled_from(sorted(edges)), min_size=1, max_size=6))
    return out


def _preorder(node: dict[str, Any]) -> list[dict[str, Any]]:
    """An explanation's nodes, or a rule document's, in pre-order."""
    kids = node.get("children") if "node" in node else ref.kids_of(node)
    return [node, *[n for c in kids or [] for n in _preorder(c)]]


def _same_value(engine: Any, reference: Any) -> bool:
    if reference is None or engine is None:
        return engine is None and reference is None
    if isinstance(reference, bool) or isinstance(engine, bool):
        return engine is reference
    return math.isclose(engine, float(reference), rel_tol=1e-9, abs_tol=1e-12)


STATUS = {True: "pass", False: "fail", None: "unknown"}


@given(st.data())
def test_engine_agrees_with_reference(data: st.DataObject) -> None:
    rule = data.draw(RULES, "rule")
    plan = make_plan(rule)
    records, ref_records = accept_both(plan, data.draw(arrivals(), "arrivals"))
    index = EvidenceIndex(records)
    node = plan.document["phases"][0]["gates"][0]["rule"]
    doc_nodes = _preorder(node)
    bids = sorted(n["benchmark"]["id"] for n in doc_nodes if "benchmark" in n)
    # Waivers on any benchmark, those under a `not` (however deep) included: the engine must
    # ignore the latter, and the reference says which they are from the document alone.
    waivable = ref.waivable(node)
    chosen = data.draw(st.lists(st.sampled_from(bids), unique=True, max_size=3))
    waivers = [Waiver(bid, "w", "because", data.draw(st.sampled_from([None, T0 + 10 * STEP]))) for bid in chosen]
    for as_of in _instants(data.draw, ref_records):
        got = evaluate_gate(plan, "g", index, as_of, waivers)
        bench = {bid: ref.benchmark(_doc_bench(node, bid), ref_records, as_of, DUR_US) for bid in bids}
        active = {w.benchmark for w in waivers if (w.until is None or as_of < w.until) and w.benchmark in waivable}
        leaf = {bid: True if bid in active else r.status for bid, r in bench.items()}
        want = ref.statuses(node, leaf)
        nodes = _preorder(got["explanation"])
        assert [n["status"] for n in nodes] == [STATUS[s] for s in want], (format_timestamp(as_of), got)
        assert got["status"] == STATUS[want[0]]
        for n, doc in zip(nodes, doc_nodes, strict=True):
            where = (format_timestamp(as_of), n)
            if n["node"] == "score":
                assert math.isclose(n["share"], float(ref.share(doc, leaf)), abs_tol=1e-12), where
            if n["node"] != "benchmark":
                continue
            r = bench[n["benchmark"]]
            assert _same_value(n["value"], r.value), where
            assert n["points"] == r.points, where
            assert n["evidence"] == r.evidence, where
            assert n["newest_observed_at"] == (format_timestamp(r.newest) if r.newest is not None else None), where
            assert ("waived" in n) == (n["benchmark"] in active), where
            if "waived" in n:  # the rule's own verdict, beside the waived pass
                assert n["waived"]["rule_status"] == STATUS[r.status], where


def _doc_bench(node: dict[str, Any], bid: str) -> dict[str, Any]:
    if "benchmark" in node:
        return node["benchmark"] if node["benchmark"]["id"] == bid else {}
    for kid in ref.kids_of(node):
        found = _doc_bench(kid, bid)  # type: ignore[arg-type]
        if found:
            return found
    return {}


# --- the compiled combinators on random contexts ------------------------------------------------


@st.composite
def contexts(draw: st.DrawFn, plan: LoadedPlan) -> dict[str, Any]:
    ctx: dict[str, Any] = {}
    for _, b, _ in plan.benchmarks.values():
        kind = plan.indicators[b.indicator].kind
        if draw(st.integers(0, 3)) == 0:
            ctx[b.id] = None
        elif kind == "boolean" and b.aggregate == "latest":
            ctx[b.id] = draw(st.booleans())
        else:
            # Values right on the thresholds are the interesting ones.
            t = b.threshold
            near = [*t] if isinstance(t, list) else [t]
            ctx[b.id] = draw(st.one_of(st.sampled_from(near), st.integers(-5, 15),
                                       st.floats(-5, 15, allow_nan=False)))
    return ctx


@given(st.data())
def test_compiled_rule_agrees_with_reference_combinators(data: st.DataObject) -> None:
    plan = make_plan(data.draw(RULES, "rule"))
    node = plan.document["phases"][0]["gates"][0]["rule"]
    model = plan.gates["g"].gate.rule
    waivable = sorted(ref.waivable(node))
    waived = frozenset(data.draw(st.lists(st.sampled_from(waivable), unique=True, max_size=2)) if waivable else [])
    fast, recording = compile_rule(model, waived), compile_rule_recording(model, waived)
    for _ in range(5):
        ctx = data.draw(contexts(plan), "ctx")
        leaf: dict[str, ref.Status] = {}
        for _, b, _ in plan.benchmarks.values():
            v = ctx[b.id]
            leaf[b.id] = True if b.id in waived else None if v is None else ref.compare(b.op, v, b.threshold)
        want = ref.statuses(node, leaf)
        assert recording(ctx) == want, ctx
        assert fast(ctx) is want[0], ctx
