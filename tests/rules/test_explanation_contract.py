"""The explanation of CONTRACT section 3, worked out by hand on small gates: a score's share,
a waived benchmark's own verdict, the reason texts, waivers a `not` above makes void however
deep it sits, and a digest that names the plan it was computed under."""

from __future__ import annotations

from typing import Any

import pytest

from rules.evaluate import Waiver, evaluate_gate, format_value
from rules.plan import LoadedPlan
from rules.series import EvidenceIndex
from schemas.timefmt import parse_timestamp

from .helpers import bench, index_of, plan_with_rule, record

AS_OF = parse_timestamp("2025-04-10T00:00:00Z")

PASSES = bench("ok", "inc", aggregate="mean", op="<=", threshold=5, weight=2)  # mean 4 over 2 points
FAILS = bench("bad", "elect", aggregate="latest", op="==", threshold=True)  # latest is false
UNKNOWN = bench("few", "pol", aggregate="latest", op=">=", threshold=1.5, min_points=2)  # 1 point, 2 needed


def _evidence(plan: LoadedPlan) -> EvidenceIndex:
    return index_of(
        plan,
        record("i1", value=3, observed_at="2025-03-30T00:00:00Z"), record("i2", value=5),
        record("e1", indicator="elect", value=False, source="nec"),
        record("p1", indicator="pol", value=2.5, source="moi"),
    )


def _gate(rule: dict[str, Any], waivers: list[Waiver] | None = None, **top: Any) -> dict[str, Any]:
    plan = plan_with_rule(rule, **top)
    return evaluate_gate(plan, "g1", _evidence(plan), AS_OF, waivers or [])


def _bench(node: dict[str, Any], bid: str) -> dict[str, Any]:
    if node["node"] == "benchmark":
        return node if node["benchmark"] == bid else {}
    return next((found for c in node["children"] if (found := _bench(c, bid))), {})


def test_a_score_share_counts_only_passing_children() -> None:
    # Weights 2 (pass), 1 (unknown), 1 (fail): the share is 2/4. Counting the unknown child as
    # passing would give 3/4; it is only "passing at best", which decides unknown, not the share.
    got = _gate({"score": {"of": [PASSES, UNKNOWN, FAILS], "min": 0.5}})
    expl = got["explanation"]
    assert [c["status"] for c in expl["children"]] == ["pass", "unknown", "fail"]
    assert expl["share"] == 0.5
    assert expl["status"] == got["status"] == "pass"
    strict = _gate({"score": {"of": [PASSES, UNKNOWN, FAILS], "min": 0.6}})["explanation"]
    assert (strict["share"], strict["status"]) == (0.5, "unknown")  # 3/4 at best: could still pass


def test_a_waived_child_counts_as_passing_in_the_share() -> None:
    waiver = Waiver("bad", "mhead", "election postponed by court order")
    expl = _gate({"score": {"of": [PASSES, UNKNOWN, FAILS], "min": 0.8}}, [waiver])["explanation"]
    assert expl["share"] == 0.75
    assert expl["status"] == "unknown"


def test_reason_texts_say_why_in_plain_words() -> None:
    stale = bench("old", "inc", aggregate="latest", op="<=", threshold=5, max_age="P2D")
    trend = bench("tr", "inc", aggregate="trend", op="<=", threshold=5)
    expl = _gate({"all": [PASSES, FAILS, UNKNOWN, stale, trend]})["explanation"]
    reasons = {c["benchmark"]: c["reason"] for c in expl["children"]}
    assert reasons == {
        "ok": "mean 4 <= 5 over 2 points",
        "bad": "latest false is not == true over 1 point",
        "few": "1 point, 2 needed",
        "old": "stale: newest point 2025-03-31 is older than 2 days",
        "tr": "trend 2 per day <= 5 over 2 points",
    }
    statuses = {c["benchmark"]: (c["status"], c["value"], c["points"]) for c in expl["children"]}
    # The value is computed from the points found even when the benchmark is unknown.
    assert statuses == {"ok": ("pass", 4.0, 2), "bad": ("fail", False, 1), "few": ("unknown", 2.5, 1),
                        "old": ("unknown", 5, 2), "tr": ("pass", 2.0, 2)}


