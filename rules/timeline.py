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

Sums are kept exactly as integers (each value scaled by a power of two common to the
indicator: three int64 limbs a value where they hold it, `_limbs`, else Python integers), so
the rounded sum equals `math.fsum` of the same points: mean and sum match `evaluate` to the
last bit, not merely within rounding. trend takes `evaluate`'s element-wise steps and its
correctly rounded sums (`_row_fsums`, vectorised, with fsum wherever it cannot prove the
rounding), so it too matches `evaluate` to the last bit. The columns of all steps are numpy
arrays until the end, and a gate's rule runs once per combination of its benchmarks'
statuses that occurs, not once per step.
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
from .evaluate import Waiver
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

    __slots__ = ("bounds", "changed", "counts", "first", "last", "negzeros", "pts", "span", "sums", "totals")

    def __init__(self, span: int | None, pts: np.ndarray, first: np.ndarray, last: np.ndarray, counts: np.ndarray,
                 totals: np.ndarray, negzeros: np.ndarray, changed: list[bool]):
        self.span = span
        self.bounds: tuple[np.ndarray, np.ndarray] | None = None  # see _IndicatorState.bounds
        self.pts = pts  # positions of the points that ever count, ascending
        self.first = first  # per point: the first instant it is in the window
        self.last = last  # per point: the first instant it is no longer in it
        self.counts = counts  # per instant: how many points count in the window
        self.totals = totals  # per instant: their exact sum, in units of 2**-scale
        self.negzeros = negzeros  # per instant: how many are -0.0 (fsum may keep the sign)
        self.changed = changed  # per instant: did a point enter or leave since the step before
        self.sums: np.ndarray | None = None  # per instant: the rounded sum (`_IndicatorState.sums`)


