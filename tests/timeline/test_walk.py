"""The walk's shortcuts, each where it could go wrong: the running min and max (re-seeded when
a window empties, dropped when an extreme leaves, recomputed for a zero), records corrected or
withdrawn before the range starts, the newest point after a withdrawal, whole-number sums of
fractional values, and the sign of a sum of negative zeros where `math.fsum` keeps it (Python
3.12 and later). Each case compares every step with `evaluate_gate` (tests/timeline/compare.py)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pytest

import rules.timeline
from rules.timeline import instants, timeline
from schemas.timefmt import DAY, HOUR

from .compare import mismatches
from .test_edges import T0, _index, _plan

Row = tuple[str, Any, int, int, str | None]
EXTREMES = [{"id": "lo", "aggregate": "min", "op": ">=", "threshold": 0},
            {"id": "hi", "aggregate": "max", "op": "<=", "threshold": 6}]


def _check(benchmarks: list[dict[str, Any]], rows: list[Row], start: int, end: int, step: int) -> rules.timeline.Timeline:
    plan = _plan(benchmarks)
    index = _index(plan, rows)
    tl = timeline(plan, index, start, end, step)
    assert mismatches(plan, index, tl) == []
    return tl


def test_a_one_microsecond_step() -> None:
    assert instants(T0, T0 + 2, 1) == [T0, T0 + 1, T0 + 2]


def test_records_withdrawn_before_the_range_starts() -> None:
    # y enters and leaves at the first step (withdrawn before it); the window then holds x
    # alone until z comes: min and max must not remember y, nor forget x when z enters.
    rows: list[Row] = [("x", 5, T0 - 3 * DAY, T0 - 3 * DAY, None), ("y", 9, T0 - 2 * DAY, T0 - 2 * DAY, None),
                       ("y-", None, T0 - 2 * DAY, T0 - DAY, "y"), ("z", 8, T0 + 2 * DAY, T0 + 2 * DAY, None)]
    tl = _check(EXTREMES, rows, T0, T0 + 4 * DAY, DAY)
    assert (tl.benchmarks["lo"].value, tl.benchmarks["hi"].value) == ([5.0] * 2 + [5.0] * 3, [5.0] * 2 + [8.0] * 3)


def test_the_running_minimum_leaves_by_a_correction() -> None:
    # a, the first point of the window and its minimum, is corrected upwards later.
    rows: list[Row] = [("a", 1, T0, T0, None), ("b", 5, T0 + DAY, T0 + DAY, None), ("c", 7, T0 + 2 * DAY, T0 + 2 * DAY, None),
                       ("a2", 10, T0, T0 + 4 * DAY, "a")]
    tl = _check(EXTREMES, rows, T0, T0 + 6 * DAY, DAY)
    assert tl.benchmarks["lo"].value == [1.0, 1.0, 1.0, 1.0, 5.0, 5.0, 5.0]
    assert tl.benchmarks["hi"].value == [1.0, 5.0, 7.0, 7.0, 10.0, 10.0, 10.0]


@pytest.mark.parametrize("values", [(-0.0, 0.0, 3.0), (0.0, -0.0, 3.0), (-3.0, -0.0, 0.0), (-3.0, 0.0, -0.0)])
def test_a_zero_extreme_has_the_sign_evaluate_finds(values: tuple[float, float, float]) -> None:
    # numpy's min and max of +0.0 and -0.0 depend on their order; the running extreme
    # depends on the order they became known in. The timeline must say what evaluate says.
    rows: list[Row] = [(f"r{i}", v, T0 + i * HOUR, T0 + i * HOUR, None) for i, v in enumerate(values)]
    _check(EXTREMES, rows, T0 + DAY, T0 + 2 * DAY, DAY)


def test_the_newest_point_withdrawn() -> None:
    rows: list[Row] = [("a", 1, T0, T0, None), ("b", 5, T0 + DAY, T0 + DAY, None), ("b-", None, T0 + DAY, T0 + 3 * DAY, "b")]
    tl = _check([{"id": "l", "aggregate": "latest", "op": ">", "threshold": 2}], rows, T0, T0 + 5 * DAY, DAY)
    assert tl.benchmarks["l"].value == [1.0, 5.0, 5.0, 1.0, 1.0, 1.0]


def test_sums_of_fractional_values_only() -> None:
    rows: list[Row] = [(f"r{i}", v, T0 + i * DAY, T0 + i * DAY, None) for i, v in enumerate([0.5, 1.25, 2.5])]
    tl = _check([{"id": "s", "aggregate": "sum", "op": ">=", "threshold": 0},
                 {"id": "m", "aggregate": "mean", "op": ">=", "threshold": 0}], rows, T0, T0 + 3 * DAY, DAY)
    assert tl.benchmarks["s"].value == [0.5, 1.75, 4.25, 4.25]


def _fsum_keeping_sign(fsum: Any) -> Any:
    """math.fsum as Python 3.12 and later compute it: a sum of negative zeros only is -0.0."""
    def fsum312(values: Iterable[float]) -> float:
        vs = list(values)
        if vs and all(v == 0 and math.copysign(1.0, v) < 0 for v in vs):
            return -0.0
        return float(fsum(vs))
    return fsum312


def test_negative_zero_sums_where_fsum_keeps_the_sign(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(math, "fsum", _fsum_keeping_sign(math.fsum))
    monkeypatch.setattr(rules.timeline, "_FSUM_NEGZERO", True)
    assert math.fsum([-0.0, -0.0]) == 0 and math.copysign(1.0, math.fsum([-0.0, -0.0])) < 0
    rows: list[Row] = [("a", -0.0, T0, T0, None), ("b", -0.0, T0 + DAY, T0 + DAY, None), ("c", 0.0, T0 + 3 * DAY, T0 + 3 * DAY, None),
                       ("d", -0.0, T0 + 6 * DAY, T0 + 6 * DAY, None)]
    tl = _check([{"id": "s", "aggregate": "sum", "op": ">=", "threshold": 0, "window": "P2D"},
                 {"id": "m", "aggregate": "mean", "op": ">=", "threshold": 0, "window": "P2D"},
                 {"id": "all", "aggregate": "sum", "op": ">=", "threshold": 0}], rows, T0 - DAY, T0 + 9 * DAY, 12 * HOUR)
    signs = [math.copysign(1.0, v) for v in tl.benchmarks["s"].value]
    assert signs[:2] == [1.0, 1.0] and signs[2] == -1.0  # empty window: +0.0; only a: -0.0