@pytest.mark.parametrize(("bid", "own", "own_reason"), [
    ("bad", "fail", "latest false is not == true over 1 point"),
    ("few", "unknown", "1 point, 2 needed"),
    ("ok", "pass", "mean 4 <= 5 over 2 points"),
])
def test_a_waived_benchmark_shows_the_rules_own_status(bid: str, own: str, own_reason: str) -> None:
    waiver = Waiver(bid, "mhead", "accepted risk", parse_timestamp("2025-05-01T00:00:00Z"))
    node = _bench(_gate({"all": [PASSES, FAILS, UNKNOWN]}, [waiver])["explanation"], bid)
    assert node["status"] == "pass"
    assert node["waived"] == {"by": "mhead", "justification": "accepted risk", "until": "2025-05-01T00:00:00Z",
                              "rule_status": own}
    assert node["reason"] == f"waived by mhead: accepted risk (rule alone: {own_reason})"


NESTED_NOT = [
    # (rule, the benchmark under a `not` that a waiver names, gate status with the waiver void)
    ({"not": {"all": [FAILS]}}, "bad", "pass"),
    ({"all": [PASSES, {"not": {"any": [UNKNOWN, FAILS]}}]}, "bad", "unknown"),
    ({"not": {"any": [{"not": FAILS}]}}, "bad", "fail"),  # two `not`s cancel for the status, not the rule
    ({"any": [{"not": {"score": {"of": [FAILS, UNKNOWN], "min": 1}}}]}, "bad", "pass"),
]


@pytest.mark.parametrize(("rule", "bid", "status"), NESTED_NOT)
def test_a_waiver_under_a_not_however_deep_changes_nothing(rule: dict[str, Any], bid: str, status: str) -> None:
    plan = plan_with_rule(rule)
    assert plan.benchmarks[bid][2] is True  # the plan knows it cannot be waived
    index = _evidence(plan)
    plain = evaluate_gate(plan, "g1", index, AS_OF)
    waived = evaluate_gate(plan, "g1", index, AS_OF, [Waiver(bid, "mhead", "tried anyway")])
    assert plain["status"] == status
    assert waived == plain
    assert "waived" not in _bench(waived["explanation"], bid)


def test_a_waiver_beside_a_not_still_applies() -> None:
    rule = {"all": [FAILS, {"not": {"all": [UNKNOWN]}}]}
    plan = plan_with_rule(rule)
    assert plan.benchmarks["bad"][2] is False
    got = evaluate_gate(plan, "g1", _evidence(plan), AS_OF, [Waiver("bad", "mhead", "ok")])
    assert _bench(got["explanation"], "bad")["status"] == "pass"
    assert got["status"] == "unknown"


def test_the_digest_covers_the_plan_sha256() -> None:
    rule = {"all": [PASSES]}
    one, two = plan_with_rule(rule, version="2026.1"), plan_with_rule(rule, version="2026.2")
    assert one.sha256 != two.sha256
    a = evaluate_gate(one, "g1", _evidence(one), AS_OF)
    b = evaluate_gate(two, "g1", _evidence(two), AS_OF)
    assert a["explanation"] == b["explanation"]  # same evidence, same result...
    assert a["digest"] != b["digest"]  # ...but signed under another plan
    again = evaluate_gate(one, "g1", _evidence(one), AS_OF)
    assert again["digest"] == a["digest"]


def test_sums_keep_the_indicators_kind_and_min_points_is_inclusive() -> None:
    plan = plan_with_rule({"all": [
        bench("si", "inc", aggregate="sum", op=">=", threshold=0),
        bench("sn", "pol", aggregate="sum", op=">=", threshold=0),
        bench("sb", "elect", aggregate="sum", op=">=", threshold=0),
        bench("two", "inc", aggregate="count", op=">=", threshold=0, min_points=2),
        bench("three", "inc", aggregate="count", op=">=", threshold=0, min_points=3),
    ]})
    index = index_of(plan, record("i1", value=3, observed_at="2025-03-30T00:00:00Z"), record("i2", value=5),
                     record("p1", indicator="pol", value=2.5, source="moi"),
                     record("p2", indicator="pol", value=1.25, source="moi", observed_at="2025-03-30T00:00:00Z"),
                     record("e1", indicator="elect", value=True, source="nec"),
                     record("e2", indicator="elect", value=False, source="nec", observed_at="2025-03-30T00:00:00Z"))
    kids = {c["benchmark"]: c for c in evaluate_gate(plan, "g1", index, AS_OF)["explanation"]["children"]}
    values = {bid: kids[bid]["value"] for bid in ("si", "sn", "sb")}
    assert values == {"si": 8, "sn": 3.75, "sb": 1}
    assert type(values["si"]) is int and type(values["sb"]) is int  # 8, not 8.0, in the JSON
    assert kids["sn"]["reason"] == "sum 3.75 >= 0 over 2 points"
    assert (kids["two"]["status"], kids["two"]["reason"]) == ("pass", "count 2 >= 0 over 2 points")
    assert (kids["three"]["status"], kids["three"]["reason"]) == ("unknown", "2 points, 3 needed")


