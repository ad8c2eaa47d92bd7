"""Pieces both workflows share: ids, the audit queue, time, refusals, activity options.

Deterministic only: time comes from `workflow.now()`, side effects go through activities
named by string so these modules never import the activities (or their database code).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from lifecycle import InvalidInput, Refusal, RefusalType
    from schemas.messages import SA_GATE_STATES, SA_MISSION, SA_PHASE, AuditBatch, AuditEntry
    from schemas.timefmt import format_timestamp

ACTIVITY_TIMEOUT = timedelta(minutes=2)
# Transient failures (database down) retry for as long as it takes, at most every 5 minutes.
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5))
AUDIT_BATCH = 200

MISSION_KEY = SearchAttributeKey.for_keyword(SA_MISSION)
PHASE_KEY = SearchAttributeKey.for_keyword(SA_PHASE)
GATE_STATES_KEY = SearchAttributeKey.for_keyword_list(SA_GATE_STATES)


def mission_workflow_id(mission: str) -> str:
    return f"exitgate/mission/{mission}"


def phase_workflow_id(mission: str, phase: str) -> str:
    # Plan ids never contain "/", so these ids can't collide.
    return f"exitgate/phase/{mission}/{phase}"


def now_us() -> int:
    return workflow.time_ns() // 1000


def now_text() -> str:
    return format_timestamp(now_us())


def refuse(kind: RefusalType, message: str) -> NoReturn:
    """Refuse an update from its validator: the caller gets this error, history gets nothing."""
    raise ApplicationError(message, type=kind, non_retryable=True)


@contextlib.contextmanager
def refused() -> Iterator[None]:
    """The lifecycle's refusals, as the update's caller receives them: an `ApplicationError` of
    the refusal's type (or `InvalidInput`, naming the field)."""
    try:
        yield
    except (Refusal, InvalidInput) as exc:
        raise ApplicationError(exc.message, type=exc.type, non_retryable=True) from None


def failure_reason(exc: BaseException) -> str:
    """One line for people: the chain of messages (an activity's error sits in its cause)."""
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    parts: list[str] = []
    seen: set[str] = set()
    e: BaseException | None = exc
    while e is not None:
        msg = (e.message if isinstance(e, FailureError) else str(e)) or type(e).__name__
        if msg in seen:
            break  # an ApplicationError's cause is often the Python error it was made from
        seen.add(msg)
        kind = e.type if isinstance(e, ApplicationError) else None
        parts.append(f"{kind}: {msg}" if kind else msg)
        e = e.cause if isinstance(e, FailureError) else None
    return ": ".join(parts)


class AuditQueue:
    """Audit entries in the order things happened, appended by one activity call per batch.

    Handlers only queue (they stay synchronous, so they never interleave with one another);
    the main loop flushes. Keys are stable across continue-as-new, so a store can drop an
    append that an activity retry repeats.
    """

    def __init__(self, pending: list[AuditEntry], seq: int):
        self.pending = pending
        self.seq = seq

    def add(self, kind: str, actor: str, **payload: Any) -> None:
        self.seq += 1
        info = workflow.info()
        key = f"{info.workflow_id}/{info.first_execution_run_id}/{self.seq}"
        payload.setdefault("at", now_text())
        self.pending.append(AuditEntry(key=key, kind=kind, actor=actor, payload=payload))

    async def flush(self) -> None:
        while self.pending:
            batch = self.pending[:AUDIT_BATCH]
            await workflow.execute_activity(
                "audit_append", AuditBatch(entries=batch), result_type=int,
                start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY)
            del self.pending[: len(batch)]
