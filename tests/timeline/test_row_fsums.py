"""The vectorised row sums of the timeline's trend (`rules.timeline._row_fsums`) equal
`math.fsum` of each row bit for bit, sign of zero included, on rows made to be hard: huge
cancellation, terms of every magnitude, sums on or next to a rounding tie, subnormals, zeros."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.timeline import _row_fsums

TIES = [
    [1.0, 2.0**-53],  # exactly half an ulp above 1: ties to even, 1.0
    [1.0, 2.0**-53, 2.0**-106],  # just over the tie: rounds up
    [1.0, 2.0**-53, -(2.0**-106)],  # just under the tie: rounds down
    [1.0 + 2.0**-52, 2.0**-53],  # tie to even upwards
    [2.0**53, 1.0, -(2.0**-60)],
    [1e16, 1.0, -1e16, 2.0**-70],
    [1e300, -1e300, 1e-300],
    [5e-324, 5e-324, -1e-323, 5e-324],
    [0.1] * 10 + [-1.0],
    [-0.0, -0.0],
    [0.0, -0.0],
    [1.0, -1.0],
    [2.0**-1022, -(2.0**-1074), 2.0**-1000],
    # Just under the tie below a power of two, where the ulp below is half the ulp above:
    # rounds down, to the power of two less an ulp (an error bound checked against the ulp
    # above would take the power of two).
    [1.0, -(2.0**-54), -(2.0**-110)],
    [0.5, -(2.0**-55), -(2.0**-121)],
    [-1.0, 2.0**-54, 2.0**-110],
]


def check(rows: list[list[float]]) -> None:
    n = np.array([len(r) for r in rows], np.int64)
    starts = np.cumsum(n) - n
    got = _row_fsums(np.array([x for r in rows for x in r], np.float64), starts, n).tolist()
    want = [math.fsum(r) for r in rows]
    assert [repr(g) for g in got] == [repr(w) for w in want], (rows, got, want)


def test_hard_rows() -> None:
    check(TIES)
    for row in TIES:  # alone, so that no other row sets the grid
        check([row])


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
scaled = st.builds(lambda m, e: math.ldexp(m, e), st.integers(-(2**53), 2**53), st.integers(-1100, 900))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.one_of(finite, scaled, st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.0**-53])),
                         min_size=1, max_size=40), min_size=1, max_size=8))
def test_random_rows(rows: list[list[float]]) -> None:
    # Each row again with its negation appended and a last ulp-sized term: sums near zero and
    # near ties, where a bound that is too loose would be caught.
    hard = [r + [-x for x in r[:-1]] + [math.ulp(r[-1]) / 2 if r[-1] else 0.0] for r in rows]
    try:
        want_ok = all(math.isfinite(math.fsum(r)) for r in rows + hard)
    except OverflowError:
        return  # fsum itself raises; the timeline never sums such values (evidence is finite)
    if want_ok:
        check(rows + hard)


def test_no_rows_and_rows_with_a_term_that_is_not_finite() -> None:
    check([])
    check([[math.inf, 1.0], [1.0, 2.0**-53]])
    check([[1.0, -math.inf], [math.nan]])


def test_a_long_row_near_the_top_of_the_float64_range() -> None:
    # 2**11 terms and one in [2**1011, 2**1012): a grid sigma = 2**(e + c) would overflow, so
    # the row is summed by fsum (nothing is split).
    check([[1.5 * 2.0**1011] + [1.0] * 2046, [3.0, -1.0]])


def test_fails_when_broken() -> None:
    """The comparison above can fail: a plain numpy sum is not fsum on these rows."""
    rows = TIES[:3]
    n = np.array([len(r) for r in rows], np.int64)
    plain = np.add.reduceat(np.array([x for r in rows for x in r]), np.cumsum(n) - n).tolist()
    assert plain != [math.fsum(r) for r in rows]


def test_one_grid_for_rows_alike_and_rows_apart_for_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows of alike magnitudes (a trend's windows) are done on the grid common to all rows,
    but for the few whose sum falls on or next to a tie; a row far smaller than the largest,
    or summing to zero, goes to `_row_fsums_apart`. Both equal fsum."""
    import rules.timeline as tlmod

    rng = np.random.default_rng(7)
    alike = [(rng.normal(0, 40, int(rng.integers(2, 300))) * rng.uniform(0.5, 2)).tolist() for _ in range(200)]
    apart_rows: list[int] = []
    apart = tlmod._row_fsums_apart

    def counting(v: np.ndarray, starts: np.ndarray, n: np.ndarray) -> np.ndarray:
        apart_rows.append(len(n))
        return apart(v, starts, n)

    monkeypatch.setattr(tlmod, "_row_fsums_apart", counting)
    check(alike)
    assert sum(apart_rows) <= 5
    alone = sum(apart_rows)
    apart_rows.clear()
    check([*alike, [1e-9, 3e-12, -1e-9], [2.5, -2.5], *alike[:3]])
    assert sum(apart_rows) >= 2 and sum(apart_rows) <= alone + 2 + 3
