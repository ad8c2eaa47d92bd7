"""The exact arithmetic under the timeline: its trend must be aggregate's to the bit, and
the exact running sums must survive values of very different
magnitudes and whole numbers too large for int64 totals."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from rules.evaluate import aggregate
from rules.timeline import _trend, timeline
from schemas.timefmt import DAY

from .compare import mismatches
from .test_edges import T0, _index, _plan


@given(st.lists(st.tuples(st.integers(0, 10_000), st.floats(-1e6, 1e6, allow_nan=False)), min_size=2, max_size=40))
def test_trend_is_aggregate_to_the_bit(pairs: list[tuple[int, float]]) -> None:
    pairs.sort()
    obs = np.array([T0 + h * 3_600_000_000 for h, _ in pairs], np.int64)
    values = np.array([v for _, v in pairs], np.float64)
    assert repr(_trend(values, obs, math.fsum(values.tolist()))) == repr(aggregate("trend", "number", values, obs))


def test_sums_of_tiny_and_huge_values_are_exact() -> None:
    plan = _plan([{"id": "s", "aggregate": "sum", "op": ">=", "threshold": 0, "window": "P3D"},
                  {"id": "m", "aggregate": "mean", "op": ">=", "threshold": 0, "window": "P2D"}])
    values = [1e300, 5e-324, -1e300, 0.1, 2.0**-1000, -0.1, 3.0, 1e-300]
    rows: list[tuple[str, Any, int, int, str | None]] = [(f"r{i}", v, T0 + i * DAY // 2, T0 + i * DAY // 2, None) for i, v in enumerate(values)]
    index = _index(plan, rows)
    tl = timeline(plan, index, T0, T0 + 6 * DAY, DAY // 4)
    assert mismatches(plan, index, tl) == []


def test_whole_numbers_whose_totals_overflow_int64() -> None:
    plan = _plan([{"id": "s", "aggregate": "sum", "op": ">=", "threshold": 0, "window": "P30D"},
                  {"id": "m", "aggregate": "mean", "op": ">=", "threshold": 0}], kind="integer")
    big = 2**53 - 1
    rows: list[tuple[str, Any, int, int, str | None]] = [(f"r{i}", big if i % 3 else -big + i, T0 + i * DAY // 4, T0 + i * DAY // 4, None) for i in range(2000)]
    index = _index(plan, rows)
    tl = timeline(plan, index, T0, T0 + 600 * DAY, 7 * DAY)
    assert mismatches(plan, index, tl) == []


def test_whole_numbers_whose_magnitudes_alone_overflow_an_int64_sum() -> None:
    # 1,100 values of 2**53 - 1: every window sum but the last fits int64, yet the sum of
    # their magnitudes (the test for Python ints) wraps past 2**63 in int64 arithmetic. The
    # totals must be Python ints, and the last sum past 2**63, fsum's, as evaluate finds it.
    plan = _plan([{"id": "s", "aggregate": "sum", "op": ">=", "threshold": 0}], kind="integer")
    big = 2**53 - 1
    rows: list[tuple[str, Any, int, int, str | None]] = [(f"r{i}", big, T0 + i * 3_600_000_000, T0 + i * 3_600_000_000, None)
                                                         for i in range(1100)]
    index = _index(plan, rows)
    tl = timeline(plan, index, T0, T0 + 50 * DAY, 10 * DAY)
    assert mismatches(plan, index, tl) == []
    assert tl.benchmarks["s"].value[-1] == int(math.fsum([big] * 1100)) > 2**63
