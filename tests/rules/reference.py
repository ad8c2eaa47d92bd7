"""A small, obviously correct evaluator written straight from CONTRACT sections 2 and 3.

No numpy, no caching, no cleverness: acceptance reads the raw records itself (section 2), and
every as-of evaluation recomputes everything from the list of accepted records, with exact
fractions where floats could blur a comparison. Nothing here comes from `rules`: the engine is
checked against it, never the other way round.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

DAY = 24 * 3600 * 1_000_000
Status = bool | None
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class RefRecord:
    id: str
    indicator: str
    value: Any
    observed_at: int
    reported_at: int
    known_at: int
    source: str
    supersedes: str | None


@dataclass(frozen=True)
class RefBenchmark:
    value: Any
    status: Status
    points: int
    newest: int | None
    evidence: list[str]


# --- acceptance (section 2) ------------------------------------------------------------------------


def instant(text: str) -> int:
    """Microseconds since the epoch of an RFC 3339 timestamp (the generator writes plain ones)."""
    return (dt.datetime.fromisoformat(text) - _EPOCH) // dt.timedelta(microseconds=1)


def _same_value(kind: str, a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool) or kind == "boolean":
        return type(a) is bool and type(b) is bool and a == b
    return bool(a == b)


def _fits(kind: str, value: Any) -> bool:
    if kind == "boolean":
        return type(value) is bool
    if kind == "integer":
        return type(value) is int
    return type(value) in (int, float)


class RefLedger:
    """Accepted records in acceptance order. `take` answers what section 2 says of one record:
    ("stored" | "duplicate" | "rejected", the fields a rejection names)."""

    def __init__(self, kinds: Mapping[str, str]):
        self.kinds = kinds
        self.records: dict[str, RefRecord] = {}

    def take(self, raw: Mapping[str, Any], received_at: int | None = None,
             backfill: bool = False) -> tuple[str, set[str]]:
        first = self.records.get(raw["id"])
        if first is not None:  # a retry: compared with the first copy, nothing else checked
            differ = {name for name, same in (
                ("indicator", raw["indicator"] == first.indicator), ("source", raw["source"] == first.source),
                ("value", _same_value(self.kinds[first.indicator], raw["value"], first.value)),
                ("observed_at", instant(raw["observed_at"]) == first.observed_at),
                ("supersedes", raw.get("supersedes") == first.supersedes)) if not same}
            return ("rejected", differ) if differ else ("duplicate", set())
        bad: set[str] = set()
        kind = self.kinds[raw["indicator"]]
        value, target_id = raw["value"], raw.get("supersedes")
        if (value is None and target_id is None) or (value is not None and not _fits(kind, value)):
            bad.add("value")
        observed = instant(raw["observed_at"])
        if raw.get("reported_at") is not None:
            reported = instant(raw["reported_at"])
            if received_at is not None and not backfill and reported > received_at:
                bad.add("reported_at")  # a live system cannot be told of a future report
        else:  # files: the observation time; the service: the time of receipt
            reported = observed if received_at is None else received_at
        if observed > reported:
            bad.add("observed_at")
        if target_id is not None:
            target = self.records.get(target_id)
            if (target is None or target.indicator != raw["indicator"]
                    or any(r.supersedes == target_id for r in self.records.values())
                    or target.reported_at > reported):
                bad.add("supersedes")
        if bad:
            return "rejected", bad
        # Live records are known from max(reported_at, received_at); files and backfills keep
        # reported_at.
        known = reported if received_at is None or backfill else max(reported, received_at)
        self.records[raw["id"]] = RefRecord(raw["id"], raw["indicator"], value, observed, reported, known,
                                            raw["source"], target_id)
        return "stored", set()


# --- evaluation (section 3) ------------------------------------------------------------------------


def counting_records(records: Iterable[RefRecord], as_of: int) -> list[RefRecord]:
    """Known at or before T, not superseded by a known record, not a withdrawal."""
    known = [r for r in records if r.known_at <= as_of]
    superseded = {r.supersedes for r in known if r.supersedes is not None}
    return [r for r in known if r.id not in superseded and r.value is not None]


def points(records: Iterable[RefRecord], indicator: str, as_of: int, window: int | None) -> list[RefRecord]:
    pts = [r for r in counting_records(records, as_of)
           if r.indicator == indicator and r.observed_at <= as_of
           and (window is None or r.observed_at > as_of - window)]
    return sorted(pts, key=lambda r: (r.observed_at, r.known_at, r.id))


def aggregate(name: str, pts: list[RefRecord]) -> Any:
    vals = [r.value for r in pts]
    if name == "count":
        return len(vals)
    if name == "sum":
        return sum(1 if v is True else 0 if v is False else v for v in vals)  # type: ignore[misc]
    if not vals:
        return None
    if name == "latest":
        return vals[-1]
    if name == "min":
        return min(vals)  # type: ignore[type-var]
    if name == "max":
        return max(vals)  # type: ignore[type-var]
    if name == "mean":
        return Fraction(sum(Fraction(v) for v in vals)) / len(vals)  # type: ignore[arg-type]
    if name == "change":
        return None if len(vals) < 2 else vals[-1] - vals[0]  # type: ignore[operator]
    if name == "trend":
        xs = [Fraction(r.observed_at - pts[0].observed_at, DAY) for r in pts]
        ys = [Fraction(v) for v in vals]  # type: ignore[arg-type]
        n = len(xs)
        if n < 2 or len(set(xs)) < 2:
            return None
        mx, my = sum(xs) / n, sum(ys) / n
        return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    raise AssertionError(name)


def compare(op: str, value: Any, threshold: Any) -> bool:
    if isinstance(value, Fraction):
        threshold = [Fraction(repr(t)) for t in threshold] if isinstance(threshold, list) else Fraction(repr(threshold))
    if op == "between":
        return bool(threshold[0] <= value <= threshold[1])
    return {"<": value < threshold, "<=": value <= threshold, ">": value > threshold,
            ">=": value >= threshold, "==": value == threshold, "!=": value != threshold}[op]


def benchmark(b: Mapping[str, Any], records: list[RefRecord], as_of: int, durations: Mapping[str, int]) -> RefBenchmark:
    window = durations[b["window"]] if b.get("window") else None
    max_age = durations[b["max_age"]] if b.get("max_age") else None
    pts = points(records, b["indicator"], as_of, window)
    everything = points(records, b["indicator"], as_of, None)
    newest = everything[-1].observed_at if everything else None
    value = aggregate(b["aggregate"], pts)
    status: Status
    if (max_age is not None and (newest is None or newest < as_of - max_age)) or len(pts) < b.get("min_points", 1) or value is None:
        status = None
    else:
        status = compare(b["op"], value, b["threshold"])
    return RefBenchmark(value, status, len(pts), newest, [r.id for r in pts])


# --- three-valued combinators ------------------------------------------------------------------


def all_of(kids: list[Status]) -> Status:
    return False if False in kids else None if None in kids else True


def any_of(kids: list[Status]) -> Status:
    return True if True in kids else None if None in kids else False


def not_of(kid: Status) -> Status:
    return None if kid is None else not kid


def at_least(k: int, kids: list[Status]) -> Status:
    passes, unknowns = kids.count(True), kids.count(None)
    return True if passes >= k else False if passes + unknowns < k else None


def score(minimum: float, kids: list[tuple[Status, float]]) -> Status:
    total = sum(Fraction(repr(w)) for _, w in kids)
    passing = sum(Fraction(repr(w)) for s, w in kids if s is True)
    maybe = sum(Fraction(repr(w)) for s, w in kids if s is not False)
    m = Fraction(repr(minimum))
    return True if passing / total >= m else False if maybe / total < m else None


def weight(node: Mapping[str, Any]) -> float:
    w = node["benchmark"].get("weight", 1) if "benchmark" in node else node.get("weight", 1)
    return float(w)


def kids_of(node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    for key in ("all", "any", "of"):
        if key in node:
            return list(node[key])
    if "not" in node:
        return [node["not"]]
    if "score" in node:
        return list(node["score"]["of"])
    return []


def statuses(node: Mapping[str, Any], leaf: Mapping[str, Status]) -> list[Status]:
    """Every node's status in pre-order, given each benchmark's status."""
    if "benchmark" in node:
        return [leaf[node["benchmark"]["id"]]]
    below = [statuses(k, leaf) for k in kids_of(node)]
    tops = [b[0] for b in below]
    if "all" in node:
        s = all_of(tops)
    elif "any" in node:
        s = any_of(tops)
    elif "not" in node:
        s = not_of(tops[0])
    elif "at_least" in node:
        s = at_least(node["at_least"], tops)
    else:
        s = score(node["score"]["min"], list(zip(tops, [weight(k) for k in kids_of(node)], strict=True)))
    return [s, *[x for b in below for x in b]]


def waivable(node: Mapping[str, Any], under_not: bool = False) -> set[str]:
    """Benchmark ids a waiver may apply to: those with no `not` anywhere above them (3.5)."""
    if "benchmark" in node:
        return set() if under_not else {node["benchmark"]["id"]}
    return {bid for kid in kids_of(node) for bid in waivable(kid, under_not or "not" in node)}


def share(node: Mapping[str, Any], leaf: Mapping[str, Status]) -> Fraction:
    """A score node's weighted share of passing children (unknown ones do not pass)."""
    kids = kids_of(node)
    tops = [statuses(k, leaf)[0] for k in kids]
    total = sum(Fraction(repr(weight(k))) for k in kids)
    return sum((Fraction(repr(weight(k))) for k, s in zip(kids, tops, strict=True) if s is True), Fraction(0)) / total
