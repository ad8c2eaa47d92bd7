"""What a gate needs of the evidence: its indicators, and per indicator how far back its
benchmarks look (the longest window, or None when one of them reads the whole series)."""

from __future__ import annotations

from schemas.timefmt import DAY

from .helpers import bench, plan_with_rule


def test_horizon_is_the_longest_window_per_indicator() -> None:
    plan = plan_with_rule({"all": [
        bench("w10", "inc", window="P10D"), {"not": bench("w30", "inc", window="P30D")},
        bench("w5", "inc", window="P5D"),
        bench("p1", "pol", aggregate="latest", op=">=", threshold=1, window="P2D"),
    ]})
    assert plan.gate_horizons("g1") == {"inc": 30 * DAY, "pol": 2 * DAY}
    assert plan.gate_indicators("g1") == frozenset({"inc", "pol"})


def test_one_benchmark_without_a_window_needs_the_whole_series() -> None:
    for order in (("P10D", None, "P30D"), (None, "P10D"), ("P10D", None)):
        rule = {"any": [bench(f"b{i}", "inc", **({"window": w} if w else {})) for i, w in enumerate(order)]}
        assert plan_with_rule(rule).gate_horizons("g1") == {"inc": None}, order
    plan = plan_with_rule({"all": [bench("a", "inc"), bench("b", "pol", aggregate="latest", op=">=", threshold=1,
                                                                window="P1D")]})
    assert plan.gate_horizons("g1") == {"inc": None, "pol": DAY}
    assert plan.gate_horizons("g2") == {"elect": None}
