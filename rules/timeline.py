"""The readiness timeline: every gate's and benchmark's status at each step of a time range,
with the very semantics of `rules.evaluate.evaluate_gate` at each instant, computed
incrementally rather than instant by instant.

Why it can be incremental: as of T, a point counts when it is known by T, is not a withdrawal
and is not superseded by T. Records satisfy observed_at <= known_at, so every counting point
is also observed by T, and the counting set of an indicator changes only at two kinds of
events: a point *enters* at its knowledge time and *leaves* at the knowledge time of its
correction. A window `(T - w, T]` is then "the counting points at or after position lo" in the
index's static point order, where lo only moves forward as T grows. So each (indicator,
window) keeps a pointer, a count and an exact running sum, and is touched only by events and
by points sliding out of it.

Sums are kept exactly as Python integers (each value scaled by a power of two common to the
indicator), so the rounded sum equals `math.fsum` of the same points: mean and sum match
`evaluate` to the last bit, not merely within rounding. min, max, change and trend are
recomputed from the window's points with the same `aggregate` function, but only when the
window's contents changed since the last step.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from schemas.models import Benchmark, BenchmarkNode, Node
from schemas.timefmt import DAY, parse_duration

from .compiler import Status
from .evaluate import Waiver, _typed, aggregate
from .plan import LoadedPlan
from .series import NEVER, EvidenceIndex, IndicatorSeries
from .tree import children, iter_benchmarks

__all__ = ["BenchmarkSeries", "Timeline", "instants", "timeline"]

# Whether this Python's fsum keeps the sign of an all-negative-zero sum (it changed across
# versions); the exact sum must round the same way.
_FSUM_NEGZERO = math.copysign(1.0, math.fsum([-0.0])) < 0
_MISSING = object()
_NONE: frozenset[str] = frozenset()


@dataclass(frozen=True)
class BenchmarkSeries:
    """One benchmark over the timeline: per instant its status, aggregate value and points."""

    status: list[Status]
    value: list[Any]
    points: list[int]


@dataclass(frozen=True)
class Timeline:
    instants: list[int]  # microseconds, ascending
    gates: dict[str, list[Status]]  # gate id -> status per instant (plan order)
    benchmarks: dict[str, BenchmarkSeries]
    gate_benchmarks: dict[str, list[str]]  # gate id -> its benchmark ids, in rule order

    def at(self, i: int) -> dict[str, Any]:
        """The gates and benchmarks at step i, shaped as status/value/points per benchmark."""
        from .evaluate import STATUS

        return {
            gid: {
                "status": STATUS[statuses[i]],
                "benchmarks": {
                    bid: {"status": STATUS[self.benchmarks[bid].status[i]],
                          "value": self.benchmarks[bid].value[i],
                          "points": self.benchmarks[bid].points[i]}
                    for bid in self.gate_benchmarks[gid]
                },
            }
            for gid, statuses in self.gates.items()
        }


def instants(start_us: int, end_us: int, step_us: int) -> list[int]:
    """start, start + step, ... up to and including end when it falls on a step."""
    if step_us <= 0:
        raise ValueError("step must be a positive duration")
    if end_us < start_us:
        raise ValueError("the end of a timeline must not be before its start")
    return list(range(start_us, end_us + 1, step_us))


class _Window:
    """The counting points of one indicator observed in (T - span, T]: positions >= lo."""

    __slots__ = ("count", "extremes", "hi_val", "lo", "lo_val", "los", "negzero", "total", "version")

    def __init__(self, los: list[int], extremes: bool):
        self.los = los  # lo at each instant, precomputed by one vectorised search
        self.lo = 0
        self.count = 0
        self.total = 0  # exact sum, in units of 2**-scale
        self.negzero = 0  # how many -0.0 values are in the window (fsum may keep the sign)
        self.version = 0
        # min and max, kept while only points come in; None once a point equal to one of
        # them leaves, until the next read recomputes them from the window.
        self.extremes = extremes
        self.lo_val: float | None = None
        self.hi_val: float | None = None

    def enter(self, exact: int, negzero: int, v: float) -> None:
        self.count += 1
        self.total += exact
        self.negzero += negzero
        self.version += 1
        if self.extremes:
            self.add(v)

    def leave(self, exact: int, negzero: int, v: float) -> None:
        self.count -= 1
        self.total -= exact
        self.negzero -= negzero
        self.version += 1
        if self.extremes:
            self.remove(v)

    def add(self, v: float) -> None:
        if self.count == 1:
            self.lo_val = self.hi_val = v
        elif self.lo_val is not None and self.hi_val is not None:
            if v < self.lo_val:
                self.lo_val = v
            if v > self.hi_val:
                self.hi_val = v

    def remove(self, v: float) -> None:
        if v == self.lo_val or v == self.hi_val:
            self.lo_val = self.hi_val = None


class _IndicatorState:
    def __init__(self, series: IndicatorSeries | None, spans: Iterable[tuple[int | None, bool]],
                 times: np.ndarray):
        n = 0 if series is None else len(series.obs)
        self.series = series
        self.active = [False] * n
        self.active_np = np.zeros(n, np.bool_)
        self.newest = -1  # the last counting position, or -1
        self.windows: dict[int | None, _Window] = {}
        if series is None:
            self.on_pos: list[int] = []
            self.off_pos: list[int] = []
            zeros = [0] * len(times)
            self.on_at, self.off_at = zeros, zeros
            self.ival: list[int] = []
            self.isneg0: list[bool] = []
            self.vals: list[float] = []
            self.obs: list[int] = []
            self.scale = 1
            for span, extremes in spans:
                self.windows[span] = _Window(zeros, extremes)
            self.window_list = list(self.windows.values())
            return
        entry = np.maximum(series.known, series.obs)
        counts = series.is_point & (entry < series.superseded_at)  # else it never counts
        on = np.flatnonzero(counts)
        on = on[np.argsort(entry[on], kind="stable")]
        off = np.flatnonzero(counts & (series.superseded_at != NEVER))
        off = off[np.argsort(series.superseded_at[off], kind="stable")]
        self.on_pos = on.tolist()
        self.off_pos = off.tolist()
        self.on_at = np.searchsorted(entry[on], times, side="right").tolist()
        self.off_at = np.searchsorted(series.superseded_at[off], times, side="right").tolist()
        values = self.vals = series.values.tolist()
        self.obs = series.obs.tolist()
        if bool(np.all(np.abs(series.values) < 2.0**53)) and bool(np.all(series.values == np.trunc(series.values))):
            self.scale = 1  # whole numbers (counts, booleans, integers): no scaling needed
            self.ival = series.values.astype(np.int64).tolist()
        else:
            ratios = [v.as_integer_ratio() for v in values]
            shift = max((d.bit_length() - 1 for _, d in ratios), default=0)
            self.scale = 1 << shift
            self.ival = [num << (shift - d.bit_length() + 1) for num, d in ratios]
        self.isneg0 = ((series.values == 0) & np.signbit(series.values)).tolist()
        for span, extremes in spans:
            if span is None:
                los = [0] * len(times)
            else:
                los = np.searchsorted(series.obs, times - span, side="right").tolist()
            self.windows[span] = _Window(los, extremes)
        self.window_list = list(self.windows.values())

    def advance(self, k: int, prev: int) -> None:
        """Move to instant k from instant prev (-1: from nothing).

        The hottest loop of the timeline (once per record entering or leaving), hence the
        local names and the inlined window updates.
        """
        windows = self.window_list
        active, active_np, ival, isneg0, vals = self.active, self.active_np, self.ival, self.isneg0, self.vals
        entering = self.on_pos[self.on_at[prev] if prev >= 0 else 0:self.on_at[k]]
        if entering:
            newest = self.newest
            for p in entering:
                active[p] = True
                active_np[p] = True
                if p > newest:
                    newest = p
                for w in windows:
                    if p >= w.lo:
                        w.enter(ival[p], isneg0[p], vals[p])
            self.newest = newest
        # Entries before exits: a point that enters and leaves within one step is left out.
        leaving = self.off_pos[self.off_at[prev] if prev >= 0 else 0:self.off_at[k]]
        if leaving:
            for p in leaving:
                active[p] = False
                active_np[p] = False
                for w in windows:
                    if p >= w.lo:
                        w.leave(ival[p], isneg0[p], vals[p])
            newest = self.newest
            while newest >= 0 and not active[newest]:
                newest -= 1
            self.newest = newest
        for w in windows:
            lo = w.los[k]
            for p in range(w.lo, lo):
                if active[p]:
                    w.leave(ival[p], isneg0[p], vals[p])
            w.lo = lo

    def exact_sum(self, w: _Window) -> float:
        if w.total == 0:
            return -0.0 if _FSUM_NEGZERO and w.negzero == w.count > 0 else 0.0
        return w.total / self.scale  # int / int rounds correctly, as fsum does

    def window_points(self, w: _Window) -> tuple[np.ndarray, np.ndarray]:
        assert self.series is not None
        pos = w.lo + np.flatnonzero(self.active_np[w.lo:])
        return self.series.values[pos], self.series.obs[pos]

    def extremes(self, w: _Window) -> tuple[float, float]:
        lo, hi = w.lo_val, w.hi_val
        # A zero may be +0.0 or -0.0; which one numpy returns depends on the order, so a
        # zero extreme is always taken from the window as `aggregate` takes it.
        if lo is None or hi is None or lo == 0 or hi == 0:
            values, _ = self.window_points(w)
            lo, hi = w.lo_val, w.hi_val = float(values.min()), float(values.max())
        return lo, hi

    def first(self, w: _Window) -> int:
        """The first counting position in a non-empty window."""
        return w.lo + int(np.argmax(self.active_np[w.lo:]))


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}


def _comparison(op: str, threshold: Any) -> Callable[[Any], bool]:
    """The benchmark's comparison as `rules.evaluate._compare` makes it, bound once."""
    if op == "between":
        low, high = threshold
        return lambda v: bool(low <= v <= high)
    fn = _OPS[op]
    return lambda v: bool(fn(v, threshold))


