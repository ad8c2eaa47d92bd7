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


# --- edges the mutation run (scripts/mutate.py rules/timeline.py) found untested ---

ALL_AGGREGATES = [{"id": a, "aggregate": a, "op": ">=", "threshold": 0}
                  for a in ("count", "sum", "mean", "min", "max", "latest", "change", "trend")]


def test_an_indicator_without_records() -> None:
    tl = _check([*ALL_AGGREGATES, {"id": "w", "aggregate": "min", "op": ">=", "threshold": 0, "window": "P1D"}],
                [], T0, T0 + 2 * DAY, DAY)
    assert tl.benchmarks["count"].value == [0, 0, 0] and tl.benchmarks["min"].value == [None] * 3


def test_a_zero_extreme_known_at_a_step_is_in_the_window_at_that_step() -> None:
    # q (-0.0) enters at the second step, after p (+0.0): numpy's min and max of the window
    # [p, q] give q's sign, as `evaluate` finds it; the segment tree would give p's.
    rows: list[Row] = [("p", 0.0, T0 - 2 * HOUR, T0 - 2 * HOUR, None), ("q", -0.0, T0 - HOUR, T0 + DAY, None)]
    tl = _check(EXTREMES, rows, T0, T0 + DAY, DAY)
    assert [math.copysign(1.0, v) for v in tl.benchmarks["lo"].value] == [1.0, -1.0]


@pytest.mark.parametrize("leaves", ["withdrawn", "out of the window"])
def test_a_point_that_left_at_a_step_is_not_in_the_window_at_that_step(leaves: str) -> None:
    # n (-3) leaves exactly at the second step; the minimum there is z's 0.0, taken from the
    # window's points (a zero), which must not hold n any more.
    if leaves == "withdrawn":
        rows: list[Row] = [("n", -3, T0 - HOUR, T0 - HOUR, None), ("z", 0.0, T0 - 2 * HOUR, T0 - 2 * HOUR, None),
                           ("n-", None, T0 - HOUR, T0 + DAY - HOUR, "n")]
        bench = EXTREMES
    else:
        rows = [("n", -3, T0 - DAY, T0 - DAY, None), ("z", 0.0, T0, T0, None)]
        bench = [{**b, "window": "P1D"} for b in EXTREMES]
    tl = _check(bench, rows, T0 - HOUR, T0 + DAY - HOUR, DAY)
    assert tl.benchmarks["lo"].value == [-3.0, 0.0]


def test_a_count_of_a_window_whose_every_point_was_withdrawn_is_stale() -> None:
    # x is withdrawn within the range: from then on no point counts, so none is recent enough
    # for max_age and the count of 0 (enough, with min_points 0) is unknown, not a pass.
    rows: list[Row] = [("x", 4, T0, T0, None), ("x-", None, T0, T0 + DAY, "x")]
    tl = _check([{"id": "c", "aggregate": "count", "op": ">=", "threshold": 0, "max_age": "P7D", "min_points": 0}],
                rows, T0, T0 + 2 * DAY, DAY)
    assert tl.benchmarks["c"].status == [True, None, None]


def test_between_holds_at_both_bounds() -> None:
    # the rule is re-run only where a benchmark's status moves: into the range at its low
    # bound, out of it past its high one
    rows: list[Row] = [(f"r{i}", v, T0 + i * DAY, T0 + i * DAY, None) for i, v in enumerate([0, 1, 3, 4])]
    tl = _check([{"id": "l", "aggregate": "latest", "op": "between", "threshold": [1, 3]}], rows, T0, T0 + 3 * DAY, DAY)
    assert tl.benchmarks["l"].status == [False, True, True, False]


def test_trend_laid_out_in_slices_smaller_than_a_window(monkeypatch: pytest.MonkeyPatch) -> None:
    # The layout of trend's windows is cut into slices of at most _PAIRS (instant, point)
    # pairs; a window larger than a slice (here every one) still gets a slice of its own.
    monkeypatch.setattr(rules.timeline, "_PAIRS", 1)
    rows: list[Row] = [(f"r{i}", (i * 7) % 5, T0 + i * HOUR, T0 + i * HOUR, None) for i in range(8)]
    tl = _check([{"id": "t", "aggregate": "trend", "op": ">=", "threshold": 0},
                 {"id": "w", "aggregate": "trend", "op": ">=", "threshold": 0, "window": "PT4H"}],
                rows, T0, T0 + 8 * HOUR, HOUR)
    assert tl.benchmarks["t"].value[0] is None and tl.benchmarks["t"].value[-1] is not None
