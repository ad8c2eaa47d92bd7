"""Coverage figures on a plan built for it: every count worked out by hand from the contract."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from cli.main import app
from rules.coverage import coverage
from rules.plantest import load_suite, run_suite

from .conftest import Writer

runner = CliRunner()
T = "2025-06-10T00:00:00Z"


def _bench(bid: str, **kw: Any) -> dict[str, Any]:
    return {"benchmark": {"id": bid, "indicator": "x", **kw}}


PLAN = {
    "plan": "cov", "mission": {"id": "m", "name": "M"},
    "indicators": [{"id": "x", "name": "X", "kind": "number"}, {"id": "flag", "name": "Flag", "kind": "boolean"}],
    "phases": [{"id": "p", "name": "P", "gates": [{
        "id": "g", "name": "G", "approval": {"roles": ["r"], "quorum": 1},
        "rule": {"all": [
            {"any": [_bench("A", aggregate="latest", op="<=", threshold=5, max_age="P10D"),
                     _bench("B", aggregate="trend", op="<=", threshold=0)]},
            {"not": _bench("C", aggregate="mean", op=">", threshold=100, window="P30D", min_points=2)},
            {"benchmark": {"id": "D", "indicator": "flag", "aggregate": "count", "op": ">=", "threshold": 1,
                           "min_points": 0}},
        ]}}]}],
}


def _x(value: float, day: int) -> dict[str, Any]:
    return {"indicator": "x", "value": value, "observed_at": f"2025-06-0{day}T00:00:00Z", "source": "s"}


FLAG = {"indicator": "flag", "value": True, "observed_at": "2025-06-09T00:00:00Z", "source": "s"}
CASES = [
    # No evidence: A stale, B and C too few points, D a count of 0 that fails.
    {"name": "empty", "as_of": T, "records": [], "expect": {"gates": {"g": "fail"}}},
    # One point of x: A passes, B's trend is undefined, C has too few points; D passes.
    {"name": "one", "as_of": T, "records": [_x(3, 9), FLAG], "expect": {"gates": {"g": "unknown"}}},
    # Two high points: A and B fail, C passes so its `not` fails.
    {"name": "high", "as_of": T, "records": [_x(200, 8), _x(300, 9), FLAG], "expect": {"gates": {"g": "fail"}}},
]


def _cov(write: Writer, cases: list[dict[str, Any]]) -> Any:
    write("plan.json", PLAN)
    suite = load_suite(write("t.yaml", {"plan": "plan.json", "cases": cases}))
    results = run_suite(suite)
    assert all(r.passed for r in results), [m.text for r in results for m in r.mismatches]
    return coverage(suite.plan, [r.evaluation for r in results])


def test_benchmark_outcomes_and_causes(write: Writer) -> None:
    cov = _cov(write, CASES)
    got = {b.benchmark: (b.seen, {k: v for k, v in b.causes.items() if v}, b.possible, b.missing)
           for b in cov.benchmarks.values()}
    everything = ("pass", "fail", "unknown")
    assert got == {
        "A": ({"pass": 1, "fail": 1, "unknown": 1}, {"stale": 1}, everything, []),
        "B": ({"pass": 0, "fail": 1, "unknown": 2}, {"too_few_points": 1, "undefined": 1}, everything, ["pass"]),
        "C": ({"pass": 1, "fail": 0, "unknown": 2}, {"too_few_points": 2}, everything, ["fail"]),
        # count with min_points 0 and no max_age always has a value: never unknown.
        "D": ({"pass": 2, "fail": 1, "unknown": 0}, {}, ("pass", "fail"), []),
    }


def test_combinator_branches_and_percentages(write: Writer) -> None:
    cov = _cov(write, CASES)
    got = {(c.path, c.node): c.seen for c in cov.combinators.values()}
    assert got == {
        ("rule", "all"): {"pass": 0, "fail": 2, "unknown": 1},
        ("rule.all[0]", "any"): {"pass": 1, "fail": 1, "unknown": 1},
        ("rule.all[1]", "not"): {"pass": 0, "fail": 1, "unknown": 2},
    }
    # Benchmarks: 9 of 3 + 3 + 3 + 2 outcomes; combinators: 7 of 9; both: 16 of 20.
    assert (cov.benchmark_percent, cov.combinator_percent, cov.percent) == (81.8, 77.8, 80.0)
    assert cov.cases == 3


def test_a_waived_benchmark_counts_by_its_rule(write: Writer) -> None:
    cov = _cov(write, [{"name": "waived", "as_of": T, "records": [], "waivers": [{"benchmark": "B"}],
                        "expect": {"benchmarks": {"B": {"status": "pass", "waived": True}}}}])
    b = cov.benchmarks["B"]
    assert (b.seen, b.causes["too_few_points"], b.waived) == ({"pass": 0, "fail": 0, "unknown": 1}, 1, 1)


def test_cli_coverage_text_and_json(write: Writer) -> None:
    write("plan.json", PLAN)
    path = write("t.yaml", {"plan": "plan.json", "cases": CASES})
    res = runner.invoke(app, ["plan", "test", str(path), "--coverage"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert any(line.startswith("coverage of cov (sha256 ") and line.endswith(
        "over 3 case(s): benchmarks 81.8%, combinators 77.8%, plan 80%") for line in lines)
    assert "  B            g            0     1        2  too few points 1, undefined 1; missing pass" in lines
    assert "  D            g            2     1      n/a  -" in lines
    assert "  g rule.all[1] (not)              0     1        2  pass" in lines
    assert lines[-1] == "3 passed, 0 failed"
    doc = json.loads(runner.invoke(app, ["plan", "test", str(path), "--coverage", "--format", "json"]).stdout)
    (cov,) = doc["coverage"]
    assert cov["percent"] == 80.0 and cov["benchmarks"][1]["unknown_causes"]["undefined"] == 1


def test_files_of_one_plan_share_one_coverage(write: Writer) -> None:
    write("plan.json", PLAN)
    first = write("a.yaml", {"plan": "plan.json", "cases": CASES[:1]})
    second = write("b.json", {"plan": "plan.json", "cases": CASES[1:]})
    doc = json.loads(runner.invoke(app, ["plan", "test", str(first), str(second), "--coverage", "--format",
                                         "json"]).stdout)
    assert [len(f["cases"]) for f in doc["files"]] == [1, 2]
    (cov,) = doc["coverage"]
    assert (cov["cases"], cov["percent"]) == (3, 80.0)