class _BenchmarkState:
    __slots__ = ("b", "compare", "ind", "kind", "max_age", "min_points", "value", "version", "window")

    def __init__(self, b: Benchmark, kind: str, ind: _IndicatorState):
        self.b = b
        self.kind = kind
        self.ind = ind
        self.window = ind.windows[parse_duration(b.window) if b.window else None]
        self.max_age = parse_duration(b.max_age) if b.max_age else None
        self.min_points = b.min_points
        self.compare = _comparison(b.op, b.threshold)
        self.version = -1
        self.value: Any = None

    def refresh(self) -> None:
        w = self.window
        self.version = w.version
        name, kind, n, ind = self.b.aggregate, self.kind, w.count, self.ind
        if name == "count":
            self.value = n
        elif name == "sum":
            s = ind.exact_sum(w)
            self.value = s if kind == "number" else int(s)
        elif n == 0:
            self.value = None
        elif name == "mean":
            self.value = ind.exact_sum(w) / n
        elif name == "latest":
            self.value = _typed(kind, ind.vals[ind.newest])
        elif name == "min":
            self.value = _typed(kind, ind.extremes(w)[0])
        elif name == "max":
            self.value = _typed(kind, ind.extremes(w)[1])
        elif name == "change":
            self.value = None if n < 2 else _typed(kind, ind.vals[ind.newest] - ind.vals[ind.first(w)])
        else:
            values, obs = ind.window_points(w)
            self.value = _trend(values, obs, self.b.threshold)

    def status(self, as_of: int) -> Status:
        if self.max_age is not None:
            newest = self.ind.newest
            if newest < 0 or self.ind.obs[newest] < as_of - self.max_age:
                return None
        if self.window.count < self.min_points or self.value is None:
            return None
        return self.compare(self.value)


