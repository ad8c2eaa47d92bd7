"""What a planner asks of a timeline: when did each gate first pass, which benchmark held it
back longest, and when did it fall back after passing."""

from __future__ import annotations

from dataclasses import dataclass

from .timeline import Timeline

__all__ = ["GateSummary", "Regression", "summarize"]


@dataclass(frozen=True)
class Regression:
    """The gate passed at the step before `start` and did not pass from `start` on."""

    start: int
    end: int | None  # the first instant it passed again, or None if it did not by the end
    fell_to: str  # "fail" or "unknown" at `start`


@dataclass(frozen=True)
class GateSummary:
    gate: str
    first_pass: int | None
    final: str
    pass_steps: int
    blocking: str | None  # the benchmark not passing for the most steps while the gate did not pass
    blocking_steps: int
    regressions: list[Regression]


def summarize(tl: Timeline) -> dict[str, GateSummary]:
    """Per gate, in the timeline's gate order.

    "Blocking" counts, for each benchmark of the gate, the steps at which the gate was not
    `pass` and the benchmark was not `pass` either (fail or unknown); the benchmark with the
    most such steps wins, the first in rule order on a tie. A benchmark under a `not` counts
    the same way: the summary reports statuses, it does not reason about the rule.
    """
    from .evaluate import STATUS

    out: dict[str, GateSummary] = {}
    for gid, statuses in tl.gates.items():
        first = next((tl.instants[i] for i, s in enumerate(statuses) if s is True), None)
        regressions: list[Regression] = []
        for i in range(1, len(statuses)):
            if statuses[i - 1] is True and statuses[i] is not True:
                end = next((tl.instants[j] for j in range(i + 1, len(statuses)) if statuses[j] is True), None)
                regressions.append(Regression(tl.instants[i], end, STATUS[statuses[i]]))
        best, best_steps = None, 0
        for bid in tl.gate_benchmarks[gid]:
            bs = tl.benchmarks[bid].status
            steps = sum(1 for g, b in zip(statuses, bs, strict=True) if g is not True and b is not True)
            if steps > best_steps:
                best, best_steps = bid, steps
        out[gid] = GateSummary(gid, first, STATUS[statuses[-1]] if statuses else "unknown",
                               sum(1 for s in statuses if s is True), best, best_steps, regressions)
    return out
