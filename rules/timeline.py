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
those intervals, with no walk over the steps at all. The smallest and largest value, the
first and the newest counting position of every window at every instant come from a segment
tree over the instants on which each point's interval is laid (`_stab`); trend is computed
for all the instants whose window changed at once, the windows laid out one after another.

Sums are kept exactly as Python integers (each value scaled by a power of two common to the
indicator), so the rounded sum equals `math.fsum` of the same points: mean and sum match
`evaluate` to the last bit, not merely within rounding. trend takes `evaluate`'s element-wise
steps and its correctly rounded sums (`_row_fsums`, vectorised, with fsum wherever it cannot
prove the rounding), so it too matches `evaluate` to the last bit.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from schemas.models import Benchmark, BenchmarkNode, Node
from schemas.timefmt import DAY, parse_duration

from .compiler import Status
from .evaluate import Waiver, _typed
from .plan import LoadedPlan
from .series import EvidenceIndex, IndicatorSeries
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
    """The counting points of one indicator observed in (T - span, T].

    Each counting point is in the window over one interval of instants, [first, last); count,
    exact sum, negative zeros and "changed since the previous step" at every instant come from
    those intervals (`_sums`), and so do the smallest and largest value and the first position
    (`_stab`), all before the benchmarks read them.
    """

    __slots__ = ("bounds", "changed", "counts", "first", "last", "negzeros", "pts", "span", "totals")

    def __init__(self, span: int | None, pts: np.ndarray, first: np.ndarray, last: np.ndarray, counts: list[int],
                 totals: list[int], negzeros: list[int], changed: list[bool]):
        self.span = span
        self.bounds: tuple[list[int], list[int]] | None = None  # see window_points
        self.pts = pts  # positions of the points that ever count, ascending
        self.first = first  # per point: the first instant it is in the window
        self.last = last  # per point: the first instant it is no longer in it
        self.counts = counts  # per instant: how many points count in the window
        self.totals = totals  # per instant: their exact sum, in units of 2**-scale
        self.negzeros = negzeros  # per instant: how many are -0.0 (fsum may keep the sign)
        self.changed = changed  # per instant: did a point enter or leave since the step before


