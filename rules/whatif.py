"""What-if: the mission's history replayed under two versions of its plan, gate by gate.

Both versions run through `rules.timeline.timeline` over the same instants; this module only
reads the two timelines side by side: when each gate first passed under each version, how many
days the new version gains (positive) or loses (negative), and which benchmarks are
responsible: those of the gate (in either version) whose status differed between the versions
at a step where the gate's status differed, or that exist in one version only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from schemas.timefmt import DAY, format_timestamp

from .evaluate import Waiver
from .plan import LoadedPlan
from .series import EvidenceIndex
from .timeline import Timeline, timeline

__all__ = ["GateComparison", "WhatIf", "compare_timelines", "what_if"]


@dataclass(frozen=True)
class GateComparison:
    gate: str
    in_old: bool
    in_new: bool
    first_pass_old: int | None
    first_pass_new: int | None
    differing_steps: int  # steps at which the gate's status differs between the versions
    responsible: list[str]

    @property
    def days_gained(self) -> float | None:
        """Days earlier under the new version (negative: later); None unless both pass."""
        if self.first_pass_old is None or self.first_pass_new is None:
            return None
        return (self.first_pass_old - self.first_pass_new) / DAY

    @property
    def outcome(self) -> str:
        if not self.in_new:
            return "removed"
        if not self.in_old:
            return "added"
        old, new = self.first_pass_old, self.first_pass_new
        if old is None and new is None:
            return "never passes"
        if old is None:
            return "now passes"
        if new is None:
            return "no longer passes"
        return "earlier" if new < old else "later" if new > old else "same"

    def to_json(self) -> dict[str, Any]:
        def ts(us: int | None) -> str | None:
            return None if us is None else format_timestamp(us)

        return {"gate": self.gate, "in_old": self.in_old, "in_new": self.in_new,
                "first_pass_old": ts(self.first_pass_old), "first_pass_new": ts(self.first_pass_new),
                "days_gained": self.days_gained, "outcome": self.outcome,
                "differing_steps": self.differing_steps, "responsible": self.responsible}


@dataclass(frozen=True)
class WhatIf:
    old: Timeline
    new: Timeline
    gates: dict[str, GateComparison]


def _first_pass(tl: Timeline, gate: str) -> int | None:
    statuses = tl.gates.get(gate)
    if statuses is None:
        return None
    return next((tl.instants[i] for i, s in enumerate(statuses) if s is True), None)


def compare_timelines(old: Timeline, new: Timeline) -> dict[str, GateComparison]:
    """Per gate of either timeline (old order, then gates only the new one has)."""
    if old.instants != new.instants:
        raise ValueError("the two timelines must cover the same instants")
    n = len(old.instants)
    out: dict[str, GateComparison] = {}
    for g in [*old.gates, *(g for g in new.gates if g not in old.gates)]:
        sa, sb = old.gates.get(g), new.gates.get(g)
        differing = [k for k in range(n) if sa is None or sb is None or sa[k] is not sb[k]]
        bench = [*old.gate_benchmarks.get(g, []),
                 *(b for b in new.gate_benchmarks.get(g, []) if b not in old.gate_benchmarks.get(g, []))]
        responsible = []
        if differing:
            for bid in bench:
                ba, bb = old.benchmarks.get(bid), new.benchmarks.get(bid)
                in_both = bid in old.gate_benchmarks.get(g, []) and bid in new.gate_benchmarks.get(g, [])
                if not in_both or (ba is not None and bb is not None
                                   and any(ba.status[k] is not bb.status[k] for k in differing)):
                    responsible.append(bid)
        out[g] = GateComparison(g, sa is not None, sb is not None, _first_pass(old, g), _first_pass(new, g),
                                len(differing), responsible)
    return out


def what_if(old_plan: LoadedPlan, old_index: EvidenceIndex, new_plan: LoadedPlan, new_index: EvidenceIndex,
            start_us: int, end_us: int, step_us: int, waivers: Iterable[Waiver] = (),
            gates: Sequence[str] | None = None) -> WhatIf:
    """Each version over its own evidence index (acceptance depends on the plan), same instants;
    `gates`: only these (each in at least one of the versions)."""
    ws = list(waivers)
    for g in gates or ():
        if g not in old_plan.gates and g not in new_plan.gates:
            raise KeyError(f"unknown gate {g!r}")

    def only(plan: LoadedPlan) -> list[str] | None:
        return None if gates is None else [g for g in gates if g in plan.gates]

    old = timeline(old_plan, old_index, start_us, end_us, step_us, gates=only(old_plan), waivers=ws)
    new = timeline(new_plan, new_index, start_us, end_us, step_us, gates=only(new_plan), waivers=ws)
    return WhatIf(old, new, compare_timelines(old, new))
