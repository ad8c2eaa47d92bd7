"""The part of a plan the workflows act on (`PlanSpec`), built from a loaded plan.

In the store layer because the `describe_plan` activity and the service (which checks acts on
gates that have no running workflow with the same lifecycle) both need it, and both stand on
the store; it is pure.
"""

from __future__ import annotations

from rules.plan import LoadedPlan
from rules.tree import iter_benchmarks
from schemas.messages import ApprovalSpec, GateSpec, PhaseSpec, PlanSpec
from schemas.timefmt import parse_duration

__all__ = ["plan_spec"]


def plan_spec(plan: LoadedPlan) -> PlanSpec:
    """The part of a plan the workflows act on: phases, gates, roles, timers."""
    phases = []
    for p in plan.model.phases:
        gates = []
        for g in p.gates:
            bms = list(iter_benchmarks(g.rule))
            t = g.timers
            a = g.approval
            gates.append(GateSpec(
                id=g.id, name=g.name,
                approval=ApprovalSpec(roles=list(a.roles), quorum=a.quorum,
                                      distinct_roles=a.distinct_roles,
                                      required_roles=list(a.required_roles or []),
                                      waiver_roles=list(a.waiver_roles or []),
                                      reject_threshold=a.reject_threshold or 1,
                                      veto_roles=list(a.veto_roles or []),
                                      approval_valid_for_us=parse_duration(a.approval_valid_for)
                                      if a.approval_valid_for else None),
                remind_after_us=parse_duration(t.remind_after) if t and t.remind_after else None,
                escalate_after_us=parse_duration(t.escalate_after) if t and t.escalate_after else None,
                indicators=sorted(plan.gate_indicators(g.id)),
                benchmarks=[b.id for b, _ in bms],
                waivable=[b.id for b, under_not in bms if not under_not],
            ))
        phases.append(PhaseSpec(id=p.id, name=p.name, depends_on=list(p.depends_on or []), gates=gates))
    return PlanSpec(plan=plan.id, plan_sha256=plan.sha256, mission=plan.mission_id,
                    coordinator_roles=plan.model.coordinators, phases=phases)
