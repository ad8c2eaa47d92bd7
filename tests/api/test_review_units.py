"""The review workspace's pure parts: what would open a gate, and stale-before-decision warnings,
over explanation trees as rules.evaluate writes them."""

from __future__ import annotations

from typing import Any

from schemas.timefmt import DAY, parse_timestamp
from service.review import openers, stale_warnings
from service.views import GateView

NOW = parse_timestamp("2025-06-01T00:00:00Z")


def bench(bid: str, status: str, **kw: Any) -> dict[str, Any]:
    node = {"node": "benchmark", "benchmark": bid, "status": status, "value": None, "op": "<=", "threshold": 5,
            "points": 1, "min_points": 1, "window": None, "max_age": None, "newest_observed_at": None,
            "evidence": [], "reason": "r"}
    node.update(kw)
    return node


def tree(*children: dict[str, Any]) -> dict[str, Any]:
    return {"node": "all", "status": "fail", "children": list(children)}


def test_what_would_open_the_gate() -> None:
    ex = tree(bench("ok", "pass", value=3),
              bench("high", "fail", value=8),
              bench("low", "fail", value=40, op=">=", threshold=50),
              bench("range", "fail", value=12, op="between", threshold=[0, 10]),
              bench("few", "unknown", points=1, min_points=3, window="P30D"),
              bench("old", "unknown", points=1, max_age="P7D", newest_observed_at="2025-05-01T00:00:00Z"),
              bench("waived", "fail", value=9, waived={"by": "a", "justification": "j"}))
    got = {o.benchmark: o.needs for o in openers(ex, NOW)}
    assert set(got) == {"high", "low", "range", "few", "old"}  # passing and waived ones need nothing
    assert got["high"] == ["3 down to reach <= 5 (is 8)"]
    assert got["low"] == ["10 up to reach >= 50 (is 40)"]
    assert got["range"] == ["2 down to enter [0, 10] (is 12)"]
    assert got["few"] == ["2 more point(s) within P30D (has 1, needs 3)"]
    assert got["old"] == ["a report observed after 2025-05-25T00:00:00Z (newest is 2025-05-01T00:00:00Z, max age P7D)"]


def view(ex: dict[str, Any], state: str = "awaiting_approval") -> GateView:
    return GateView(mission="m", phase="p", gate="g", name="G", state=state, roles=["r"], quorum=2,
                    waiver_roles=[], as_of="2025-06-01T00:00:00Z",
                    evaluation={"status": "pass", "digest": "d", "as_of": "2025-06-01T00:00:00Z", "explanation": ex})


def test_stale_before_a_likely_decision() -> None:
    soon = bench("soon", "pass", max_age="P10D", newest_observed_at="2025-05-25T00:00:00Z")  # stale 06-04
    later = bench("later", "pass", max_age="P30D", newest_observed_at="2025-05-25T00:00:00Z")  # stale 06-24
    warnings = stale_warnings(view(tree(soon, later)), NOW)
    assert len(warnings) == 1 and warnings[0].startswith("soon goes stale at 2025-06-04T00:00:00Z")
    assert "2 approval(s) still needed" in warnings[0]
    assert stale_warnings(view(tree(soon), state="approved"), NOW) == []  # decided: nothing to warn of
    assert stale_warnings(view(tree(soon)), NOW + 4 * DAY) == []  # already stale: the rule says so itself
