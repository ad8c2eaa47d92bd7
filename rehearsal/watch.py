"""Reading the workflows of one rehearsal: whether they have work in hand, and their gates.

A rehearsal moves on only when nothing is in hand (no workflow task, activity, or signal,
cancel or child start one workflow asked of another pending on any of its workflows, and no
evidence change waiting in the store's outbox): that is what "every gate the evidence touches
has been evaluated" means on the server. The time-skipping test server never fills
`pending_workflow_task` in its describe answer, so what a run holds is read from its history
(`in_hand`). (Trusting describe alone, a rehearsal skipped days while a phase's task was in
flight, and that task's commands never reached the history.) A closed phase's gates are read
from its last history event rather than `handle.result()`, whose long poll the time-skipping
server sometimes never answers on a run that continued as new (see
tests/workflows/helpers.py, closed_result).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from schemas import messages as m
from service.temporal import query_status
from store import Store

__all__ = ["Stuck", "TaskLost", "Watch", "history_in_hand", "in_hand"]

# Real seconds a workflow may keep work in hand before the rehearsal says what it is.
QUIET_PATIENCE_S = 60.0
T = EventType
TASK_IN_HAND = frozenset({T.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, T.EVENT_TYPE_WORKFLOW_TASK_STARTED})
TASK_EVENTS = TASK_IN_HAND | {T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, T.EVENT_TYPE_WORKFLOW_TASK_FAILED,
                              T.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT}
# What a workflow asked of another, by the event that asked (and the workflow it asked): in
# hand until an event naming it as its initiated_event_id says it was done or refused.
ASKED: dict[int, Callable[[HistoryEvent], str]] = {
    T.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: lambda e:
        "a signal to " + e.signal_external_workflow_execution_initiated_event_attributes.workflow_execution.workflow_id,
    T.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: lambda e: "a cancel of "
        + e.request_cancel_external_workflow_execution_initiated_event_attributes.workflow_execution.workflow_id,
    T.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: lambda e:
        "a start of " + e.start_child_workflow_execution_initiated_event_attributes.workflow_id,
}
ANSWERED = {
    T.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED: "external_workflow_execution_signaled_event_attributes",
    T.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED: "signal_external_workflow_execution_failed_event_attributes",
    T.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
        "external_workflow_execution_cancel_requested_event_attributes",
    T.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED:
        "request_cancel_external_workflow_execution_failed_event_attributes",
    T.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED: "child_workflow_execution_started_event_attributes",
    T.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED: "start_child_workflow_execution_failed_event_attributes",
}


def in_hand(events: Sequence[HistoryEvent]) -> list[str]:
    """What a run's history shows in hand: a workflow task scheduled or started (its latest
    workflow task event; not its last event, since a signal, a fired timer or an activity's
    result that arrives while a task is scheduled is written after it), and every signal,
    cancel or child start it asked for that the server has not yet carried out. (Between the
    sender's task completing and the signal reaching its target, neither looks busy otherwise.)"""
    out: list[str] = []
    last_task = next((e.event_type for e in reversed(events) if e.event_type in TASK_EVENTS), None)
    if last_task in TASK_IN_HAND:
        out.append("a workflow task")
    asked: dict[int, str] = {}
    for e in events:
        if e.event_type in ASKED:
            asked[e.event_id] = ASKED[e.event_type](e)
        elif e.event_type in ANSWERED:
            asked.pop(getattr(e, ANSWERED[e.event_type]).initiated_event_id, None)
    return out + list(asked.values())


async def history_in_hand(client: Client, wid: str, run_id: str = "") -> tuple[list[str], int]:
    """What a run has in hand by its history (`in_hand`), and the history's length. The
    time-skipping test server never fills `pending_workflow_task` in describe."""
    events = (await client.get_workflow_handle(wid, run_id=run_id or None).fetch_history()).events
    return in_hand(events), len(events)


class Stuck(RuntimeError):
    """Work that never finished: a diagnosis, not a hang."""


class TaskLost(Stuck):
    """A workflow task the test server will never complete nor time out (`Watch.lost_tasks`)."""


# A started workflow task the server has neither completed nor timed out this many times its
# own timeout after it started is lost for good (see `Watch.lost_tasks`).
LOST_AFTER_TIMEOUTS = 2
# Real seconds of work in hand after which quiet() asks whether a task was lost.
LOST_CHECK_S = 25.0


class Watch:
    def __init__(self, client: Client, store: Store, mission: str, workflow_ids: Iterable[str],
                 server_now: Callable[[], Awaitable[datetime]] | None = None):
        self.client = client
        self.server_now = server_now
        self.store = store
        self.mission = mission
        self.ids = list(workflow_ids)
        # (run id, history length) -> what its history shows in hand: the history is read
        # again only when it grew.
        self._seen: dict[str, tuple[str, int, list[str]]] = {}

    async def busy(self) -> list[str]:
        out: list[str] = []
        for wid in self.ids:
            try:
                d = await self.client.get_workflow_handle(wid).describe()
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    continue
                raise
            if d.status != WorkflowExecutionStatus.RUNNING:
                continue
            raw = d.raw_description
            work = await self._in_hand(wid, d.run_id or "", raw.workflow_execution_info.history_length)
            if raw.HasField("pending_workflow_task") and "a workflow task" not in work:
                work.append("a workflow task")
            work += [f"activity {a.activity_type.name} (attempt {a.attempt})" for a in raw.pending_activities]
            if work:
                out.append(f"{wid}: " + ", ".join(work))
        if await asyncio.to_thread(self.store.pending_changes, self.mission, 1):
            out.append("evidence changes not yet relayed to the phases")
        return out

    async def _in_hand(self, wid: str, run_id: str, length: int) -> list[str]:
        seen = self._seen.get(wid)
        if seen is not None and seen[:2] == (run_id, length):
            return list(seen[2])
        work, read = await history_in_hand(self.client, wid, run_id)
        self._seen[wid] = (run_id, read, work)
        return list(work)

    async def lost_tasks(self, server_now: datetime) -> list[str]:
        """The workflows whose last event is a workflow task started long past its timeout.

        The time-skipping test server loses such a task: seen when a durable timer fires while
        the task that cancels it (a phase woken by a signal cancels its deadline timer) is in
        flight. The server removes the fired timer at once but holds its TimerFired event back
        until the task completes, so the completion's CancelTimer names a timer it no longer
        knows and is refused, and the task's timeout never recorded either: the run keeps a
        started task forever (the real server drops the held-back event instead)."""
        out: list[str] = []
        for wid in self.ids:
            handle = self.client.get_workflow_handle(wid)
            try:
                if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                    continue
                events = (await handle.fetch_history()).events
            except RPCError:
                continue
            last = events[-1] if events else None
            if last is None or last.event_type != T.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                continue
            sched_id = last.workflow_task_started_event_attributes.scheduled_event_id
            sched = next((e for e in reversed(events) if e.event_id == sched_id), None)
            if sched is None:
                continue
            timeout = sched.workflow_task_scheduled_event_attributes.start_to_close_timeout.ToTimedelta()
            started = last.event_time.ToDatetime(tzinfo=UTC)
            if server_now - started > LOST_AFTER_TIMEOUTS * timeout:
                out.append(f"{wid}: workflow task started at {started.isoformat()} (timeout {timeout}) "
                           f"neither completed nor timed out")
        return out

    async def quiet(self) -> None:
        """Return once nothing is in hand, twice in a row (a signal between two workflows is
        in flight for a moment after the sender's task completed)."""
        start = time.monotonic()
        deadline = start + QUIET_PATIENCE_S
        calm = 0
        checked = False
        while True:
            busy = await self.busy()
            calm = 0 if busy else calm + 1
            if calm >= 2:
                return
            if not checked and self.server_now is not None and time.monotonic() > start + LOST_CHECK_S:
                checked = True
                lost = await self.lost_tasks(await self.server_now())
                if lost:
                    raise TaskLost("\n  ".join(lost))
            if time.monotonic() > deadline:
                raise Stuck(f"work still in hand after {QUIET_PATIENCE_S:.0f} s:\n  " + "\n  ".join(busy))
            await asyncio.sleep(0.003)

    async def phase_gates(self, wid: str) -> tuple[str, dict[str, m.GateState], bool]:
        """(run status, its gates by id, paused) of a phase's latest run: live while it runs,
        its result once complete, nothing for a run that ended otherwise."""
        handle = self.client.get_workflow_handle(wid)
        try:
            d = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return "none", {}, False
            raise
        if d.status == WorkflowExecutionStatus.RUNNING:
            st = await query_status(handle, m.PhaseStatus)
            return "running", {g.gate: g for g in st.gates}, st.paused
        if d.status == WorkflowExecutionStatus.COMPLETED:
            last = (await handle.fetch_history()).events[-1]
            payloads = last.workflow_execution_completed_event_attributes.result.payloads
            [res] = await self.client.data_converter.decode(payloads, [m.PhaseResult])
            return "complete", {g.gate: g for g in res.gates}, False
        return "closed", {}, False