_EPS = 2.0**-52


def _trend(values: np.ndarray, obs: np.ndarray, threshold: Any) -> float | None:
    """The least-squares slope per day, as `aggregate` computes it, up to rounding.

    numpy sums in a different order than `aggregate`'s fsum, so the two may differ in the
    last bits. Both errors are within `bound` of the true slope (a standard summation error
    bound, widened); when a threshold lies that close, the status could depend on those
    bits, so the slope is taken from `aggregate` itself and the status stays exact.
    """
    n = len(values)
    if n < 2 or obs[0] == obs[-1]:
        return None
    x = (obs - obs[0]) / DAY
    dx = x - x.mean()
    dy = values - values.mean()
    sxx = float(dx @ dx)
    slope = float(dx @ dy) / sxx
    bound = 64 * (n + 4) * _EPS * (
        float(np.abs(dx) @ np.abs(dy)) + abs(slope) * sxx
        + float(np.abs(values).max()) * (abs(float(dx.sum())) + float(np.abs(dx).sum()) * _EPS)) / sxx
    limits = threshold if isinstance(threshold, list) else [threshold]
    if any(abs(slope - float(t)) <= bound for t in limits):
        exact: float | None = aggregate("trend", "number", values, obs)
        return exact
    return slope


def _benchmark_slots(node: Node, out: dict[str, int], counter: list[int]) -> None:
    """Each benchmark's index among the rule's nodes in pre-order (the recording's layout)."""
    idx = counter[0]
    counter[0] += 1
    if isinstance(node, BenchmarkNode):
        out[node.benchmark.id] = idx
    for c in children(node):
        _benchmark_slots(c, out, counter)


