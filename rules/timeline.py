"""The readiness timeline: every gate's and benchmark's status at each step of a time range,
with the very semantics of `rules.evaluate.evaluate_gate` at each instant, computed
incrementally rather than instant by instant.

Why it can be incremental: as of T, a point counts when it is known by T, is not a withdrawal
and is not superseded by T. Records satisfy observed_at <= known_at, so every counting point
is also observed by T, and the counting set of an indicator changes only at two kinds of
events: a point *enters* at its knowledge time and *leaves* at the knowledge time of its
correction. A window `(T - w, T]` then holds a point over one interval of instants:
from its entry to the earlier of its correction and `observed_at + w`. Counts and exact sums
of every window at every instant therefore come from a few vectorised cumulative sums over
those intervals, before any walk; the walk over the steps follows individual points only
for the aggregates that need them (min, max, change, trend).

Sums are kept exactly as Python integers (each value scaled by a power of two common to the
indicator), so the rounded sum equals `math.fsum` of the same points: mean and sum match
`evaluate` to the last bit, not merely within rounding. min, max, change and trend are
recomputed from the window's points only when the window's contents changed since the last
step; trend with correctly rounded sums, so it too matches `evaluate` to the last bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from schemas.models import Benchmark, BenchmarkNode, Node
from schemas.timefmt import DAY, parse_duration

from .compiler import Status
from .evaluate import Waiver, _typed
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
    """The counting points of one indicator observed in (T - span, T]: positions >= lo.

    count, exact sum, negative zeros and "changed since the previous step" are known for
    every instant before the walk starts (see `_IndicatorState._sums`); only min and max
    need the points themselves, so only windows read by a min or max follow them.
    """

    __slots__ = ("changed", "count", "counts", "extremes", "hi_val", "lo", "lo_val", "los",
                 "negzeros", "totals")

    def __init__(self, los: list[int], extremes: bool, counts: list[int], totals: list[int],
                 negzeros: list[int], changed: list[bool]):
        self.los = los  # lo at each instant, precomputed by one vectorised search
        self.lo = 0
        self.counts = counts  # per instant: how many points count in the window
        self.totals = totals  # per instant: their exact sum, in units of 2**-scale
        self.negzeros = negzeros  # per instant: how many are -0.0 (fsum may keep the sign)
        self.changed = changed  # per instant: did a point enter or leave since the step before
        self.count = 0  # the running count, kept only while following extremes
        # min and max, kept while only points come in; None once a point equal to one of
        # them leaves, until the next read recomputes them from the window.
        self.extremes = extremes
        self.lo_val: float | None = None
        self.hi_val: float | None = None

    def enter(self, v: float) -> None:
        self.count += 1
        if self.count == 1:
            self.lo_val = self.hi_val = v
        elif self.lo_val is not None and self.hi_val is not None:
            if v < self.lo_val:
                self.lo_val = v
            if v > self.hi_val:
                self.hi_val = v

    def leave(self, v: float) -> None:
        self.count -= 1
        if v == self.lo_val or v == self.hi_val:
            self.lo_val = self.hi_val = None


class _IndicatorState:
    def __init__(self, series: IndicatorSeries | None, spans: Iterable[tuple[int | None, bool]],
                 times: np.ndarray):
        n = 0 if series is None else len(series.obs)
        k = len(times)
        self.series = series
        self.active = [False] * n
        self.active_np = np.zeros(n, np.bool_)
        self.newest = -1  # the last counting position, or -1
        self.windows: dict[int | None, _Window] = {}
        if series is None:
            self.on_pos: list[int] = []
            self.off_pos: list[int] = []
            zeros = [0] * k
            self.on_at, self.off_at = zeros, zeros
            self.vals: list[float] = []
            self.obs: list[int] = []
            self.scale = 1
            for span, extremes in spans:
                self.windows[span] = _Window(zeros, extremes, zeros, zeros, zeros, [False] * k)
            self.window_list: list[_Window] = []
            self.newest_at = [-1] * k
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
        self.vals = series.values.tolist()
        self.obs = series.obs.tolist()
        self.newest_at = _newest(k, np.flatnonzero(counts), np.maximum(series.known, series.obs), series.superseded_at,
                                 times)
        # Each point counts at the instants [entered, superseded); the window of span w holds
        # it while also T < observed_at + w: one interval of instants per point and window.
        pts = np.flatnonzero(counts)
        first_in = np.searchsorted(times, entry[pts], side="left")
        first_off = np.searchsorted(times, series.superseded_at[pts], side="left")
        ints = self._exact(series.values[pts])
        negzero = ((series.values == 0) & np.signbit(series.values))[pts]
        for span, extremes in spans:
            if span is None:
                los = [0] * k
                last = first_off
            else:
                los = np.searchsorted(series.obs, times - span, side="right").tolist()
                last = np.minimum(first_off, np.searchsorted(times, series.obs[pts] + span, side="left"))
            self.windows[span] = _Window(los, extremes, *_sums(k, first_in, last, ints, negzero))
        # Only windows read by min or max follow the points one by one.
        self.window_list = [w for w in self.windows.values() if w.extremes]

    def _exact(self, values: np.ndarray) -> np.ndarray:
        """The values as exact integers in units of 2**-scale (sets scale)."""
        if bool(np.all(np.abs(values) < 2.0**53)) and bool(np.all(values == np.trunc(values))):
            self.scale = 1  # whole numbers (counts, booleans, integers): no scaling needed
            ints = values.astype(np.int64)
            if int(np.abs(ints).sum()) < 2**62:  # no running sum can overflow int64
                return ints
            return np.array(ints.tolist(), dtype=object)
        # v = m * 2**e with m in [0.5, 1): m * 2**53 is a whole number, exactly.
        fraction, exponent = np.frexp(values)
        mantissa = (fraction * 2.0**53).astype(np.int64)
        power = exponent.astype(np.int64) - 53
        shift = max(0, int(-power.min())) if len(values) else 0
        self.scale = 1 << shift
        out = np.empty(len(values), dtype=object)
        out[:] = [m << (e + shift) for m, e in zip(mantissa.tolist(), power.tolist(), strict=True)]
        return out

    def advance(self, k: int, prev: int) -> None:
        """Move to instant k from instant prev (-1: from nothing).

        The hottest loop of the timeline (once per record entering or leaving), hence the
        local names and the inlined window updates.
        """
        windows = self.window_list
        active, active_np, vals = self.active, self.active_np, self.vals
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
                        w.enter(vals[p])
            self.newest = newest
        # Entries before exits: a point that enters and leaves within one step is left out.
        leaving = self.off_pos[self.off_at[prev] if prev >= 0 else 0:self.off_at[k]]
        if leaving:
            for p in leaving:
                active[p] = False
                active_np[p] = False
                for w in windows:
                    if p >= w.lo:
                        w.leave(vals[p])
            newest = self.newest
            while newest >= 0 and not active[newest]:
                newest -= 1
            self.newest = newest
        for w in windows:
            lo = w.los[k]
            for p in range(w.lo, lo):
                if active[p]:
                    w.leave(vals[p])
        for w in self.windows.values():
            w.lo = w.los[k]

    def exact_sum(self, w: _Window, k: int) -> float:
        total = w.totals[k]
        if total == 0:
            n = w.counts[k]
            return -0.0 if _FSUM_NEGZERO and w.negzeros[k] == n > 0 else 0.0
        return total / self.scale  # int / int rounds correctly, as fsum does

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


def _sums(k: int, first: np.ndarray, last: np.ndarray, ints: np.ndarray, negzero: np.ndarray
          ) -> tuple[list[int], list[int], list[int], list[bool]]:
    """Per instant: count, exact sum and -0.0 count of the points each counting over the
    instants [first, last), and whether any point came or went at that instant."""
    keep = first < last
    first, last = first[keep], last[keep]
    ones_in = np.bincount(first, minlength=k + 1)
    ones_out = np.bincount(last, minlength=k + 1)
    counts = np.cumsum(ones_in - ones_out)[:k]
    changed = (ones_in + ones_out)[:k] > 0
    changed[:1] = True  # the first step always reads its windows
    neg = negzero[keep]
    negzeros = np.cumsum(np.bincount(first[neg], minlength=k + 1) - np.bincount(last[neg], minlength=k + 1))[:k]
    values = ints[keep]
    steps = np.zeros(k + 1, dtype=values.dtype)  # object zeros are Python ints: exact
    np.add.at(steps, first, values)
    np.subtract.at(steps, last, values)
    totals = np.cumsum(steps)[:k]
    return counts.tolist(), totals.tolist(), negzeros.tolist(), changed.tolist()


def _newest(k: int, pts: np.ndarray, entry: np.ndarray, superseded_at: np.ndarray, times: np.ndarray) -> list[int]:
    """Per instant, the last counting position (positions follow observed_at), or -1."""
    first_in = np.searchsorted(times, entry[pts], side="left")
    first_off = np.searchsorted(times, superseded_at[pts], side="left")
    newest = np.full(k + 1, -1, np.int64)
    stays = first_off == k  # never superseded within the range: counts from first_in on
    np.maximum.at(newest, first_in[stays], pts[stays])
    newest = np.maximum.accumulate(newest)[:k]
    for p, a, b in zip(pts[~stays].tolist(), first_in[~stays].tolist(), first_off[~stays].tolist(), strict=True):
        if a < b:
            np.maximum(newest[a:b], p, out=newest[a:b])
    return newest.tolist()


class _BenchmarkState:
    __slots__ = ("b", "ind", "kind", "max_age", "min_points", "value", "window")

    def __init__(self, b: Benchmark, kind: str, ind: _IndicatorState):
        self.b = b
        self.kind = kind
        self.ind = ind
        self.window = ind.windows[parse_duration(b.window) if b.window else None]
        self.max_age = parse_duration(b.max_age) if b.max_age else None
        self.min_points = b.min_points
        self.value: Any = None

    def refresh(self, k: int) -> None:
        """min, max, change or trend at instant k: the aggregates that read particular points
        (count, sum, mean and latest come from the precomputed sums, `_arithmetic`)."""
        w = self.window
        name, kind, n, ind = self.b.aggregate, self.kind, w.counts[k], self.ind
        if n == 0:
            self.value = None
        elif name == "min":
            self.value = _typed(kind, ind.extremes(w)[0])
        elif name == "max":
            self.value = _typed(kind, ind.extremes(w)[1])
        elif name == "change":
            self.value = None if n < 2 else _typed(kind, ind.vals[ind.newest] - ind.vals[ind.first(w)])
        else:
            values, obs = ind.window_points(w)
            self.value = _trend(values, obs, ind.exact_sum(w, k))


def _trend(values: np.ndarray, obs: np.ndarray, sum_values: float) -> float | None:
    """`aggregate("trend", ...)` to the last bit: the same element-wise steps and the same
    correctly rounded sums (sum_values is fsum(values), known exactly already), so the slope
    is the one `evaluate` reports. (A numpy slope is faster but differs in the last bits,
    and a long-double sum with an error bound was measured slower than fsum here.)"""
    n = len(values)
    if n < 2:
        return None
    x = (obs - obs[0]) / DAY
    mx = math.fsum(x.tolist()) / n
    dx = x - mx
    sxx = math.fsum((dx * dx).tolist())
    if sxx == 0:
        return None
    return math.fsum((dx * (values - sum_values / n)).tolist()) / sxx


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
    slots: dict[str, dict[str, int]] = {}
    for g in gate_ids:
        slots[g] = {}
        _benchmark_slots(plan.gates[g].gate.rule, slots[g], [0])
    waivable = {g: {b.id for b, under_not in iter_benchmarks(plan.gates[g].gate.rule) if not under_not}
                for g in gate_ids}

    n_steps = len(times_list)
    # Pass 1, one indicator at a time: every benchmark's value, points and context value at
    # every instant. The walk over the points (advance) is needed only for the aggregates
    # that look at particular points and for staleness; counts and sums are precomputed.
    values: dict[str, list[Any]] = {}
    ctx_values: dict[str, list[Any]] = {}
    for ind_id, ist in inds.items():
        members = [bstates[bid] for bid in by_indicator[ind_id]]
        walked = [st for st in members if st.b.aggregate not in _ARITHMETIC]
        obs = ist.obs
        newest_obs = [obs[p] if p >= 0 else _NO_OBS for p in ist.newest_at]
        if walked:
            walked_values: list[list[Any]] = [[] for _ in walked]
            for k in range(n_steps):
                ist.advance(k, k - 1)
                for st, out in zip(walked, walked_values, strict=True):
                    if st.window.changed[k]:
                        st.refresh(k)
                    out.append(st.value)
            for st, out in zip(walked, walked_values, strict=True):
                values[st.b.id] = out
        for st in members:
            bid = st.b.id
            if bid not in values:
                values[bid] = _arithmetic(st, n_steps)
            ctx_values[bid] = _ctx(st, values[bid], newest_obs, times_list)

    # Pass 2: the rules. The rule reads only ctx values, so a gate is re-run only when one
    # of its benchmarks' ctx value moved (or its waivers did).
    gate_out: dict[str, list[Status]] = {}
    bench_status: dict[str, list[Status]] = {}
    for g in gate_ids:
        bids = [b.id for b in gate_bench[g]]
        columns = [ctx_values[bid] for bid in bids]
        moved = [False] * n_steps
        for col in columns:
            for k in _moves(col):
                moved[k] = True
        rows: list[list[Status]] = []
        active = last_active = _NONE
        statuses: list[Status] = []
        for k, t in enumerate(times_list):
            if ws:
                active = frozenset(w.benchmark for w in ws if w.active(t) and w.benchmark in waivable[g])
            if moved[k] or active != last_active:  # moved[0] is always set (_moves)
                ctx = {bid: col[k] for bid, col in zip(bids, columns, strict=True)}
                statuses = plan.compiled(g, active)(ctx)
                last_active = active
            rows.append(statuses)
        gate_out[g] = [row[0] for row in rows]
        for bid, slot in slots[g].items():
            bench_status[bid] = [row[slot] for row in rows]
    bench_out = {bid: BenchmarkSeries(bench_status[bid], values[bid], list(bstates[bid].window.counts))
                 for bid in bstates}
    return Timeline(times_list, gate_out, bench_out, {g: [b.id for b in bs] for g, bs in gate_bench.items()})


_ARITHMETIC = frozenset({"count", "sum", "mean", "latest"})
_NO_OBS = -(2**63)  # no counting point: older than any instant minus any max_age


def _arithmetic(st: _BenchmarkState, n_steps: int) -> list[Any]:
    """count, sum or mean at every instant, from the precomputed counts and exact sums."""
    w, ind, name = st.window, st.ind, st.b.aggregate
    if name == "count":
        return list(w.counts)
    if name == "latest":
        vals, kind = ind.vals, st.kind
        return [None if n == 0 else _typed(kind, vals[p]) for n, p in zip(w.counts, ind.newest_at, strict=True)]
    sums = [ind.exact_sum(w, k) for k in range(n_steps)]
    if name == "sum":
        return sums if st.kind == "number" else [int(s) for s in sums]
    return [None if n == 0 else s / n for s, n in zip(sums, w.counts, strict=True)]


def _ctx(st: _BenchmarkState, values: list[Any], newest_obs: list[int], times: list[int]) -> list[Any]:
    """The value the rule sees at each instant: the aggregate when the benchmark has a
    status, else None (stale, too few points, or no value)."""
    need = st.min_points
    out = [v if v is not None and n >= need else None
           for v, n in zip(values, st.window.counts, strict=True)]
    if st.max_age is not None:
        age = st.max_age
        out = [None if o < t - age else v for v, o, t in zip(out, newest_obs, times, strict=True)]
    return out


def _moves(column: list[Any]) -> list[int]:
    """The steps at which a ctx value differs from the one before (value or type); the
    first step always, so every gate's rule runs at least once."""
    out = [0]
    prev = column[0] if column else None
    for k in range(1, len(column)):
        v = column[k]
        if v != prev or type(v) is not type(prev):
            out.append(k)
        prev = v
    return out
