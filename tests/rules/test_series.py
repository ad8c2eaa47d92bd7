"""The evidence index's as-of views by hand, on the cases its fast paths must not get wrong:
counting points that are not a prefix of the series (an early observation reported late), a
correction known exactly at T, a withdrawal, and the same evidence given in another order."""

from __future__ import annotations

from typing import Any

from rules.evaluate import evaluate
from rules.series import EvidenceIndex
from schemas.timefmt import parse_timestamp

from .helpers import bench, index_of, plan_with_rule, record

PLAN = plan_with_rule({"all": [bench("b1", "inc"), bench("b2", "pol", aggregate="latest", op=">=", threshold=1)]})
T = parse_timestamp


def _inc(rid: str, day: int, reported_day: int, value: int = 1, **kw: Any) -> dict[str, Any]:
    return record(rid, value=value, observed_at=f"2025-03-{day:02}T00:00:00Z",
                  reported_at=f"2025-03-{reported_day:02}T00:00:00Z", **kw)


def _points(index: EvidenceIndex, at: str) -> list[tuple[str, float]]:
    view = index.view("inc", T(at))
    assert view is not None
    return list(zip(view.ids(0, len(view.obs)), view.values.tolist(), strict=True))


def test_points_that_are_not_a_prefix_of_the_series() -> None:
    # a is observed first but known last: until it is known the counting points are b (and c).
    index = index_of(PLAN, _inc("a", 1, 20, 10), _inc("b", 2, 2, 20), _inc("c", 3, 3, 30))
    assert _points(index, "2025-03-02T12:00:00Z") == [("b", 20.0)]  # one point, not the first
    assert _points(index, "2025-03-10T00:00:00Z") == [("b", 20.0), ("c", 30.0)]
    view = index.view("inc", T("2025-03-10T00:00:00Z"))
    assert view is not None and view.ids(1, 2) == ["c"] and view.obs.tolist() == [T("2025-03-02T00:00:00Z"),
                                                                                   T("2025-03-03T00:00:00Z")]
    assert _points(index, "2025-03-20T00:00:00Z") == [("a", 10.0), ("b", 20.0), ("c", 30.0)]


def test_a_correction_counts_from_the_instant_it_is_known() -> None:
    index = index_of(PLAN, _inc("a", 1, 1, 10), _inc("b", 2, 2, 20), _inc("a2", 1, 5, 11, supersedes="a"))
    assert _points(index, "2025-03-04T23:59:59Z") == [("a", 10.0), ("b", 20.0)]
    assert _points(index, "2025-03-05T00:00:00Z") == [("a2", 11.0), ("b", 20.0)]  # everything known now
    assert _points(index, "2025-04-01T00:00:00Z") == [("a2", 11.0), ("b", 20.0)]


def test_a_withdrawal_takes_its_record_away_and_is_no_point() -> None:
    index = index_of(PLAN, _inc("a", 1, 1, 10), _inc("b", 2, 2, 20), _inc("w", 1, 5, None, supersedes="a"))
    assert _points(index, "2025-03-04T00:00:00Z") == [("a", 10.0), ("b", 20.0)]
    assert _points(index, "2025-03-05T00:00:00Z") == [("b", 20.0)]
    assert _points(index, "2025-04-01T00:00:00Z") == [("b", 20.0)]


def test_views_at_many_instants_stay_right() -> None:
    # Views are cached per instant: asking again, in any order, after the cache has turned over,
    # gives the same points.
    index = index_of(PLAN, _inc("a", 1, 20, 10), _inc("b", 2, 2, 20), _inc("b2", 2, 6, 21, supersedes="b"))
    instants = [f"2025-03-{d:02}T00:00:00Z" for d in (1, 3, 6, 21, 2, 5, 7)]
    first = [_points(index, t) for t in instants]
    assert [_points(index, t) for t in reversed(instants)] == first[::-1]
    assert first[:4] == [[], [("b", 20.0)], [("b2", 21.0)], [("a", 10.0), ("b2", 21.0)]]


def test_the_evidence_digest_does_not_depend_on_the_order_records_came_in() -> None:
    pol = record("p1", indicator="pol", value=2.0, source="moi", observed_at="2025-03-01T00:00:00Z",
                 reported_at="2025-03-01T00:00:00Z")
    incs = [_inc("z", 1, 1), _inc("a", 2, 2)]
    at = T("2025-03-10T00:00:00Z")
    one = evaluate(PLAN, index_of(PLAN, *incs, pol), at)
    two = evaluate(PLAN, index_of(PLAN, pol, *reversed(incs)), at)
    assert one["evidence_digest"] == two["evidence_digest"]
    assert one == two


def test_a_series_counts_the_memory_of_its_arrays_and_ids() -> None:
    import sys

    index = index_of(PLAN, _inc("a", 1, 1, 10), _inc("b", 2, 2, 20), _inc("a2", 1, 5, 11, supersedes="a"))
    s = index.series["inc"]
    arrays = sum(getattr(s, name).nbytes for name in ("obs", "known", "superseded_at", "is_point", "values"))
    assert s.nbytes == arrays + sys.getsizeof(s.ids) + sum(sys.getsizeof(i) for i in s.ids)
    assert index.nbytes == s.nbytes
