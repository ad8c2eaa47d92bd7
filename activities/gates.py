"""The activities the workflows call: describe a plan, evaluate a gate, audit, notify.

They hold a backend (the store in production, `MemoryBackend` in tests) and run its
synchronous calls in a thread so a slow database never blocks the worker's event loop.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from opentelemetry import trace
from temporalio import activity
from temporalio.exceptions import ApplicationError

from rules.evaluate import Waiver, evaluate_gate
from rules.plan import LoadedPlan
from schemas.messages import (
    AuditBatch,
    DescribePlanInput,
    EvaluateGateInput,
    GateEvaluation,
    NotifyInput,
    PlanSpec,
)
from schemas.timefmt import format_timestamp, parse_timestamp
from store.spec import plan_spec

from .backend import Backend
from .webhook import Webhook, notification_doc

__all__ = ["COMPUTATION_ERRORS", "ExitgateActivities", "plan_spec"]

_TRACER = trace.get_tracer("exitgate.activities")

# Errors of computing over the evidence, not of reaching it: retrying cannot help.
COMPUTATION_ERRORS = (ArithmeticError, ValueError, TypeError, KeyError, IndexError)


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
        trace.get_current_span().set_attributes({"exitgate.mission": inp.mission, "exitgate.gate": inp.gate,
                                                 "exitgate.status": out["status"]})
        return GateEvaluation(status=out["status"], digest=out["digest"],
                              valid_until=out["valid_until"], evidence_position=position)

    @activity.defn(name="audit_append")
    async def audit_append(self, batch: AuditBatch) -> int:
        def write() -> int:
            for e in batch.entries:
                self.backend.audit_append(e.kind, e.payload, e.actor, key=e.key)
            return len(batch.entries)
        # The write itself, inside the activity's span (a no-op unless tracing is on).
        with _TRACER.start_as_current_span("audit.write", attributes={
                "exitgate.audit.entries": len(batch.entries),
                "exitgate.audit.kinds": sorted({e.kind for e in batch.entries})}):
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
