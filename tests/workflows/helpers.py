"""Small plans, evidence the test controls, and ways to drive and watch workflows."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from activities import MemoryBackend, plan_spec
from rehearsal.watch import history_in_hand
from rules.plan import LoadedPlan, load_plan
from schemas.messages import (
    ApproveInput,
    GateState,
    Limits,
    MissionInput,
    MissionResult,
    MissionStatus,
    PhaseInput,
    PhaseResult,
    PhaseStatus,
)
from schemas.register import Register
from schemas.timefmt import DAY, format_timestamp
from workflows import mission_workflow_id, phase_workflow_id

HISTORIES = Path(__file__).parent / "histories"
RECORD = os.environ.get("EXITGATE_RECORD_HISTORIES") == "1"
T0 = 1_577_836_800_000_000  # 2020-01-01: evidence lies well before the test server's clock


def gate(gid: str, indicator: str = "ind.a", threshold: float = 5, *, roles: list[str] | None = None,
         quorum: int = 1, distinct_roles: bool = False, required_roles: list[str] | None = None,
         waiver_roles: list[str] | None = None, timers: dict[str, str] | None = None,
         extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"benchmark": {"id": f"{gid}.low", "indicator": indicator, "aggregate": "latest",
                                          "op": "<=", "threshold": threshold}}
    if extra:
        rule = {"all": [rule, *extra]}
    approval: dict[str, Any] = {"roles": roles or ["head", "host", "deputy"], "quorum": quorum,
                                "distinct_roles": distinct_roles}
    if required_roles:
        approval["required_roles"] = required_roles
    if waiver_roles:
        approval["waiver_roles"] = waiver_roles
    g: dict[str, Any] = {"id": gid, "name": f"gate {gid}", "rule": rule, "approval": approval}
    if timers:
        g["timers"] = timers
    return g


def plan_doc(phases: list[dict[str, Any]], mission: str = "m1", version: str = "1") -> dict[str, Any]:
    return {
        "plan": "test-exit", "version": version, "mission": {"id": mission, "name": "Test mission"},
        "coordinator_roles": ["coordinator"],
        "indicators": [{"id": i, "name": i, "kind": "number"} for i in ("ind.a", "ind.b", "ind.c")],
        "phases": phases,
    }


def phase(pid: str, gates: list[dict[str, Any]], depends_on: list[str] | None = None) -> dict[str, Any]:
    return {"id": pid, "name": f"phase {pid}", "depends_on": depends_on or [], "gates": gates}


@dataclass
class Rig:
    env: WorkflowEnvironment
    client: Client
    backend: MemoryBackend
    queue: str
    seq: int = field(default=0)
    started: list[str] = field(default_factory=list)

    async def terminate_leftovers(self) -> None:
        """A workflow left running with work pending would stop the server skipping time for
        every later test (its worker is gone), so each test ends with none."""
        ids = list(self.started)
        for plan in self.backend.plans.values():
            ids += [phase_workflow_id(plan.mission_id, p) for p in plan.phases]
        for wid in ids:
            with contextlib.suppress(RPCError):  # already closed or never started
                await self.client.get_workflow_handle(wid).terminate("test over")

    def load(self, doc: dict[str, Any]) -> LoadedPlan:
        plan = load_plan(doc)
        self.backend.add_plan(plan)
        return plan

    def evidence(self, mission: str, indicator: str, value: float, day: int, rid: str | None = None) -> str:
        """A backfilled point observed (and known) `day` days after 2020-01-01."""
        self.seq += 1
        rid = rid or f"r{self.seq}"
        out = self.backend.add_evidence(mission, {
            "id": rid, "mission": mission, "indicator": indicator, "value": value,
            "observed_at": format_timestamp(T0 + day * DAY), "reported_at": format_timestamp(T0 + day * DAY),
            "source": "test"})
        assert out.status == "stored", out.message
        return rid

    async def start_phase(self, plan: LoadedPlan, pid: str, *, started_by: str = "starter",
                          limits: Limits | None = None, wid: str | None = None,
                          register: Register | None = None) -> WorkflowHandle[Any, Any]:
        spec = next(p for p in plan_spec(plan).phases if p.id == pid)
        inp = PhaseInput(mission=plan.mission_id, plan_sha256=plan.sha256, phase=spec,
                         started_by=started_by, limits=limits or Limits(), role_register=register)
        wid = wid or f"{phase_workflow_id(plan.mission_id, pid)}/{uuid.uuid4()}"
        self.started.append(wid)
        return await self.client.start_workflow(
            "Phase", inp, id=wid,
            task_queue=self.queue, result_type=PhaseResult)

    async def start_mission(self, plan: LoadedPlan, person: str = "cora",
                            register: Register | None = None) -> WorkflowHandle[Any, Any]:
        inp = MissionInput(plan_sha256=plan.sha256, person=person, role="coordinator", role_register=register)
        wid = f"{mission_workflow_id(plan.mission_id)}/{uuid.uuid4()}"
        self.started.append(wid)
        return await self.client.start_workflow(
            "Mission", inp, id=wid, task_queue=self.queue,
            result_type=MissionResult)


async def phase_status(handle: WorkflowHandle[Any, Any]) -> PhaseStatus:
    return await handle.query("status", result_type=PhaseStatus, rpc_timeout=timedelta(seconds=2))


async def mission_status(handle: WorkflowHandle[Any, Any]) -> MissionStatus:
    return await handle.query("status", result_type=MissionStatus)


async def wait_phase(handle: WorkflowHandle[Any, Any], pred: Callable[[PhaseStatus], bool],
                     what: str = "condition", timeout_s: float = 10.0) -> PhaseStatus:
    st: PhaseStatus | None = None
    for _ in range(int(timeout_s / 0.025)):
        try:
            st = await phase_status(handle)
        except RPCError as exc:
            # Not started yet (a mission starts it), asked while a run was closing in
            # continue-as-new, or the id's latest run is a terminated one that cannot answer
            # (FAILED_PRECONDITION) until the mission starts the next: keep waiting.
            if exc.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.DEADLINE_EXCEEDED,
                                  RPCStatusCode.CANCELLED,  # our rpc_timeout: a dead worker held it
                                  RPCStatusCode.FAILED_PRECONDITION):
                raise
        if st is not None and pred(st):
            return st
        await asyncio.sleep(0.025)
    assert st is not None, f"{handle.id} never started"
    raise AssertionError(f"timed out waiting for {what}; last status: {st.model_dump_json(indent=1)}")


async def wait_mission(handle: WorkflowHandle[Any, Any], pred: Callable[[MissionStatus], bool],
                       what: str = "condition") -> MissionStatus:
    st = await mission_status(handle)
    for _ in range(400):
        if pred(st):
            return st
        await asyncio.sleep(0.025)
        st = await mission_status(handle)
    raise AssertionError(f"timed out waiting for {what}; last status: {st.model_dump_json(indent=1)}")


async def closed_result(client: Client, handle: WorkflowHandle[Any, Any], result_type: type = PhaseResult,
                        timeout_s: float = 60.0) -> Any:
    """The result of a run chain that continued as new, read once its last run has closed.

    Why not `handle.result()`: it long-polls each run's history for its close event, and the
    time-skipping test server sometimes never answers that poll on a chain that continued as
    new. Seen here about one run in twenty: the last run's history ended in
    WorkflowExecutionCompleted, `describe()` said COMPLETED, and `result()` still waited on
    `GetWorkflowExecutionHistory(wait_new_event)`; the tests after it then found the server
    wedged. So: poll `describe()` (no long poll), then read the closed run's history once."""
    latest = client.get_workflow_handle(handle.id)
    status = None
    for _ in range(int(timeout_s / 0.05)):
        status = (await latest.describe()).status
        if status != WorkflowExecutionStatus.RUNNING:
            break
        await asyncio.sleep(0.05)
    events = (await latest.fetch_history()).events
    last = events[-1]
    if status != WorkflowExecutionStatus.COMPLETED or not last.HasField("workflow_execution_completed_event_attributes"):
        raise AssertionError(f"{handle.id} is {status}, not completed, after {timeout_s} s; "
                             f"last events: {[e.event_type for e in events][-20:]}")
    payloads = last.workflow_execution_completed_event_attributes.result.payloads
    [result] = await client.data_converter.decode(payloads, [result_type])
    return result


