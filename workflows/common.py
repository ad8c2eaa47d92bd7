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
    from schemas.ids import mission_workflow_id as mission_workflow_id
    from schemas.ids import phase_workflow_id as phase_workflow_id
    from schemas.messages import SA_GATE_STATES, SA_MISSION, SA_PHASE, AuditBatch, QueuedAuditEntry
    from schemas.timefmt import format_timestamp

ACTIVITY_TIMEOUT = timedelta(minutes=2)
# Transient failures (database down) retry for as long as it takes, at most every 5 minutes.
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5))
AUDIT_BATCH = 200

MISSION_KEY = SearchAttributeKey.for_keyword(SA_MISSION)
PHASE_KEY = SearchAttributeKey.for_keyword(SA_PHASE)
GATE_STATES_KEY = SearchAttributeKey.for_keyword_list(SA_GATE_STATES)


def workflow_now_us() -> int:
    """The workflow's clock, in microseconds (store.now_us is the wall clock)."""
    return workflow.time_ns() // 1000


def now_text() -> str:
    return format_timestamp(workflow_now_us())


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


# Audit entries of people's decisions: never held back by the group commit.
PEOPLES_DECISIONS = frozenset({"approval", "rejection", "vote_withdrawn", "waiver", "waiver_revoked",
                               "phase_plan_migrated"})


class AuditQueue:
    """Audit entries in the order things happened, appended by one activity call per batch.

    Handlers only queue (they stay synchronous, so they never interleave with one another);
    the main loop flushes. Keys are stable across continue-as-new, so a store can drop an
    append that an activity retry repeats.

    Group commit (`lag_us` > 0, the phase's `Limits.audit_lag_ms`): the engine's own entries
    (evaluations, transitions, reminders) wait at most `lag_us` after the first of them was
    queued, and go with whatever is queued meanwhile: a gate's evaluation is usually followed
    soon by an approval or another evaluation, and one audit activity then carries them all
    (measured: ~30% more gate workflows per second in workflow_bench). A person's decision is
    written at once, and completion and continue-as-new flush everything. Keys stay final
    because only recorded activity inputs, or entries of completed workflow tasks (flush),
    write them. The price: the log of the engine's own
    steps runs up to the lag behind, and a run terminated inside that window (an operator's act
    outside exitgate) leaves them only in Temporal's history; they can be recomputed
    (evaluations are reproducible).
    """

    def __init__(self, pending: list[QueuedAuditEntry], seq: int, lag_us: int = 0):
        self.pending = pending
        self.seq = seq
        self.lag_us = lag_us  # 0: written after every step
        self.due: int | None = None  # when the queued entries are written at the latest
        # Final entries by a local activity (the phase's patch `gate-round-2`, see flush).
        self.local_when_final = False
        # The history length when each pending entry was queued; entries carried over from
        # an earlier run were queued in a workflow task long completed (0).
        self.queued_at: list[int] = [0] * len(pending)

    def add(self, kind: str, actor: str, **payload: Any) -> None:
        self.seq += 1
        info = workflow.info()
        key = f"{info.workflow_id}/{info.first_execution_run_id}/{self.seq}"
        payload.setdefault("at", now_text())
        self.pending.append(QueuedAuditEntry(key=key, kind=kind, actor=actor, payload=payload))
        self.queued_at.append(info.get_current_history_length())

    async def flush(self) -> None:
        """Write the queued entries, in order. An entry queued in a workflow task that has
        completed is final: its task is in history, so every replay and every retry of a later
        task queues it again with the same key and content. A batch of final entries alone
        (`local_when_final`) goes by a local activity, in the workflow task that flushes: a
        retried write is dropped by its key, and no activity task makes the round trip through
        the server. A batch holding an entry of the task in progress goes by an activity, whose
        recorded input is what makes those final (a retried task could queue them otherwise:
        another instant, another evaluation)."""
        while self.pending:
            batch = self.pending[:AUDIT_BATCH]
            if self.local_when_final and max(self.queued_at[: len(batch)]) < workflow.info().get_current_history_length():
                await workflow.execute_local_activity(
                    "audit_append", AuditBatch(entries=batch), result_type=int,
                    start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY)
            else:
                await workflow.execute_activity(
                    "audit_append", AuditBatch(entries=batch), result_type=int,
                    start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY)
            del self.pending[: len(batch)]
            del self.queued_at[: len(batch)]

    async def flush_when_due(self, now: int) -> None:
        """Write the queued entries now, or (group commit) once they are due."""
        if not self.lag_us:
            await self.flush()
            return
        if not self.pending:
            self.due = None
            return
        if self.due is None:
            self.due = now + self.lag_us
        if now >= self.due or self._has_decision():
            await self.flush()
            self.due = None

    def unscheduled(self) -> bool:
        """Entries queued that no flush is planned for yet: the loop must wake to plan one."""
        if not self.lag_us:
            return bool(self.pending)
        return bool(self.pending) and (self.due is None or self._has_decision())

    def _has_decision(self) -> bool:
        return any(e.kind in PEOPLES_DECISIONS for e in self.pending)
