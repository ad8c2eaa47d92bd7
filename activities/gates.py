"""The activities the workflows call: describe a plan, evaluate a gate, audit, notify.

They hold a backend (the store in production, `MemoryBackend` in tests) and run its
synchronous calls in a thread so a slow database never blocks the worker's event loop.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from rules.evaluate import Waiver, evaluate_gate
from rules.plan import LoadedPlan
from rules.tree import iter_benchmarks
from schemas.messages import (
    ApprovalSpec,
    AuditBatch,
    DescribePlanInput,
    EvaluateGateInput,
    GateEvaluation,
    GateSpec,
    NotifyInput,
    PhaseSpec,
    PlanSpec,
)
from schemas.timefmt import format_timestamp, parse_duration, parse_timestamp

from .backend import Backend
from .webhook import Webhook, notification_doc

__all__ = ["COMPUTATION_ERRORS", "ExitgateActivities", "plan_spec"]

# Errors of computing over the evidence, not of reaching it: retrying cannot help.
COMPUTATION_ERRORS = (ArithmeticError, ValueError, TypeError, KeyError, IndexError)


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


class ExitgateActivities:
    def __init__(self, backend: Backend, webhook: Webhook | None = None):
        self.backend = backend
        self.webhook = webhook

    def _plan(self, sha256: str) -> LoadedPlan:
        try:
            return self.backend.load_plan(sha256)
        except LookupError as exc:
            # Retrying will not make an unknown plan appear: fail the caller at once.
            raise ApplicationError(str(exc), type="UnknownPlan", non_retryable=True) from exc

    @activity.defn(name="describe_plan")
    async def describe_plan(self, inp: DescribePlanInput) -> PlanSpec:
        plan = await asyncio.to_thread(self._plan, inp.plan_sha256)
        return plan_spec(plan)

    @activity.defn(name="evaluate_gate")
    async def evaluate_gate(self, inp: EvaluateGateInput) -> GateEvaluation:
        return await asyncio.to_thread(self._evaluate, inp)

    def _evaluate(self, inp: EvaluateGateInput) -> GateEvaluation:
        plan = self._plan(inp.plan_sha256)
        if inp.gate not in plan.gates:
            raise ApplicationError(f"gate {inp.gate!r} is not in plan {inp.plan_sha256}",
                                   type="UnknownGate", non_retryable=True)
        as_of = parse_timestamp(inp.as_of)
        # Read before the records, so the evaluation saw at least this much of the store; and
        # only of records received by as_of: one received later is not known as of then.
        position = self.backend.evidence_position(inp.mission, plan.gate_indicators(inp.gate), as_of)
        try:
            index = self.backend.evidence_index(inp.mission, as_of, plan.gate_indicators(inp.gate),
                                                plan.gate_horizons(inp.gate))
            waivers = [Waiver(w.benchmark, w.by, w.justification,
                              parse_timestamp(w.until) if w.until else None) for w in inp.waivers]
            out: dict[str, Any] = evaluate_gate(plan, inp.gate, index, as_of, waivers)
        except COMPUTATION_ERRORS as exc:
            # The same evidence gives the same error on every retry (a database that is down
            # raises something else, and is retried): fail this gate's evaluation for good, so
            # the phase shows why and goes on with its other gates.
            raise ApplicationError(f"gate {inp.gate!r}: evaluation failed: {type(exc).__name__}: {exc}",
                                   type="EvaluationFailed", non_retryable=True) from exc
        return GateEvaluation(status=out["status"], digest=out["digest"],
                              valid_until=out["valid_until"], evidence_position=position)

    @activity.defn(name="audit_append")
    async def audit_append(self, batch: AuditBatch) -> int:
        def write() -> int:
            for e in batch.entries:
                self.backend.audit_append(e.kind, e.payload, e.actor, key=e.key)
            return len(batch.entries)
        return await asyncio.to_thread(write)

    @activity.defn(name="notify")
    async def notify(self, inp: NotifyInput) -> None:
        info = activity.info()
        # Stable across retries of this activity: one row, one Idempotency-Key per notification.
        key = f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"
        await asyncio.to_thread(self.backend.notify, inp.kind, inp.mission, inp.phase, inp.gate,
                                inp.message, inp.payload, key)
        if self.webhook is None:
            return
        doc = notification_doc(key, inp.kind, inp.mission, inp.phase, inp.gate, inp.message, inp.payload,
                               format_timestamp(time.time_ns() // 1000))
        error = await asyncio.to_thread(self.webhook.deliver, doc)
        await asyncio.to_thread(self.backend.notification_delivered, key, error)
        if error is not None:
            activity.logger.warning("notification %s not delivered: %s", key, error)

    def all(self) -> list[Any]:
        return [self.describe_plan, self.evaluate_gate, self.audit_append, self.notify]
