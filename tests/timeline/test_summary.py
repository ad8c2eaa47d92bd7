"""The summary read off a timeline: first pass, longest blocking benchmark, regressions."""

from __future__ import annotations

from rules.compiler import Status
from rules.timeline import BenchmarkSeries, Timeline
from rules.timeline_summary import Regression, summarize

P, F, U = True, False, None


def _timeline(gate: list[Status], benches: dict[str, list[Status]]) -> Timeline:
    n = len(gate)
    return Timeline(
        instants=[10 * i for i in range(n)],
        gates={"g": gate},
        benchmarks={b: BenchmarkSeries(s, [None] * n, [0] * n) for b, s in benches.items()},
        gate_benchmarks={"g": list(benches)},
    )


def test_first_pass_blocking_and_regressions() -> None:
    tl = _timeline([F, F, U, P, P, F, U, P, F],
                   {"a": [F, P, P, P, P, P, P, P, P],
                    "b": [P, U, U, P, P, F, U, P, F],
                    "c": [F, F, P, P, P, P, P, P, P]})
    s = summarize(tl)["g"]
    assert s.first_pass == 30
    assert s.final == "fail"
    assert s.pass_steps == 3
    assert (s.blocking, s.blocking_steps) == ("b", 5)
    assert s.regressions == [Regression(50, 70, "fail"), Regression(80, None, "fail")]


def test_never_passing_and_always_passing() -> None:
    never = summarize(_timeline([U, F], {"a": [U, F], "b": [U, P]}))["g"]
    assert never.first_pass is None and never.regressions == []
    assert (never.blocking, never.blocking_steps) == ("a", 2)
    always = summarize(_timeline([P, P], {"a": [P, P]}))["g"]
    assert always.first_pass == 0 and always.blocking is None and always.blocking_steps == 0


def test_ties_go_to_the_first_benchmark_in_rule_order() -> None:
    s = summarize(_timeline([F, F], {"x": [F, P], "y": [P, F]}))["g"]
    assert s.blocking == "x"


def test_final_status_and_no_regression_before_the_first_step() -> None:
    rising = summarize(_timeline([U, F, P], {"a": [U, F, P]}))["g"]
    assert (rising.final, rising.first_pass, rising.pass_steps, rising.regressions) == ("pass", 20, 1, [])
    falling = summarize(_timeline([P, U], {"a": [P, U]}))["g"]
    assert (falling.final, falling.regressions) == ("unknown", [Regression(10, None, "unknown")])