def timeline(plan: LoadedPlan, index: EvidenceIndex, start_us: int, end_us: int, step_us: int,
             gates: Sequence[str] | None = None, waivers: Iterable[Waiver] = ()) -> Timeline:
    """Every gate and benchmark at start, start + step, ... end, as `evaluate_gate` finds them."""
    times_list = instants(start_us, end_us, step_us)
    times = np.array(times_list, np.int64)
    gate_ids = list(gates) if gates is not None else list(plan.gates)
    for g in gate_ids:
        if g not in plan.gates:
            raise KeyError(f"unknown gate {g!r}")
    ws = list(waivers)

    gate_bench: dict[str, list[Benchmark]] = {
        g: [b for b, _ in iter_benchmarks(plan.gates[g].gate.rule)] for g in gate_ids}
    spans: dict[str, dict[int | None, bool]] = {}
    for bs in gate_bench.values():
        for b in bs:
            span = parse_duration(b.window) if b.window else None
            extremes = b.aggregate in ("min", "max")
            per = spans.setdefault(b.indicator, {})
            per[span] = per.get(span, False) or extremes
    inds = {i: _IndicatorState(index.series.get(i), s.items(), times) for i, s in spans.items()}
    bstates = {b.id: _BenchmarkState(b, plan.indicators[b.indicator].kind, inds[b.indicator])
               for bs in gate_bench.values() for b in bs}
    by_indicator: dict[str, list[str]] = {}
    for bid, st in bstates.items():
        by_indicator.setdefault(st.b.indicator, []).append(bid)
    gates_of: dict[str, list[str]] = {}
    for g, bs in gate_bench.items():
        for b in bs:
            gates_of.setdefault(b.id, []).append(g)
    slots: dict[str, dict[str, int]] = {}
    for g in gate_ids:
        slots[g] = {}
        _benchmark_slots(plan.gates[g].gate.rule, slots[g], [0])
    waivable = {g: {b.id for b, under_not in iter_benchmarks(plan.gates[g].gate.rule) if not under_not}
                for g in gate_ids}

    gate_out: dict[str, list[Status]] = {g: [] for g in gate_ids}
    bench_out = {bid: BenchmarkSeries([], [], []) for bid in bstates}
    ctx: dict[str, Any] = {}
    gate_last: dict[str, tuple[frozenset[str], list[Status]]] = {}
    for k, t in enumerate(times_list):
        # The rule reads only ctx values, so a gate is re-run only when one of its benchmarks'
        # ctx value moved (or its waivers did).
        dirty: set[str] = set()
        for ind_id, ist in inds.items():
            ist.advance(k, k - 1)
            for bid in by_indicator[ind_id]:
                st = bstates[bid]
                if st.version != st.window.version:
                    st.refresh()
                status = st.status(t)
                ctx_value = st.value if status is not None else None
                out = bench_out[bid]
                out.value.append(st.value)
                out.points.append(st.window.count)
                old = ctx.get(bid, _MISSING)
                if old is _MISSING or old != ctx_value or type(old) is not type(ctx_value):
                    dirty.update(gates_of[bid])
                    ctx[bid] = ctx_value
        for g in gate_ids:
            active = frozenset(w.benchmark for w in ws if w.active(t) and w.benchmark in waivable[g]) if ws else _NONE
            cached = gate_last.get(g)
            if cached is None or g in dirty or cached[0] != active:
                statuses = plan.compiled(g, active)(ctx)
                gate_last[g] = cached = (active, statuses)
            statuses = cached[1]
            gate_out[g].append(statuses[0])
            for bid, slot in slots[g].items():
                bench_out[bid].status.append(statuses[slot])
    return Timeline(times_list, gate_out, bench_out, {g: [b.id for b in bs] for g, bs in gate_bench.items()})
