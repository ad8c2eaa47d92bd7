"""Asking the workflows: their status queries, their updates, and their refusals as `Refused`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from schemas import messages as m
from schemas.ids import mission_workflow_id, phase_workflow_id

from .errors import Refused, Unavailable

__all__ = ["QUERY_TIMEOUT", "Gone", "PhaseRead", "mission_status", "phase_read", "query_status", "update"]

# A status query is answered by a worker in milliseconds; longer means none is answering.
QUERY_TIMEOUT = timedelta(seconds=5)

T = TypeVar("T")


class Gone(Exception):
    """The workflow asked has no running run (never started, or closed since)."""


class PhaseRead:
    """A phase as its workflow reports it: live (running) or its result (complete)."""

    def __init__(self, status: m.PhaseStatus, running: bool):
        self.status = status
        self.running = running


def _refusal(exc: BaseException) -> Refused | None:
    cause: BaseException | None = exc.cause if isinstance(exc, (WorkflowUpdateFailedError,
                                                                WorkflowFailureError)) else exc
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.__cause__
    if not isinstance(cause, ApplicationError) or cause.type is None:
        return None
    if cause.type == "InvalidInput":  # "<field>: <reason>" (lifecycle.InvalidInput)
        return Refused("InvalidInput", cause.message, cause.message.split(":", 1)[0])
    return Refused(cause.type, cause.message)


async def update(client: Client, workflow_id: str, name: str, arg: Any, result_type: type[T]) -> T:
    """Run an update; a validator's refusal is raised as `Refused`, a closed workflow as `Gone`."""
    try:
        result: T = await client.get_workflow_handle(workflow_id).execute_update(name, arg, result_type=result_type)
        return result
    except WorkflowUpdateFailedError as exc:
        refusal = _refusal(exc)
        if refusal is None:
            raise
        raise refusal from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise Gone(workflow_id) from None
        raise


async def query_status(handle: Any, result_type: type[T]) -> T:
    """A workflow's `status` query, or Unavailable naming what did not answer."""
    try:
        result: T = await handle.query("status", result_type=result_type, rpc_timeout=QUERY_TIMEOUT)
        return result
    except RPCError as exc:
        if exc.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            raise Unavailable(f"workflow {handle.id} did not answer its status query within "
                              f"{QUERY_TIMEOUT.total_seconds():.0f} s: is an exitgate worker running?") from None
        if exc.status == RPCStatusCode.UNAVAILABLE:
            raise Unavailable(f"Temporal is unreachable: {exc.message}") from None
        raise


async def mission_status(client: Client, mission: str) -> m.MissionStatus | None:
    try:
        return await query_status(client.get_workflow_handle(mission_workflow_id(mission)), m.MissionStatus)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def phase_read(client: Client, mission: str, phase: str) -> PhaseRead | None:
    """The phase's current run: its live state, or its result once complete; None when it has
    no run or its run ended without completing (the mission records why)."""
    handle = client.get_workflow_handle(phase_workflow_id(mission, phase), result_type=m.PhaseResult)
    try:
        desc = await handle.describe()
        if desc.status == WorkflowExecutionStatus.COMPLETED:
            # The run described, not the id's latest: a reopen may start the next run between
            # the two calls, and result() without a run id then found no completion event
            # (RuntimeError, seen in rehearsals reading status right after a reopen).
            done = client.get_workflow_handle(desc.id, run_id=desc.run_id, result_type=m.PhaseResult)
            res: m.PhaseResult = await done.result(follow_runs=False)
            return PhaseRead(m.PhaseStatus(
                mission=mission, phase=phase, plan_sha256=res.plan_sha256, generation=res.generation,
                paused=False, complete=True, started_by="", reopened_by=None, gates=res.gates,
                signals_total=0, updates_total=0, evaluations_total=0, runs=0), running=False)
        if desc.status != WorkflowExecutionStatus.RUNNING:
            return None
        st = await query_status(handle, m.PhaseStatus)
        return PhaseRead(st, running=True)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