class _IndicatorState:
    def __init__(self, series: IndicatorSeries | None, spans: Iterable[int | None], times: np.ndarray):
        k = len(times)
        self.series = series
        self.times = times
        self.windows: dict[int | None, _Window] = {}
        if series is None:
            zeros = [0] * k
            self.vals: list[float] = []
            self.obs: list[int] = []
            self.scale = 1
            none = np.zeros(0, np.int64)
            for span in spans:
                self.windows[span] = _Window(span, none, none, none, zeros, zeros, zeros, [False] * k)
            self.newest_at = [-1] * k
            return
        entry = np.maximum(series.known, series.obs)
        counts = series.is_point & (entry < series.superseded_at)  # else it never counts
        self.vals = series.values.tolist()
        self.obs = series.obs.tolist()
        # Each point counts at the instants [entered, superseded); the window of span w holds
        # it while also T < observed_at + w: one interval of instants per point and window.
        pts = np.flatnonzero(counts)
        first_in = np.searchsorted(times, entry[pts], side="left")
        first_off = np.searchsorted(times, series.superseded_at[pts], side="left")
        self.newest_at = _newest(k, pts, first_in, first_off)
        ints = self._exact(series.values[pts])
        negzero = ((series.values == 0) & np.signbit(series.values))[pts]
        for span in spans:
            if span is None:
                last = first_off
            else:
                last = np.minimum(first_off, np.searchsorted(times, series.obs[pts] + span, side="left"))
            self.windows[span] = _Window(span, pts, first_in, last, *_sums(k, first_in, last, ints, negzero))

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

    def exact_sum(self, w: _Window, k: int) -> float:
        total = w.totals[k]
        if total == 0:
            n = w.counts[k]
            return -0.0 if _FSUM_NEGZERO and w.negzeros[k] == n > 0 else 0.0
        return total / self.scale  # int / int rounds correctly, as fsum does

    def window_points(self, w: _Window, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The values and observation times of the window at instant k, in order."""
        assert self.series is not None
        if w.bounds is None:  # the points observed in (T - span, T], for each instant T
            obs = self.series.obs[w.pts]
            hi = np.searchsorted(obs, self.times, side="right")
            lo = np.zeros(len(hi), np.int64) if w.span is None else np.searchsorted(obs, self.times - w.span,
                                                                                      side="right")
            w.bounds = (lo.tolist(), hi.tolist())
        a, b = w.bounds[0][k], w.bounds[1][k]
        pos = w.pts[a:b][(w.first[a:b] <= k) & (k < w.last[a:b])]
        return self.series.values[pos], self.series.obs[pos]

    def extremes(self, w: _Window, name: str) -> list[float]:
        """min or max of the window at every instant (meaningless where it is empty)."""
        values = self.series.values[w.pts] if self.series is not None else np.zeros(0)
        if name == "min":
            out = _stab(len(w.counts), w.first, w.last, values, np.minimum, np.inf)
        else:
            out = _stab(len(w.counts), w.first, w.last, values, np.maximum, -np.inf)
        # A zero may be +0.0 or -0.0; which one numpy returns depends on the order, so a
        # zero extreme is always taken from the window as `aggregate` takes it.
        result: list[float] = out.tolist()
        for k in np.flatnonzero(out == 0).tolist():
            window, _ = self.window_points(w, k)
            result[k] = float(window.min() if name == "min" else window.max())
        return result

    def first(self, w: _Window) -> list[int]:
        """The first counting position of the window at every instant (where it is not empty)."""
        out: list[int] = _stab(len(w.counts), w.first, w.last, w.pts, np.minimum, np.iinfo(np.int64).max).tolist()
        return out


def _stab(k: int, first: np.ndarray, last: np.ndarray, values: np.ndarray, ufunc: np.ufunc,
          identity: Any) -> np.ndarray:
    """Per instant i < k, ufunc over the values of the points with first <= i < last
    (identity where there are none): a segment tree over the instants, each interval laid on
    its O(log k) nodes, then every node handed down to its leaves; no loop over points."""
    size = 1
    while size < k:
        size *= 2
    tree = np.full(2 * size, identity, dtype=values.dtype)
    keep = first < last
    lo, hi, v = first[keep] + size, last[keep] + size, values[keep]
    while lo.size:
        odd = (lo & 1) == 1
        ufunc.at(tree, lo[odd], v[odd])
        lo = lo + odd
        odd = (hi & 1) == 1
        hi = hi - odd
        ufunc.at(tree, hi[odd], v[odd])
        lo, hi = lo >> 1, hi >> 1
        keep = lo < hi
        lo, hi, v = lo[keep], hi[keep], v[keep]
    level = 1
    while level < size:
        parents = tree[level:2 * level]
        for child in (tree[2 * level:4 * level:2], tree[2 * level + 1:4 * level:2]):
            ufunc(child, parents, out=child)
        level *= 2
    return tree[size:size + k]


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


def _newest(k: int, pts: np.ndarray, first_in: np.ndarray, first_off: np.ndarray) -> list[int]:
    """Per instant, the last counting position (positions follow observed_at), or -1."""
    newest = np.full(k + 1, -1, np.int64)
    stays = first_off == k  # never superseded within the range: counts from first_in on
    np.maximum.at(newest, first_in[stays], pts[stays])
    newest = np.maximum.accumulate(newest)[:k]
    gone = ~stays
    if bool(gone.any()):
        np.maximum(newest, _stab(k, first_in[gone], first_off[gone], pts[gone].astype(np.int64), np.maximum, -1),
                   out=newest)
    out: list[int] = newest.tolist()
    return out


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}


def _statuses(b: Benchmark, ctx: list[Any]) -> list[Status]:
    """The benchmark's status at each step from its ctx values, as the compiled rule tests them
    (rules/compiler.py: None is unknown, else the comparison with the threshold)."""
    if b.op == "between":
        low, high = b.threshold  # type: ignore[misc]
        return [None if v is None else low <= v <= high for v in ctx]
    fn, threshold = _OPS[b.op], b.threshold
    return [None if v is None else fn(v, threshold) for v in ctx]


class _BenchmarkState:
    __slots__ = ("b", "ind", "kind", "max_age", "min_points", "window")

    def __init__(self, b: Benchmark, kind: str, ind: _IndicatorState):
        self.b = b
        self.kind = kind
        self.ind = ind
        self.window = ind.windows[parse_duration(b.window) if b.window else None]
        self.max_age = parse_duration(b.max_age) if b.max_age else None
        self.min_points = b.min_points

    def column(self, n_steps: int) -> list[Any]:
        """min, max, change or trend at every instant: the aggregates that read particular
        points (count, sum, mean and latest come from the precomputed sums, `_arithmetic`).
        A value is recomputed only at instants where the window's contents changed."""
        w = self.window
        name, kind, counts, ind = self.b.aggregate, self.kind, w.counts, self.ind
        if name in ("min", "max"):
            ext = ind.extremes(w, name)
            return [None if n == 0 else _typed(kind, v) for n, v in zip(counts, ext, strict=True)]
        if name == "change":
            vals, first = ind.vals, ind.first(w)
            return [None if n < 2 else _typed(kind, vals[p] - vals[f])
                    for n, p, f in zip(counts, ind.newest_at, first, strict=True)]
        return _trend_column(ind, w, n_steps)


def _trend_column(ind: _IndicatorState, w: _Window, n_steps: int) -> list[Any]:
    """trend at every instant: `_trend` of each window that changed, for all of them at
    once. The windows' points are laid out one instant after another (each in position
    order), the element-wise steps are `_trend`'s, and each instant's sums are the correctly
    rounded ones (`_row_fsums`), so every value is bit for bit `_trend`'s."""
    counts, changed = w.counts, w.changed
    rows = [k for k in range(n_steps) if changed[k] and counts[k] >= 2]
    found: dict[int, float | None] = {}
    i = 0
    while i < len(rows):  # in slices of instants, to bound the memory of the layout
        j, size = i, 0
        while j < len(rows) and (j == i or size + counts[rows[j]] <= _PAIRS):
            size += counts[rows[j]]
            j += 1
        found.update(_trend_rows(ind, w, rows[i:j]))
        i = j
    out: list[Any] = []
    value: Any = None
    for k in range(n_steps):
        if changed[k]:
            value = found.get(k)
        out.append(value)
    return out


_PAIRS = 1 << 19  # (instant, point) pairs laid out at once by `_trend_column`


def _trend_rows(ind: _IndicatorState, w: _Window, instants: list[int]) -> dict[int, float | None]:
    assert ind.series is not None
    ind.window_points(w, instants[0])  # sets w.bounds
    assert w.bounds is not None
    ks = np.array(instants, np.int64)
    lo = np.array([w.bounds[0][k] for k in instants], np.int64)
    length = np.array([w.bounds[1][k] for k in instants], np.int64) - lo
    idx = np.arange(int(length.sum())) - np.repeat(np.cumsum(length) - length - lo, length)
    at = np.repeat(ks, length)
    keep = (w.first[idx] <= at) & (at < w.last[idx])
    pos = w.pts[idx[keep]]
    n = np.array([w.counts[k] for k in instants], np.int64)
    assert len(pos) == int(n.sum()), "the layout must hold each window's counted points"
    starts = np.cumsum(n) - n
    values, obs = ind.series.values[pos], ind.series.obs[pos]
    x = (obs - np.repeat(obs[starts], n)) / DAY
    mx = _row_fsums(x, starts, n) / n
    my = np.array([ind.exact_sum(w, k) for k in instants]) / n
    dx = x - np.repeat(mx, n)
    sxx = _row_fsums(dx * dx, starts, n).tolist()
    sxy = _row_fsums(dx * (values - np.repeat(my, n)), starts, n).tolist()
    return {k: None if sx == 0 else sy / sx for k, sx, sy in zip(instants, sxx, sxy, strict=True)}


def _row_fsums(v: np.ndarray, starts: np.ndarray, n: np.ndarray) -> np.ndarray:
    """`math.fsum` of each row v[start:start + n] (rows back to back, none empty), vectorised.

    Each row's terms are split twice without error on a grid fine enough that the parts add
    up exactly in any order (Rump, Ogita and Oishi's ExtractVector: sigma = 2**e * 2**c with
    every |term| < 2**e and 2**c > the row's length), the rest is added with a bound on its
    error, and the exactly known parts are combined by TwoSum. Where the bound cannot show
    that the result is the correctly rounded sum (or the sum is zero, whose sign fsum
    decides, or a term is not finite) the row is summed by fsum itself."""
    rows = len(n)
    out = np.zeros(rows)
    sure = np.zeros(rows, np.bool_)
    if rows and bool(np.all(np.isfinite(v))):
        c = int(n.max() + 1).bit_length()
        r = v
        parts: list[np.ndarray] = []
        for _ in range(2):  # one split is mostly enough; a second where it is not
            _, e = np.frexp(np.maximum.reduceat(np.abs(r), starts))
            if int(e.max()) + c > 1000:
                break
            sigma = np.repeat(np.ldexp(1.0, e + c), n)
            q = (sigma + r) - sigma
            r = r - q
            parts.append(np.add.reduceat(q, starts))
            rest = np.add.reduceat(r, starts)
            bound = np.add.reduceat(np.abs(r), starts) * (n * 2.0**-51)
            if len(parts) == 1:
                out, err3 = _two_sum(parts[0], rest)
                slack = np.abs(err3) + bound
            else:
                s, err1 = _two_sum(parts[0], parts[1])
                y, err2 = _two_sum(err1, rest)
                out, err3 = _two_sum(s, y)
                slack = np.abs(err2) + np.abs(err3) + bound
            half_ulp = np.spacing(np.nextafter(np.abs(out), 0)) / 2
            sure = (out != 0) & (slack * (1 + 2.0**-40) < half_ulp)
            if bool(sure.all()):
                break
    for i in np.flatnonzero(~sure).tolist():
        a = int(starts[i])
        out[i] = math.fsum(v[a:a + int(n[i])].tolist())
    return out


def _two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """s = fl(a + b) and the error e with a + b = s + e exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


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
    spans: dict[str, dict[int | None, None]] = {}  # an ordered set of window spans
    for bs in gate_bench.values():
        for b in bs:
            spans.setdefault(b.indicator, {})[parse_duration(b.window) if b.window else None] = None
    inds = {i: _IndicatorState(index.series.get(i), s, times) for i, s in spans.items()}
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
    # every instant, each a column computed from the windows' precomputed intervals.
    values: dict[str, list[Any]] = {}
    ctx_values: dict[str, list[Any]] = {}
    for ind_id, ist in inds.items():
        obs = ist.obs
        newest_obs = [obs[p] if p >= 0 else _NO_OBS for p in ist.newest_at]
        for bid in by_indicator[ind_id]:
            st = bstates[bid]
            values[bid] = _arithmetic(st, n_steps) if st.b.aggregate in _ARITHMETIC else st.column(n_steps)
            ctx_values[bid] = _ctx(st, values[bid], newest_obs, times_list)

    # Pass 2: the rules. A rule's statuses follow from its benchmarks' statuses alone (a ctx
    # value of None is unknown, any other is compared with the threshold), so a gate is re-run
    # only at steps where one of its benchmarks' statuses moved (or its waivers did), with the
    # ctx values of that step, and its statuses hold until the next such step.
    gate_out: dict[str, list[Status]] = {}
    bench_status: dict[str, list[Status]] = {}
    leaf = {bid: _statuses(st.b, ctx_values[bid]) for bid, st in bstates.items()}
    for g in gate_ids:
        bids = [b.id for b in gate_bench[g]]
        columns = [ctx_values[bid] for bid in bids]
        moved = [False] * n_steps
        moved[0] = True
        for bid in bids:
            for k in _moves(leaf[bid]):
                moved[k] = True
        active: list[frozenset[str]] = [_NONE] * n_steps
        if ws:
            for k, t in enumerate(times_list):
                active[k] = frozenset(w.benchmark for w in ws if w.active(t) and w.benchmark in waivable[g])
                if k and active[k] != active[k - 1]:
                    moved[k] = True
        runs = [k for k in range(n_steps) if moved[k]] + [n_steps]
        gate_col: list[Status] = []
        slot_cols: dict[str, list[Status]] = {bid: [] for bid in slots[g]}
        for k, until in itertools.pairwise(runs):
            statuses = plan.compiled(g, active[k])({bid: col[k] for bid, col in zip(bids, columns, strict=True)})
            run = until - k
            gate_col.extend([statuses[0]] * run)
            for bid, slot in slots[g].items():
                slot_cols[bid].extend([statuses[slot]] * run)
        gate_out[g] = gate_col
        bench_status.update(slot_cols)
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
