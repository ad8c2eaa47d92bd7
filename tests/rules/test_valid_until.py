"""valid_until is the earliest instant after T at which the result could change with no new
evidence; the digest moves with the evidence and result, never with the clock alone."""

from __future__ import annotations

from typing import Any

from rules.evaluate import Waiver, evaluate, evaluate_gate
from rules.plan import LoadedPlan
from rules.series import EvidenceIndex
from schemas.timefmt import parse_timestamp

from .helpers import bench, index_of, plan_with_rule, record

T = parse_timestamp


def _at(plan: LoadedPlan, index: EvidenceIndex, as_of: int, waivers: list[Waiver] | None = None) -> dict[str, Any]:
    return evaluate_gate(plan, "g1", index, as_of, waivers or [])


def _check_edge(plan: LoadedPlan, index: EvidenceIndex, as_of: int) -> int:
    """valid_until is later than T; just before it nothing changes; at it the digest does."""
    now = _at(plan, index, as_of)
    until = T(now["valid_until"])
    assert until > as_of
    assert _at(plan, index, until - 1)["digest"] == now["digest"]
    assert _at(plan, index, until)["digest"] != now["digest"]
    return until


def test_point_leaving_the_window() -> None:
    plan = plan_with_rule({"all": [bench("w", "inc", aggregate="count", op=">=", threshold=2, window="P10D")]})
    index = index_of(plan, record("a", observed_at="2025-03-01T00:00:00Z", reported_at="2025-03-01T00:00:00Z"),
                   record("b", observed_at="2025-03-05T00:00:00Z", reported_at="2025-03-05T00:00:00Z"))
    as_of = T("2025-03-06T00:00:00Z")
    assert _at(plan, index, as_of)["status"] == "pass"
    until = _check_edge(plan, index, as_of)
    assert until == T("2025-03-11T00:00:00Z")  # (T - 10 days, T]: the start is excluded
    assert _at(plan, index, until)["status"] == "fail"
    # The next edge: b leaves the window too.
    assert _check_edge(plan, index, until) == T("2025-03-15T00:00:00Z")


def test_point_going_stale() -> None:
    plan = plan_with_rule({"all": [bench("s", "inc", aggregate="latest", op="<=", threshold=10, max_age="P2D")]})
    index = index_of(plan, record("a", observed_at="2025-03-01T00:00:00Z", reported_at="2025-03-01T12:00:00Z"))
    as_of = T("2025-03-02T00:00:00Z")
    until = _check_edge(plan, index, as_of)
    assert until == T("2025-03-03T00:00:00.000001Z")  # exactly max_age old is still fresh
    assert _at(plan, index, until - 1)["status"] == "pass"
    assert _at(plan, index, until)["status"] == "unknown"
    assert _at(plan, index, until)["valid_until"] is None


def test_earliest_of_several_edges() -> None:
    plan = plan_with_rule({"all": [
        bench("w", "inc", aggregate="count", op=">=", threshold=1, window="P10D"),
        bench("s", "pol", aggregate="latest", op=">=", threshold=1, max_age="P3D"),
    ]})
    index = index_of(plan, record("a", observed_at="2025-03-01T00:00:00Z", reported_at="2025-03-01T00:00:00Z"),
                   record("p", indicator="pol", source="moi", value=2, observed_at="2025-03-04T00:00:00Z",
                          reported_at="2025-03-04T00:00:00Z"))
    as_of = T("2025-03-05T00:00:00Z")
    assert _check_edge(plan, index, as_of) == T("2025-03-07T00:00:00.000001Z")


def test_waiver_end_is_an_edge() -> None:
    plan = plan_with_rule({"all": [bench("x", "inc", aggregate="latest", op="<=", threshold=1)]})
    index = index_of(plan, record("a"))
    w = [Waiver("x", "head", "agreed", T("2025-05-01T00:00:00Z"))]
    now = _at(plan, index, T("2025-04-10T00:00:00Z"), w)
    assert now["status"] == "pass" and now["valid_until"] == "2025-05-01T00:00:00Z"
    assert _at(plan, index, T("2025-05-01T00:00:00Z") - 1, w)["digest"] == now["digest"]
    later = _at(plan, index, T("2025-05-01T00:00:00Z"), w)
    assert later["status"] == "fail" and later["digest"] != now["digest"]


def test_no_edge_without_window_or_max_age() -> None:
    plan = plan_with_rule({"all": [bench("x", "inc", aggregate="mean", op="<=", threshold=10)]})
    index = index_of(plan, record("a"))
    assert _at(plan, index, T("2025-04-10T00:00:00Z"))["valid_until"] is None


def test_digest_same_for_same_evidence_and_result_at_different_instants() -> None:
    plan = plan_with_rule({"all": [bench("x", "inc", aggregate="mean", op="<=", threshold=10, window="P90D")]})
    index = index_of(plan, record("a"))
    one = _at(plan, index, T("2025-04-10T00:00:00Z"))
    two = _at(plan, index, T("2025-05-10T00:00:00Z"))
    assert one["digest"] == two["digest"]
    assert one["valid_until"] == two["valid_until"]


def test_digest_changes_when_a_value_changes() -> None:
    plan = plan_with_rule({"all": [bench("x", "inc", aggregate="mean", op="<=", threshold=10)]})
    as_of = T("2025-04-10T00:00:00Z")
    base = _at(plan, index_of(plan, record("a", value=7)), as_of)["digest"]
    assert _at(plan, index_of(plan, record("a", value=8)), as_of)["digest"] != base  # same status, new value
    assert _at(plan, index_of(plan, record("z", value=7)), as_of)["digest"] != base  # another record used
    corrected = index_of(plan, record("a", value=7), record("c", supersedes="a", value=8,
                                                          reported_at="2025-04-05T00:00:00Z"))
    assert _at(plan, corrected, T("2025-04-04T00:00:00Z"))["digest"] == base  # correction not yet known
    assert _at(plan, corrected, as_of)["digest"] != base


def test_evidence_digest_follows_counting_records() -> None:
    plan = plan_with_rule({"all": [bench("x", "inc", aggregate="mean", op="<=", threshold=10)]})
    index = index_of(plan, record("a"), record("w", supersedes="a", value=None, reported_at="2025-04-05T00:00:00Z"),
                   record("p", indicator="pol", source="moi", value=2, reported_at="2025-04-07T00:00:00Z"))
    before = evaluate(plan, index, T("2025-04-04T00:00:00Z"))["evidence_digest"]
    assert evaluate(plan, index, T("2025-04-04T12:00:00Z"))["evidence_digest"] == before
    withdrawn = evaluate(plan, index, T("2025-04-05T00:00:00Z"))["evidence_digest"]
    assert withdrawn != before
    # A record of an indicator no gate reads still counts for the evidence digest.
    assert evaluate(plan, index, T("2025-04-07T00:00:00Z"))["evidence_digest"] != withdrawn


def test_the_earliest_of_window_exit_and_staleness() -> None:
    a = record("a", observed_at="2025-03-01T00:00:00Z", reported_at="2025-03-01T00:00:00Z")
    at = T("2025-03-01T12:00:00Z")
    for window, max_age, until in (("P10D", "P2D", "2025-03-03T00:00:00.000001Z"),
                                   ("P1D", "P5D", "2025-03-02T00:00:00Z")):
        plan = plan_with_rule({"all": [bench("x", "inc", aggregate="count", op=">=", threshold=1,
                                             window=window, max_age=max_age)]})
        assert _at(plan, index_of(plan, a), at)["valid_until"] == until, (window, max_age)
