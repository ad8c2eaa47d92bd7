"""Which outcomes of a plan its test cases exercised.

Counted from the explanations the engine returned, nothing re-decided here:
- each benchmark: seen `pass`, `fail`, `unknown` by its rule alone (a waived benchmark counts
  by the status its rule gave it), and for `unknown` which cause (stale, too few points,
  undefined aggregate);
- each combinator (all, any, not, at_least, score): seen `pass`, `fail`, `unknown`.

An outcome counts as possible unless the plan rules it out: a `count` or `sum` with
`min_points: 0` and no `max_age` always has a value, so it is never `unknown`. Percentages are
outcomes seen over outcomes possible: for the benchmarks, for the combinators, and for both.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .evaluate import UNKNOWN_CAUSES, unknown_cause
from .plan import LoadedPlan

__all__ = ["OUTCOMES", "BenchmarkCoverage", "CombinatorCoverage", "Coverage", "coverage"]

OUTCOMES = ("pass", "fail", "unknown")
_CHILD_KEY = {"all": "all", "any": "any", "not": "not", "at_least": "of", "score": "score.of"}


@dataclass
class BenchmarkCoverage:
    benchmark: str
    gate: str
    possible: tuple[str, ...]
    seen: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    causes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(UNKNOWN_CAUSES, 0))
    waived: int = 0

    @property
    def missing(self) -> list[str]:
        return [o for o in self.possible if not self.seen[o]]

    def to_json(self) -> dict[str, Any]:
        return {"benchmark": self.benchmark, "gate": self.gate, "seen": self.seen, "unknown_causes": self.causes,
                "waived": self.waived, "possible": list(self.possible), "missing": self.missing}


@dataclass
class CombinatorCoverage:
    gate: str
    path: str  # where it sits in the gate's rule, as in the plan document: rule.all[2]
    node: str
    seen: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))

    @property
    def missing(self) -> list[str]:
        return [o for o in OUTCOMES if not self.seen[o]]

    def to_json(self) -> dict[str, Any]:
        return {"gate": self.gate, "path": self.path, "node": self.node, "seen": self.seen, "missing": self.missing}


def _percent(seen: int, possible: int) -> float:
    return 100.0 if possible == 0 else round(100.0 * seen / possible, 1)


@dataclass
class Coverage:
    plan: str
    plan_sha256: str
    cases: int
    benchmarks: dict[str, BenchmarkCoverage]
    combinators: dict[tuple[str, str], CombinatorCoverage]

    def _counts(self) -> tuple[int, int, int, int]:
        b_seen = sum(len(b.possible) - len(b.missing) for b in self.benchmarks.values())
        b_all = sum(len(b.possible) for b in self.benchmarks.values())
        c_seen = sum(len(OUTCOMES) - len(c.missing) for c in self.combinators.values())
        return b_seen, b_all, c_seen, len(OUTCOMES) * len(self.combinators)

    @property
    def benchmark_percent(self) -> float:
        b_seen, b_all, _, _ = self._counts()
        return _percent(b_seen, b_all)

    @property
    def combinator_percent(self) -> float:
        _, _, c_seen, c_all = self._counts()
        return _percent(c_seen, c_all)

    @property
    def percent(self) -> float:
        b_seen, b_all, c_seen, c_all = self._counts()
        return _percent(b_seen + c_seen, b_all + c_all)

    def to_json(self) -> dict[str, Any]:
        return {"plan": self.plan, "plan_sha256": self.plan_sha256, "cases": self.cases,
                "percent": self.percent, "benchmark_percent": self.benchmark_percent,
                "combinator_percent": self.combinator_percent,
                "benchmarks": [b.to_json() for b in self.benchmarks.values()],
                "combinators": [c.to_json() for c in self.combinators.values()]}


def coverage(plan: LoadedPlan, evaluations: Iterable[dict[str, Any]]) -> Coverage:
    """Coverage of `plan` by evaluations (each the output of `rules.evaluate.evaluate`)."""
    benchmarks = {bid: BenchmarkCoverage(bid, g.id, _possible(b.min_points, b.max_age))
                  for bid, (g, b, _) in plan.benchmarks.items()}
    combinators: dict[tuple[str, str], CombinatorCoverage] = {}
    cases = 0
    for result in evaluations:
        cases += 1
        for gate in result["gates"]:
            for path, node in _walk(gate["explanation"], "rule"):
                if node["node"] == "benchmark":
                    bc = benchmarks[node["benchmark"]]
                    waived = node.get("waived")
                    bc.seen[waived["rule_status"] if waived else node["status"]] += 1
                    bc.waived += 1 if waived else 0
                    cause = unknown_cause(node)
                    if cause is not None:
                        bc.causes[cause] += 1
                else:
                    key = (gate["gate"], path)
                    cc = combinators.get(key)
                    if cc is None:
                        cc = combinators[key] = CombinatorCoverage(gate["gate"], path, node["node"])
                    cc.seen[node["status"]] += 1
    return Coverage(plan.id, plan.sha256, cases, benchmarks, combinators)


def _possible(min_points: int, max_age: str | None) -> tuple[str, ...]:
    return OUTCOMES if min_points > 0 or max_age is not None else ("pass", "fail")


def _walk(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    if node["node"] == "benchmark":
        return
    key = _CHILD_KEY[node["node"]]
    if node["node"] == "not":
        yield from _walk(node["children"][0], f"{path}.not")
        return
    for i, child in enumerate(node["children"]):
        yield from _walk(child, f"{path}.{key}[{i}]")