async def until_audited(rig: Rig, kind: str, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """The audit entries of `kind`, once the backend holds at least one."""
    for _ in range(int(timeout_s / 0.025)):
        found = [e for e in rig.backend.audit if e["kind"] == kind]
        if found:
            return found
        await asyncio.sleep(0.025)
    raise AssertionError(f"no {kind!r} audit entry after {timeout_s} s; kinds: {rig.backend.audit_kinds()}")


async def audited(rig: Rig, kind: str, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """The audit entries of `kind` once the phase's group commit has written them: skip past
    the lag (Limits.audit_lag_ms) on the server's clock, then wait for the flush activity."""
    await skip_time(rig.env, timedelta(milliseconds=Limits().audit_lag_ms + 1000))
    return await until_audited(rig, kind, timeout_s)


def audit_in_order(rig: Rig) -> list[str]:
    """The kinds of the audit entries written, having checked each was written once, in the
    order queued (their keys' sequence numbers run 1, 2, 3, ...)."""
    seqs = [int(e["key"].rsplit("/", 1)[1]) for e in rig.backend.audit]
    assert seqs == list(range(1, len(seqs) + 1)), seqs
    return rig.backend.audit_kinds()


def gate_of(st: PhaseStatus, gid: str) -> GateState:
    return next(g for g in st.gates if g.gate == gid)


async def awaiting(handle: WorkflowHandle[Any, Any], gid: str) -> GateState:
    st = await wait_phase(handle, lambda s: gate_of(s, gid).state == "awaiting_approval", f"{gid} awaiting")
    return gate_of(st, gid)


async def approve(handle: WorkflowHandle[Any, Any], gid: str, person: str, role: str,
                  digest: str | None) -> GateState:
    return await handle.execute_update(
        "approve", ApproveInput(gate=gid, person=person, role=role, digest=digest or "", comment="ok"),
        result_type=GateState)


async def save_history(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """Keep the history of a scenario for the replay test (EXITGATE_RECORD_HISTORIES=1)."""
    if not RECORD:
        return
    history = await handle.fetch_history()
    HISTORIES.mkdir(exist_ok=True)
    (HISTORIES / f"{name}.json").write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")


async def open_work(client: Client) -> list[str]:
    """What the test server is holding open: every running workflow with its pending workflow
    task and activities. Each of those holds the server's clock still (the server locks time
    skipping from when it schedules a task until the task completes), so this is what to read
    when a sleep on the server's clock does not return."""
    from temporalio.api.workflowservice.v1 import ListOpenWorkflowExecutionsRequest

    resp = await client.workflow_service.list_open_workflow_executions(
        ListOpenWorkflowExecutionsRequest(namespace=client.namespace, maximum_page_size=1000))
    out: list[str] = []
    for info in resp.executions:
        wid, run = info.execution.workflow_id, info.execution.run_id
        try:
            d = await client.get_workflow_handle(wid, run_id=run).describe()
        except RPCError as exc:
            out.append(f"{wid} ({run}): describe failed: {exc}")
            continue
        raw = d.raw_description
        acts = [f"{a.activity_type.name} attempt {a.attempt} state {a.state}" for a in raw.pending_activities]
        # The time-skipping server never fills pending_workflow_task: the history says.
        held, _ = await history_in_hand(client, wid, run)
        if raw.HasField("pending_workflow_task") and "a workflow task" not in held:
            held.append("a workflow task")
        out.append(f"{wid} ({d.workflow_type}, run {run}): in hand: {', '.join(held) or 'no workflow task'}; "
                   f"activities: {acts or 'none'}")
    return out


async def skip_time(env: WorkflowEnvironment, duration: timedelta, patience_s: float = 30) -> None:
    """Move the test server's clock on by `duration` and fail, saying what holds it, if it will not.

    The time-skipping server skips only while nothing holds its clock: every workflow task and
    activity it has scheduled holds it until completed (and the server has been seen to keep a
    hold after a test's workflows had all closed). Held, a skip of days runs in real time and
    the RPC times out with "Timeout expired" far from the cause; here the test that sleeps
    fails at once with the server's clock rate and its open work."""
    try:
        await asyncio.wait_for(env.sleep(duration), timeout=patience_s)
    except TimeoutError:
        t1 = await env.get_current_time()
        await asyncio.sleep(1)
        t2 = await env.get_current_time()
        held = [f"server clock moved {(t2 - t1).total_seconds():.3f} s in 1 s of real time"]
        raise AssertionError(f"the test server would not skip {duration}; its clock is held:\n  "
                             + "\n  ".join(held + await open_work(env.client))) from None
