"""Reading the workflows of one rehearsal: whether they have work in hand, and their gates.

A rehearsal moves on only when nothing is in hand (no workflow task or activity pending on any
of its workflows, and no evidence change waiting in the store's outbox): that is what "every
gate the evidence touches has been evaluated" means on the server. The time-skipping test
server never fills `pending_workflow_task` in its describe answer, so a workflow task in hand
is read from the history instead (`in_hand`). (Trusting describe alone, a
rehearsal skipped days while a phase's task was in flight, and that task's commands never
reached the history.) A closed phase's gates are read from its last history event rather than
`handle.result()`, whose long poll the time-skipping server sometimes never answers on a run
that continued as new (see tests/workflows/helpers.py, closed_result).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from schemas import messages as m
from service.temporal import query_status
from store import Store

__all__ = ["Stuck", "Watch", "history_in_hand", "in_hand"]

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


class Watch:
    def __init__(self, client: Client, store: Store, mission: str, workflow_ids: Iterable[str]):
        self.client = client
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

    async def quiet(self) -> None:
        """Return once nothing is in hand, twice in a row (a signal between two workflows is
        in flight for a moment after the sender's task completed)."""
        deadline = time.monotonic() + QUIET_PATIENCE_S
        calm = 0
        while True:
            busy = await self.busy()
            calm = 0 if busy else calm + 1
            if calm >= 2:
                return
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