class _IndicatorState:
    def __init__(self, series: IndicatorSeries | None, spans: Iterable[int | None], times: np.ndarray):
        k = len(times)
        self.series = series
        self.times = times
        self.windows: dict[int | None, _Window] = {}
        self.shift = 0  # values in units of 2**-shift (`_limbs`), or of 1 / scale
        if series is None:
            zeros = np.zeros(k, np.int64)
            self.values = np.zeros(0)
            self.obs = np.zeros(0, np.int64)
            self.scale = 1
            none = np.zeros(0, np.int64)
            for span in spans:
                self.windows[span] = _Window(span, none, none, none, zeros, zeros, zeros, [False] * k)
            self.newest_at = np.full(k, -1, np.int64)
            self.newest_obs = np.full(k, _NO_OBS, np.int64)
            return
        entry = np.maximum(series.known, series.obs)
        counts = series.is_point & (entry < series.superseded_at)  # else it never counts
        self.values = series.values
        self.obs = series.obs
        # Each point counts at the instants [entered, superseded); the window of span w holds
        # it while also T < observed_at + w: one interval of instants per point and window.
        pts = np.flatnonzero(counts)
        first_in = np.searchsorted(times, entry[pts], side="left")
        first_off = np.searchsorted(times, series.superseded_at[pts], side="left")
        self.newest_at = _newest(k, pts, first_in, first_off)
        self.newest_obs = np.where(self.newest_at >= 0, self.obs[self.newest_at], _NO_OBS)
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
            # No running sum can overflow int64: it adds at most all the magnitudes, whose sum
            # is taken in float64 (within a factor 1 + n * 2**-53 of exact), since an int64 sum
            # of them could itself overflow (1,100 values near 2**53 wrapped to below 2**62).
            if float(np.abs(values).sum()) < 2.0**62:
                return ints
            return np.array(ints.tolist(), dtype=object)
        # v = m * 2**e with m in [0.5, 1): m * 2**53 is a whole number, exactly.
        fraction, exponent = np.frexp(values)
        mantissa = (fraction * 2.0**53).astype(np.int64)
        power = exponent.astype(np.int64) - 53
        nonzero = mantissa != 0
        if len(values) < 2**20 and bool(nonzero.any()):
            shift = max(0, int(-power[nonzero].min()))
            if int(power[nonzero].max()) + shift + 53 <= _LIMB_BITS * _LIMBS:
                # Every value fits three limbs of 32 bits: sums stay in int64 (`_limbs`).
                self.shift, self.scale = shift, 1 << shift
                return _limbs(mantissa, np.where(nonzero, power + shift, 0))
        shift = max(0, int(-power.min())) if len(values) else 0
        self.scale = 1 << shift
        out = np.empty(len(values), dtype=object)
        out[:] = [m << (e + shift) for m, e in zip(mantissa.tolist(), power.tolist(), strict=True)]
        return out

    def sums(self, w: _Window) -> np.ndarray:
        """The correctly rounded sum of the window at every instant, as fsum rounds it."""
        if w.sums is None:
            if w.totals.ndim == 2:
                out, zero = _limb_sums(w.totals, self.shift)
            else:
                zero = w.totals == 0
                if w.totals.dtype == np.int64:  # scale 1; int64 to float64 rounds to nearest even
                    out = w.totals.astype(np.float64)
                else:  # int / int rounds correctly, as fsum does
                    scale = self.scale
                    out = np.array([t / scale for t in w.totals.tolist()], np.float64)
            if _FSUM_NEGZERO:  # an exact zero is +0.0 unless every point is -0.0
                out[zero & (w.negzeros == w.counts) & (w.counts > 0)] = -0.0
            w.sums = out
        return w.sums

    def bounds(self, w: _Window) -> tuple[np.ndarray, np.ndarray]:
        """Per instant T, the slice of w.pts observed in (T - span, T]."""
        if w.bounds is None:
            obs = self.obs[w.pts]
            hi = np.searchsorted(obs, self.times, side="right")
            lo = np.zeros(len(hi), np.int64) if w.span is None else np.searchsorted(obs, self.times - w.span,
                                                                                      side="right")
            w.bounds = (lo, hi)
        return w.bounds

    def window_points(self, w: _Window, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The values and observation times of the window at instant k, in order."""
        lo, hi = self.bounds(w)
        a, b = int(lo[k]), int(hi[k])
        pos = w.pts[a:b][(w.first[a:b] <= k) & (k < w.last[a:b])]
        return self.values[pos], self.obs[pos]

    def extremes(self, w: _Window, name: str) -> np.ndarray:
        """min or max of the window at every instant (meaningless where it is empty)."""
        values = self.values[w.pts]
        if name == "min":
            out = _stab(len(w.counts), w.first, w.last, values, np.minimum, np.inf)
        else:
            out = _stab(len(w.counts), w.first, w.last, values, np.maximum, -np.inf)
        # A zero may be +0.0 or -0.0; which one numpy returns depends on the order, so a
        # zero extreme is always taken from the window as `aggregate` takes it.
        for k in np.flatnonzero(out == 0).tolist():
            window, _ = self.window_points(w, k)
            out[k] = window.min() if name == "min" else window.max()
        return out

    def first(self, w: _Window) -> np.ndarray:
        """The first counting position of the window at every instant (where it is not empty)."""
        return _stab(len(w.counts), w.first, w.last, w.pts, np.minimum, np.iinfo(np.int64).max)


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
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[bool]]:
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
    if ints.ndim == 2:  # limbs below 2**32, fewer than 2**20 of them: float64 sums are exact
        totals = np.array([np.cumsum((np.bincount(first, limb, k + 1) - np.bincount(last, limb, k + 1))
                                     .astype(np.int64))[:k] for limb in ints[:, keep]], np.int64)
        return counts, totals, negzeros, changed.tolist()
    values = ints[keep]
    steps = np.zeros(k + 1, dtype=values.dtype)  # object zeros are Python ints: exact
    np.add.at(steps, first, values)
    np.subtract.at(steps, last, values)
    totals = np.cumsum(steps)[:k]
    return counts, totals, negzeros, changed.tolist()


_LIMB_BITS = 32
_LIMBS = 3


def _limbs(mantissa: np.ndarray, power: np.ndarray) -> np.ndarray:
    """m * 2**p (|m| < 2**53, 0 <= p, m * 2**p < 2**96) as three signed limbs of 32 bits:
    row j holds sign(m) * (bits 32j to 32j + 31 of |m| * 2**p), so the value is
    sum_j row_j * 2**(32j), and sums of limbs stay far inside int64."""
    um = np.abs(mantissa).astype(np.uint64)
    out = np.empty((_LIMBS, len(um)), np.int64)
    mask = np.uint64(2**_LIMB_BITS - 1)
    for j in range(_LIMBS):
        s = power - _LIMB_BITS * j
        up = (um << np.clip(s, 0, 63).astype(np.uint64)) & mask  # wraps past bit 63: the low bits hold
        down = (um >> np.clip(-s, 0, 63).astype(np.uint64)) & mask
        out[j] = np.where(s >= 0, up, down).astype(np.int64)
    out[:, mantissa < 0] *= -1
    return out


def _limb_sums(totals: np.ndarray, shift: int) -> tuple[np.ndarray, np.ndarray]:
    """The correctly rounded value of sum_j totals[j] * 2**(32j - shift) per column, and
    where it is exactly zero. Carries bring the two low limbs into [0, 2**32); the top two
    then make an int64 H, and H * 2**32 + low is h * 2**32 + R with h = float(H) and R
    exact, two doubles whose one rounded addition is the correctly rounded sum, scaled by a
    power of two exactly while it stays normal. A column beyond that is done in Python ints."""
    c = totals.copy()
    for j in range(_LIMBS - 1):
        carry = c[j] >> _LIMB_BITS
        c[j] -= carry << _LIMB_BITS
        c[j + 1] += carry
    zero = np.asarray(~c.any(axis=0))
    safe = np.abs(c[2]) < 2**29
    high = np.where(safe, (c[2] << _LIMB_BITS) + c[1], 0)
    h = high.astype(np.float64)
    rest = ((high - h.astype(np.int64)) << _LIMB_BITS) + c[0]  # |high - h| <= 2**9
    out = np.ldexp(h * 2.0**_LIMB_BITS + rest.astype(np.float64), -shift)
    unsure = ~safe | ((out != 0) & (np.abs(out) < 2.0**-1022))  # subnormal: rounded twice
    if bool(unsure.any()):
        scale = 1 << shift
        for k in np.flatnonzero(unsure).tolist():
            out[k] = ((int(c[2, k]) << 64) + (int(c[1, k]) << 32) + int(c[0, k])) / scale
    return out, zero


def _newest(k: int, pts: np.ndarray, first_in: np.ndarray, first_off: np.ndarray) -> np.ndarray:
    """Per instant, the last counting position (positions follow observed_at), or -1."""
    newest = np.full(k + 1, -1, np.int64)
    stays = first_off == k  # never superseded within the range: counts from first_in on
    np.maximum.at(newest, first_in[stays], pts[stays])
    newest = np.maximum.accumulate(newest)[:k]
    gone = ~stays
    if bool(gone.any()):
        np.maximum(newest, _stab(k, first_in[gone], first_off[gone], pts[gone].astype(np.int64), np.maximum, -1),
                   out=newest)
    return newest


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}
_NP_OPS: dict[str, Callable[[Any, Any], np.ndarray]] = {
    "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal, "==": np.equal, "!=": np.not_equal}
# What an aggregate's value is typed as (rules.evaluate.aggregate): None for the indicator's kind.
_VALUE_KIND = {"count": "integer", "mean": "number", "trend": "number"}
UNKNOWN = 2  # a status code: 0 fail, 1 pass, 2 unknown (the rule's False, True, None)


def _exact_threshold(t: Any) -> bool:
    """Whether numpy compares float64 values with t exactly as Python does: bools and floats
    always; a Python int only where float64 holds it (numpy converts it)."""
    return isinstance(t, (bool, float)) or (isinstance(t, int) and abs(t) <= 2**53)


def _codes(b: Benchmark, num: np.ndarray, ok: np.ndarray, values: list[Any]) -> np.ndarray:
    """The benchmark's status code at each step, as the compiled rule tests its ctx value
    (rules/compiler.py: None is unknown, else the comparison with the threshold). `num` holds
    the typed values as float64, exactly (every value an aggregate gives is a float64 or an
    integer or bool made from one), so the comparison is Python's wherever the threshold is
    one numpy compares exactly; elsewhere Python compares the values themselves."""
    if b.op == "between":
        low, high = b.threshold  # type: ignore[misc]
        if _exact_threshold(low) and _exact_threshold(high):
            res = (low <= num) & (num <= high)
        else:
            res = np.array([o and bool(low <= v <= high) for v, o in zip(values, ok.tolist(), strict=True)], np.bool_)
    elif _exact_threshold(b.threshold):
        res = _NP_OPS[b.op](num, b.threshold)
    else:
        fn, threshold = _OPS[b.op], b.threshold
        res = np.array([o and bool(fn(v, threshold)) for v, o in zip(values, ok.tolist(), strict=True)], np.bool_)
    return np.where(ok, res, UNKNOWN).astype(np.int8)


def _typed_column(kind: str, arr: np.ndarray, defined: np.ndarray | None) -> tuple[list[Any], np.ndarray]:
    """`_typed(kind, v)` of every value (None where not defined), and those typed values as
    float64 for comparing (a bool as 0.0 or 1.0)."""
    if kind == "boolean":
        truth = arr != 0  # bool(v)
        out: list[Any] = truth.tolist()
        num = truth.astype(np.float64)
    elif kind == "integer":
        num = arr if defined is None else np.where(defined, arr, 0.0)
        if num.size and float(np.abs(num).max()) >= 2.0**62:  # beyond int64: Python's int
            out = [int(v) for v in num.tolist()]
        else:
            out = num.astype(np.int64).tolist()
    else:
        out = arr.tolist()
        num = arr
    if defined is not None:
        for k in np.flatnonzero(~defined).tolist():
            out[k] = None
    return out, num


class _BenchmarkState:
    __slots__ = ("b", "ind", "kind", "max_age", "min_points", "window")

    def __init__(self, b: Benchmark, kind: str, ind: _IndicatorState):
        self.b = b
        self.kind = kind
        self.ind = ind
        self.window = ind.windows[parse_duration(b.window) if b.window else None]
        self.max_age = parse_duration(b.max_age) if b.max_age else None
        self.min_points = b.min_points

    def column(self, n_steps: int) -> tuple[list[Any], np.ndarray, np.ndarray | None]:
        """The aggregate at every instant: its values (None where undefined), the same as
        float64 for comparing, and where it is defined (None: everywhere).

        count, sum, mean and latest come from the precomputed counts and exact sums; min,
        max and the first position (change) from the segment trees; trend is recomputed only
        at instants where the window's contents changed."""
        w, ind, name = self.window, self.ind, self.b.aggregate
        counts = w.counts
        kind = _VALUE_KIND.get(name) or (self.kind if name != "sum" or self.kind == "number" else "integer")
        defined: np.ndarray | None
        if name == "count":
            return counts.tolist(), counts.astype(np.float64), None
        if name == "sum":
            arr, defined = ind.sums(w), None
        elif name == "mean":
            defined = counts > 0
            with np.errstate(invalid="ignore", divide="ignore"):
                arr = ind.sums(w) / counts  # float / int: the int as float64, as Python divides
        elif name == "trend":
            arr, defined = _trend_column(ind, w, n_steps)
        else:
            defined = counts >= 2 if name == "change" else counts > 0
            if not bool(defined.any()):
                return [None] * n_steps, np.zeros(n_steps), defined
            if name in ("min", "max"):
                arr = ind.extremes(w, name)
            else:
                newest = ind.values[np.where(defined, ind.newest_at, 0)]
                arr = newest if name == "latest" else newest - ind.values[np.where(defined, ind.first(w), 0)]
        out, num = _typed_column(kind, arr, defined)
        return out, num, defined


def _trend_column(ind: _IndicatorState, w: _Window, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """trend at every instant (NaN where undefined) and where it is defined: `_trend` of each
    window that changed, for all of them at once. The windows' points are laid out one
    instant after another (each in position order), the element-wise steps are `_trend`'s,
    and each instant's sums are the correctly rounded ones (`_row_fsums`), so every value is
    bit for bit `_trend`'s. An instant whose window did not change has the value before."""
    counts = w.counts
    changed = np.array(w.changed, np.bool_)
    slope = np.full(n_steps, np.nan)
    defined = np.zeros(n_steps, np.bool_)
    rows = np.flatnonzero(changed & (counts >= 2))
    if rows.size:
        # In slices of instants, to bound the memory of the layout.
        ends = np.cumsum(counts[rows])
        i = 0
        while i < rows.size:
            j = max(i + 1, int(np.searchsorted(ends, (ends[i - 1] if i else 0) + _PAIRS, side="right")))
            slope[rows[i:j]], defined[rows[i:j]] = _trend_rows(ind, w, rows[i:j])
            i = j
    # Each instant reads the value of the last instant at or before it whose window changed
    # (the first always did).
    last_changed = np.maximum.accumulate(np.where(changed, np.arange(n_steps), 0))
    return slope[last_changed], defined[last_changed]


_PAIRS = 1 << 19  # (instant, point) pairs laid out at once by `_trend_column`


def _trend_rows(ind: _IndicatorState, w: _Window, ks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The slopes at instants ks (each window of 2 or more points), and where they are
    defined (all the points at one time: no slope)."""
    bounds = ind.bounds(w)
    lo = bounds[0][ks]
    length = bounds[1][ks] - lo
    idx = np.arange(int(length.sum())) - np.repeat(np.cumsum(length) - length - lo, length)
    at = np.repeat(ks, length)
    keep = (w.first[idx] <= at) & (at < w.last[idx])
    pos = w.pts[idx[keep]]
    n = w.counts[ks]
    assert len(pos) == int(n.sum()), "the layout must hold each window's counted points"
    starts = np.cumsum(n) - n
    values, obs = ind.values[pos], ind.obs[pos]
    x = (obs - np.repeat(obs[starts], n)) / DAY
    mx = _row_fsums(x, starts, n) / n
    my = ind.sums(w)[ks] / n
    dx = x - np.repeat(mx, n)
    sxx = _row_fsums(dx * dx, starts, n)
    sxy = _row_fsums(dx * (values - np.repeat(my, n)), starts, n)
    defined = sxx != 0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(defined, sxy / sxx, np.nan), defined


def _row_fsums(v: np.ndarray, starts: np.ndarray, n: np.ndarray) -> np.ndarray:
    """`math.fsum` of each row v[start:start + n] (rows back to back, none empty), vectorised.

    First every term is split without error on one grid common to all rows (Rump, Ogita and
    Oishi's ExtractScalar with sigma = 2**(e + c), every |term| < 2**e, 2**c > every row's
    length): the parts on the grid add up exactly in any order, and each remainder is at most
    2**-53 * sigma, which bounds the error of adding the remainders without looking at them.
    The exactly known part and the rest are combined by TwoSum; a row whose result the bound
    shows to be the correctly rounded sum is done. The others (rows much smaller than the
    largest, heavy cancellation, a zero sum, whose sign fsum decides) go to
    `_row_fsums_apart`, which chooses a grid per row, and fsum where that cannot tell."""
    rows = len(n)
    if not rows:
        return np.zeros(0)
    top = max(float(v.max()), -float(v.min()))
    c = int(n.max() + 1).bit_length()
    if not math.isfinite(top) or top == 0:
        return _row_fsums_apart(v, starts, n)
    e = math.frexp(top)[1]
    if e + c > 1000:
        return _row_fsums_apart(v, starts, n)
    sigma = math.ldexp(1.0, e + c)
    q = (v + sigma) - sigma
    rest = np.add.reduceat(v - q, starts)
    out, err = _two_sum(np.add.reduceat(q, starts), rest)
    bound = n * (n * math.ldexp(1.0, e + c - 53)) * 2.0**-51  # n * sum|remainders| * 4u
    half_ulp = np.spacing(np.nextafter(np.abs(out), 0)) / 2
    unsure = np.flatnonzero((out == 0) | ((np.abs(err) + bound) * (1 + 2.0**-40) >= half_ulp))
    if unsure.size:
        m = n[unsure]
        inner = np.arange(int(m.sum())) - np.repeat(np.cumsum(m) - m, m)
        out[unsure] = _row_fsums_apart(v[np.repeat(starts[unsure], m) + inner], np.cumsum(m) - m, m)
    return out


def _row_fsums_apart(v: np.ndarray, starts: np.ndarray, n: np.ndarray) -> np.ndarray:
    """`math.fsum` of each row v[start:start + n] (rows back to back, none empty), on a grid
    of each row's own.

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
    # Pass 1, one indicator at a time: every benchmark's value and points at every instant,
    # each a column computed from the windows' precomputed intervals, and its status code.
    values: dict[str, list[Any]] = {}
    has_ctx: dict[str, np.ndarray] = {}  # where the rule sees the value (else None: unknown)
    codes: dict[str, np.ndarray] = {}
    for ind_id, ist in inds.items():
        for bid in by_indicator[ind_id]:
            st = bstates[bid]
            values[bid], num, defined = st.column(n_steps)
            ok = st.window.counts >= st.min_points
            if defined is not None:
                ok &= defined
            if st.max_age is not None:  # stale: the newest counting point is older than max_age
                ok &= ist.newest_obs >= times - st.max_age
            has_ctx[bid] = ok
            codes[bid] = _codes(st.b, num, ok, values[bid])

    # Pass 2: the rules. A rule's statuses follow from its benchmarks' statuses alone (a ctx
    # value of None is unknown, any other is compared with the threshold), so a gate's rule
    # runs once for each combination of its benchmarks' statuses (and its waivers) that
    # occurs, with the ctx values of the first step showing it, and every step showing that
    # combination takes those statuses.
    gate_out: dict[str, list[Status]] = {}
    bench_status: dict[str, list[Status]] = {}
    for g in gate_ids:
        bids = [b.id for b in gate_bench[g]]
        active: list[frozenset[str]] = [_NONE] * n_steps
        sets: dict[frozenset[str], int] = {_NONE: 0}
        waived = np.zeros(n_steps, np.int64)
        if ws:
            for k, t in enumerate(times_list):
                active[k] = frozenset(w.benchmark for w in ws if w.active(t) and w.benchmark in waivable[g])
                waived[k] = sets.setdefault(active[k], len(sets))
        first, inverse = _combinations([codes[bid] for bid in bids], waived, len(sets))
        table = []
        for k in first:
            ctx = {bid: values[bid][k] if has_ctx[bid][k] else None for bid in bids}
            table.append(plan.compiled(g, active[k])(ctx))
        by_step = np.array(table, dtype=object)[inverse]
        gate_out[g] = by_step[:, 0].tolist()
        for bid, slot in slots[g].items():
            bench_status[bid] = by_step[:, slot].tolist()
    bench_out = {bid: BenchmarkSeries(bench_status[bid], values[bid], bstates[bid].window.counts.tolist())
                 for bid in bstates}
    return Timeline(times_list, gate_out, bench_out, {g: [b.id for b in bs] for g, bs in gate_bench.items()})


_NO_OBS = -(2**63)  # no counting point: older than any instant minus any max_age


def _combinations(columns: list[np.ndarray], waived: np.ndarray, n_sets: int) -> tuple[list[int], np.ndarray]:
    """The distinct rows of status codes (one column per benchmark, with the waiver set's
    number): the first step showing each, and for every step the number of its row."""
    if (len(columns) + 1) * 2 + n_sets.bit_length() < 62:  # each row fits an int64: 2 bits a code
        key = waived.copy()
        for col in columns:
            key <<= 2
            key |= col
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    else:
        _, first, inverse = np.unique(np.column_stack([*columns, waived]), axis=0, return_index=True,
                                      return_inverse=True)
    out: list[int] = first.tolist()
    return out, inverse.reshape(-1)