def test_undefined_aggregates_say_what_they_need() -> None:
    plan = plan_with_rule({"all": [
        bench("tr", "pol", aggregate="trend", op=">=", threshold=0),
        bench("ch", "pol", aggregate="change", op=">=", threshold=0),
        bench("tr2", "inc", aggregate="trend", op=">=", threshold=0),
    ]})
    index = index_of(plan, record("p1", indicator="pol", value=2.5, source="moi"),
                     record("i1", value=3), record("i2", value=4, observed_at="2025-03-31T00:00:00+00:00"))
    kids = {c["benchmark"]: c for c in evaluate_gate(plan, "g1", index, AS_OF)["explanation"]["children"]}
    assert {bid: (c["status"], c["value"], c["reason"]) for bid, c in kids.items()} == {
        "tr": ("unknown", None, "trend needs 2 points at distinct times"),
        "ch": ("unknown", None, "change needs 2 points"),
        "tr2": ("unknown", None, "trend needs 2 points at distinct times"),  # two points, one instant
    }


@pytest.mark.parametrize(("value", "text"), [
    (3.0, "3"), (2.5, "2.5"), (1.23456, "1.2346"), (0.00001, "1e-05"), (-0.00001, "-1e-05"), (-0.0, "0"),
    (True, "true"), (False, "false"), (7, "7"), (1e20, "100000000000000000000"),
])
def test_numbers_in_reasons(value: object, text: str) -> None:
    assert format_value(value) == text


def test_each_aggregate_by_hand() -> None:
    aggs = ("latest", "mean", "min", "max", "sum", "count", "change", "trend")
    plan = plan_with_rule({"all": [bench(a, "inc", aggregate=a, op=">=", threshold=-100) for a in aggs]})
    # 9 at day 0, 3 at day 1, 6 at day 3 (the last observed is not the last reported).
    index = index_of(plan, record("a", value=9, observed_at="2025-03-28T00:00:00Z", reported_at="2025-04-05T00:00:00Z"),
                     record("b", value=3, observed_at="2025-03-29T00:00:00Z"), record("c", value=6))
    kids = {c["benchmark"]: c["value"] for c in evaluate_gate(plan, "g1", index, AS_OF)["explanation"]["children"]}
    # trend: x = 0, 1, 3 days; slope = sum(dx*dy)/sum(dx^2) with mean x 4/3 and mean y 6.
    assert kids == {"latest": 6, "mean": 6.0, "min": 3, "max": 9, "sum": 18, "count": 3, "change": -3,
                    "trend": pytest.approx(-9 / 14, rel=1e-12)}


OP_CASES = {  # op -> statuses for latest = 4, 5, 6 against 5 (between: [5, 6])
    "<": ["pass", "fail", "fail"], "<=": ["pass", "pass", "fail"], ">": ["fail", "fail", "pass"],
    ">=": ["fail", "pass", "pass"], "==": ["fail", "pass", "fail"], "!=": ["pass", "fail", "pass"],
    "between": ["fail", "pass", "pass"],
}


@pytest.mark.parametrize("op", list(OP_CASES))
def test_each_comparison_at_its_edge(op: str) -> None:
    threshold = [5, 6] if op == "between" else 5
    plan = plan_with_rule({"all": [bench("x", "inc", aggregate="latest", op=op, threshold=threshold)]})
    nodes = [evaluate_gate(plan, "g1", index_of(plan, record("r", value=v)), AS_OF)["explanation"]["children"][0]
             for v in (4, 5, 6)]
    assert [n["status"] for n in nodes] == OP_CASES[op]
    # The reason says the same as the status.
    words = "between 5 and 6" if op == "between" else f"{op} 5"
    assert [n["reason"] for n in nodes] == [
        f"latest {v} {words} over 1 point" if s == "pass" else f"latest {v} is not {words} over 1 point"
        for v, s in zip((4, 5, 6), OP_CASES[op], strict=True)]
    high = evaluate_gate(plan, "g1", index_of(plan, record("r", value=7)), AS_OF)["status"]
    assert high == ("fail" if op in ("<", "<=", "==", "between") else "pass")


def test_change_over_exactly_two_points() -> None:
    plan = plan_with_rule({"all": [bench("ch", "inc", aggregate="change", op="<=", threshold=0)]})
    index = index_of(plan, record("a", value=9, observed_at="2025-03-30T00:00:00Z"), record("b", value=4))
    node = evaluate_gate(plan, "g1", index, AS_OF)["explanation"]["children"][0]
    assert (node["status"], node["value"], node["reason"]) == ("pass", -5, "change -5 <= 0 over 2 points")
