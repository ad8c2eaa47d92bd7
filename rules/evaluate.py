"""Evaluate gates as of an instant and explain the result (CONTRACT section 3).

Per benchmark: find the points (as-of view, window by binary search), aggregate them, decide
pass / fail / unknown, and say why in plain words. The combinators run in the compiled rule
(`rules.compiler`), so the statuses shown are the very ones the fast path computes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from schemas.jsonfmt import Encoded, canonical_text, sha256_canonical, sha256_canonical_resumed
from schemas.models import (
    AtLeastNode,
    Benchmark,
    BenchmarkNode,
    Indicator,
    Node,
    ScoreNode,
)
from schemas.timefmt import DAY, describe_duration, format_date, format_timestamp, parse_duration

from .compiler import Status
from .plan import LoadedPlan
from .series import EvidenceIndex, View
from .tree import children, node_name, node_weight

__all__ = ["UNKNOWN_CAUSES", "BenchmarkResult", "Waiver", "aggregate", "evaluate", "evaluate_benchmark", "evaluate_gate",
           "format_value", "unknown_cause"]

STATUS = {True: "pass", False: "fail", None: "unknown"}
# Why a benchmark is unknown (CONTRACT 3.3), in the order evaluate_benchmark checks them.
UNKNOWN_CAUSES = ("stale", "too_few_points", "undefined")
_STALE = "stale: "
_TOO_FEW = re.compile(r"[0-9]+ points?, [0-9]+ needed\Z")
_RULE_ALONE = " (rule alone: "


@dataclass(frozen=True)
class Waiver:
    benchmark: str
    by: str
    justification: str
    until: int | None = None  # microseconds; the waiver ends at this instant

    def active(self, as_of: int) -> bool:
        return self.until is None or as_of < self.until


@dataclass(frozen=True)
class BenchmarkResult:
    status: Status
    value: Any
    points: int
    newest: int | None
    evidence: list[str]
    reason: str
    ctx_value: Any  # what the compiled rule sees: the value, or None when unknown
    next_change: int | None
    # The canonical JSON of explanation nodes showing this result (see _explain).
    texts: dict[Any, str] = field(default_factory=dict, compare=False, repr=False)


def format_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        text = f"{v:.4f}".rstrip("0").rstrip(".")
        return text if text not in ("0", "-0") else f"{v:.3g}"
    return str(v)


def aggregate(name: str, kind: str, values: np.ndarray, obs: np.ndarray) -> Any:
    """The aggregate of the points in order, or None where it is undefined."""
    n = len(values)
    if name == "count":
        return n
    if name == "sum":
        if kind == "number":
            return math.fsum(values.tolist())
        return int(math.fsum(values.tolist()))  # integers, or the number of true points
    if n == 0:
        return None
    if name == "latest":
        return _typed(kind, values[-1])
    if name == "min":
        return _typed(kind, values.min())
    if name == "max":
        return _typed(kind, values.max())
    if name == "mean":
        return math.fsum(values.tolist()) / n
    if name == "change":
        return None if n < 2 else _typed(kind, values[-1] - values[0])
    if name == "trend":
        if n < 2:
            return None
        # Least squares on centred data; the products are vectorised, the sums correctly
        # rounded (fsum), so the slope does not depend on summation order.
        x = (obs - obs[0]) / DAY
        mx = math.fsum(x.tolist()) / n
        my = math.fsum(values.tolist()) / n
        dx = x - mx
        sxx = math.fsum((dx * dx).tolist())
        if sxx == 0:
            return None
        return math.fsum((dx * (values - my)).tolist()) / sxx
    raise ValueError(f"unknown aggregate {name!r}")


def _typed(kind: str, v: Any) -> Any:
    if kind == "boolean":
        return bool(v)
    if kind == "integer":
        return int(v)
    return float(v)


_EMPTY = np.empty(0, np.float64)
_EMPTY_I = np.empty(0, np.int64)


def _compare(op: str, value: Any, threshold: Any) -> bool:
    if op == "between":
        return bool(threshold[0] <= value <= threshold[1])
    return bool({"<": value < threshold, "<=": value <= threshold, ">": value > threshold,
                 ">=": value >= threshold, "==": value == threshold, "!=": value != threshold}[op])


def _threshold_text(b: Benchmark) -> str:
    if b.op == "between":
        assert isinstance(b.threshold, list)
        return f"between {format_value(b.threshold[0])} and {format_value(b.threshold[1])}"
    return f"{b.op} {format_value(b.threshold)}"


# Results memoised on one view at most (a view is one indicator's points: few gates share it).
_MEMO_RESULTS = 64


def evaluate_benchmark(b: Benchmark, ind: Indicator, view: View | None, as_of: int) -> BenchmarkResult:
    if view is None:
        return _evaluate_points(b, ind, None, 0, 0, as_of)
    obs = view.obs
    hi = int(obs.searchsorted(as_of, side="right"))
    lo = min(hi, int(obs.searchsorted(as_of - parse_duration(b.window), side="right")) if b.window else 0)
    # On one view, the result depends on as_of only through the window's bounds and whether
    # the newest point is stale: with those in the key, a result worked out once is reused.
    stale = bool(b.max_age) and (hi == 0 or int(obs[hi - 1]) < as_of - parse_duration(b.max_age))
    key = (b.aggregate, b.window, b.max_age, b.min_points, b.op, repr(b.threshold), ind.kind, lo, hi, stale)
    res: BenchmarkResult | None = view.memo.get(key)
    if res is None:
        res = _evaluate_points(b, ind, view, lo, hi, as_of)
        if len(view.memo) >= _MEMO_RESULTS:
            view.memo.clear()
        view.memo[key] = res
    return res


def _evaluate_points(b: Benchmark, ind: Indicator, view: View | None, lo: int, hi: int, as_of: int) -> BenchmarkResult:
    obs, vals = (view.obs, view.values) if view is not None else (_EMPTY_I, _EMPTY)
    n = hi - lo
    newest = int(obs[hi - 1]) if hi else None
    value = aggregate(b.aggregate, ind.kind, vals[lo:hi], obs[lo:hi])
    evidence = view.ids(lo, hi) if view is not None else []
    max_age = parse_duration(b.max_age) if b.max_age else None

    next_change: int | None = None
    if b.window and n:
        next_change = int(obs[lo]) + parse_duration(b.window)
    unknown_reason = None
    if max_age is not None:
        if newest is None:
            unknown_reason = f"{_STALE}no point observed yet"
        elif newest < as_of - max_age:
            unknown_reason = f"{_STALE}newest point {format_date(newest)} is older than {describe_duration(max_age)}"
        else:
            fresh_until = newest + max_age + 1  # a point exactly max_age old is still fresh
            next_change = fresh_until if next_change is None else min(next_change, fresh_until)
    if unknown_reason is None and n < b.min_points:
        unknown_reason = f"{n} point{'s' if n != 1 else ''}, {b.min_points} needed"
    if unknown_reason is None and value is None:
        unknown_reason = (f"{b.aggregate} needs 2 points at distinct times" if b.aggregate == "trend"
                          else f"{b.aggregate} needs 2 points" if b.aggregate == "change"
                          else f"no points for {b.aggregate}")
    over = f"over {n} point{'s' if n != 1 else ''}"
    if unknown_reason is not None:
        return BenchmarkResult(None, value, n, newest, evidence, unknown_reason, None, next_change)
    ok = _compare(b.op, value, b.threshold)
    unit = " per day" if b.aggregate == "trend" else ""
    verdict = _threshold_text(b) if ok else f"is not {_threshold_text(b)}"
    reason = f"{b.aggregate} {format_value(value)}{unit} {verdict} {over}"
    return BenchmarkResult(ok, value, n, newest, evidence, reason, value, next_change)


def unknown_cause(node: dict[str, Any]) -> str | None:
    """Why a benchmark node of an explanation is unknown by its rule alone (one of
    UNKNOWN_CAUSES), or None when the rule gave it a status. Read from the reason that
    evaluate_benchmark wrote, whose three forms are made above; a waived node keeps its rule's
    reason after "rule alone"."""
    waived = node.get("waived")
    status = waived["rule_status"] if waived else node["status"]
    if status != "unknown":
        return None
    reason: str = node["reason"]
    if waived:
        reason = reason.rsplit(_RULE_ALONE, 1)[-1][:-1]
    if reason.startswith(_STALE):
        return "stale"
    return "too_few_points" if _TOO_FEW.match(reason) else "undefined"


def evaluate_gate(plan: LoadedPlan, gate_id: str, index: EvidenceIndex, as_of: int,
                  waivers: Iterable[Waiver] = (), digest: bool = True) -> dict[str, Any]:
    """One gate as of one instant (CONTRACT section 3). digest=False leaves `digest` None: the
    hash of the explanation is a third of the work, and a plan test that pins no digest needs none."""
    ref = plan.gates[gate_id]
    active = {w.benchmark: w for w in waivers if w.active(as_of)}
    # A benchmark under a `not` cannot be waived (CONTRACT 3.5); callers refuse such waivers,
    # and the engine never applies one.
    if active:
        waivable = {bid for bid, (g, _, under_not) in plan.benchmarks.items() if g.id == gate_id and not under_not}
        active = {bid: w for bid, w in active.items() if bid in waivable}
    results: dict[str, BenchmarkResult] = {}
    next_change: list[int] = [w.until for w in active.values() if w.until is not None]
    for b, _ in _benchmarks(ref.gate.rule):
        res = evaluate_benchmark(b, plan.indicators[b.indicator], index.view(b.indicator, as_of), as_of)
        results[b.id] = res
        if res.next_change is not None:
            next_change.append(res.next_change)
    statuses = plan.compiled(gate_id, frozenset(active))({k: r.ctx_value for k, r in results.items()})
    counter = iter(range(len(statuses)))
    explanation, encoded = _explain(ref.gate.rule, statuses, counter, results, active, digest)
    gate_digest = None
    if digest:
        # The digest of CONTRACT 3 over the explanation, its benchmark nodes' text made once
        # per result, hashed from where it differs from this gate's last digest on this index.
        memo_key = ("digest", plan.sha256, gate_id)
        gate_digest, states = sha256_canonical_resumed(
            {"plan_sha256": plan.sha256, "gate": gate_id, "explanation": encoded}, index.memo.get(memo_key))
        if len(index.memo) >= _MEMO_GATES:
            index.memo.clear()
        index.memo[memo_key] = states
    return {
        "phase": ref.phase.id,
        "gate": gate_id,
        "name": ref.gate.name,
        "status": STATUS[statuses[0]],
        "digest": gate_digest,
        "valid_until": format_timestamp(min(next_change)) if next_change else None,
        "explanation": explanation,
    }


# Gates whose last digest an index keeps (each holds its explanation's text, mostly shared
# with the results memoised on the index's views).
_MEMO_GATES = 256


def _benchmarks(node: Node) -> list[tuple[Benchmark, None]]:
    if isinstance(node, BenchmarkNode):
        return [(node.benchmark, None)]
    return [b for c in children(node) for b in _benchmarks(c)]


def _explain(node: Node, statuses: Sequence[Status], counter: Any, results: dict[str, BenchmarkResult],
             waivers: dict[str, Waiver], encode: bool = True) -> tuple[dict[str, Any], Any]:
    """The explanation of `node`, and the same for hashing: the canonical JSON of unwaived
    benchmark nodes made once per result (BenchmarkResult.texts) and given as Encoded.
    encode=False gives None for the second: with no digest asked, the text is not needed."""
    status = statuses[next(counter)]
    if isinstance(node, BenchmarkNode):
        b = node.benchmark
        r = results[b.id]
        out: dict[str, Any] = {
            "node": "benchmark", "benchmark": b.id, "indicator": b.indicator, "aggregate": b.aggregate,
            "status": STATUS[status], "value": r.value, "op": b.op, "threshold": b.threshold,
            "points": r.points, "min_points": b.min_points, "window": b.window, "max_age": b.max_age,
            "newest_observed_at": format_timestamp(r.newest) if r.newest is not None else None,
            # A copy: the result, memoised, may serve later evaluations.
            "evidence": list(r.evidence), "reason": r.reason, "weight": b.weight,
        }
        w = waivers.get(b.id)
        if w is not None:
            out["waived"] = {"by": w.by, "justification": w.justification,
                             "until": format_timestamp(w.until) if w.until is not None else None,
                             "rule_status": STATUS[r.status]}
            out["reason"] = f"waived by {w.by}: {w.justification}{_RULE_ALONE}{r.reason})"
            return out, out
        if not encode:
            return out, None
        # What the node shows beyond the result: the result's key held the rest (evaluate_benchmark).
        key = (b.id, b.indicator, repr(b.weight), status)
        text = r.texts.get(key)
        if text is None:
            text = r.texts[key] = canonical_text(out)
        return out, Encoded(text)
    inner: dict[str, Any] = {"node": node_name(node), "status": STATUS[status], "weight": node_weight(node)}
    if isinstance(node, AtLeastNode):
        inner["at_least"] = node.at_least
    if isinstance(node, ScoreNode):
        inner["min"] = node.score.min
    pairs = [_explain(c, statuses, counter, results, waivers, encode) for c in children(node)]
    inner["children"] = [shown for shown, _ in pairs]
    if isinstance(node, ScoreNode):
        total = sum(node_weight(c) for c in children(node))
        inner["share"] = sum(node_weight(c) for c, ch in zip(children(node), inner["children"], strict=True)
                             if ch["status"] == "pass") / total
    if not encode:
        return inner, None
    return inner, {**inner, "children": [hashed for _, hashed in pairs]}


def evaluate(plan: LoadedPlan, index: EvidenceIndex, as_of: int, waivers: Iterable[Waiver] = (),
             gates: Iterable[str] | None = None, digests: Iterable[str] | None = None) -> dict[str, Any]:
    """The whole output of `evaluate` for one instant (CONTRACT section 3). digests: only these
    gates get their `digest` (the others None, and `evidence_digest` None); default every one."""
    ws = list(waivers)
    gate_ids = list(gates) if gates is not None else list(plan.gates)
    hashed = None if digests is None else set(digests)
    out: dict[str, Any] = {
        "plan": plan.id,
        "plan_sha256": plan.sha256,
        "mission": plan.mission_id,
        "as_of": format_timestamp(as_of),
        "evidence_digest": sha256_canonical(index.counting_ids(as_of)) if hashed is None else None,
        "gates": [evaluate_gate(plan, g, index, as_of, ws, hashed is None or g in hashed) for g in gate_ids],
    }
    unusable = index.unusable_known(as_of)
    if unusable:
        out["unusable_records"] = unusable
    return out
