"""The gates port backed by Temporal and the store: what runs in production and in `exitgate dev`.

State lives in the workflows (Temporal is the source of truth for approvals, waivers and gate
states); evidence and plans live in the store. Reading a gate = the phase workflow's `status`
query + the evaluation re-computed from the store as of the instant the workflow evaluated, so
the explanation shown is the one whose digest an approver signs. Acting = a Temporal update;
its validator's refusal comes back as an `ApplicationError` whose `type` we map to 403 (who
you are) or 409 (the gate's state).
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from rules.evaluate import Waiver
from rules.plan import LoadedPlan
from schemas import messages as m
from schemas.timefmt import format_timestamp, parse_timestamp
from store import Store, now_us
from store.queries import explain_gate
from workflows.common import mission_workflow_id, phase_workflow_id

from .ports import (
    ApprovalView,
    ApproveInput,
    AwaitingGate,
    EvidenceBrief,
    GateView,
    MigrateInput,
    MissionStatus,
    NotFoundError,
    PhaseStatus,
    PlanLoaded,
    RefusedError,
    RejectInput,
    ReopenInput,
    RevokeInput,
    StartInput,
    WaiveInput,
    WaiverView,
)

__all__ = ["FORBIDDEN_TYPES", "TemporalGatesPort"]

# Validator refusals about the person (answered 403); every other refusal is about the gate's
# state or the digest (409).
FORBIDDEN_TYPES = frozenset({"RoleNotAllowed", "SeparationOfDuties"})


def _refusal(exc: BaseException) -> RefusedError | None:
    cause: BaseException | None = exc.cause if isinstance(exc, (WorkflowUpdateFailedError, WorkflowFailureError)) else exc
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.__cause__
    if isinstance(cause, ApplicationError):
        return RefusedError(cause.message, forbidden=cause.type in FORBIDDEN_TYPES)
    return None


class TemporalGatesPort:
    def __init__(self, client: Client, store: Store, task_queue: str = "exitgate",
                 search_attributes: bool = True):
        self.client = client
        self.store = store
        self.task_queue = task_queue
        self.search_attributes = search_attributes

    # -- plans and missions ------------------------------------------------------------------

    async def _plan(self, mission: str) -> LoadedPlan:
        plan = await asyncio.to_thread(self.store.plan_for_mission, mission)
        if plan is None:
            raise NotFoundError(f"unknown mission {mission!r}: load its plan first")
        return plan

    async def _mission_status(self, mission: str) -> m.MissionStatus | None:
        handle = self.client.get_workflow_handle(mission_workflow_id(mission))
        try:
            status: m.MissionStatus = await handle.query("status", result_type=m.MissionStatus)
            return status
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    async def load_plan(self, plan: LoadedPlan, actor: str) -> PlanLoaded:
        running = await self._mission_status(plan.mission_id)
        registered = running is None or running.plan_sha256 == plan.sha256
        if registered:
            await asyncio.to_thread(self.store.register_mission, plan, actor)
        else:
            await asyncio.to_thread(self.store.save_plan, plan)
        await asyncio.to_thread(self.store.audit_append, "plan_loaded", {
            "mission": plan.mission_id, "plan": plan.id, "version": plan.model.version,
            "sha256": plan.sha256, "registered": registered}, actor)
        return PlanLoaded(plan=plan.id, version=plan.model.version, mission=plan.mission_id,
                          sha256=plan.sha256, registered=registered,
                          running_plan_sha256=running.plan_sha256 if running else None)

    async def start_mission(self, mission: str, inp: StartInput) -> MissionStatus:
        plan = await self._plan(mission)
        if inp.role not in plan.model.coordinators:
            raise RefusedError(f"role {inp.role!r} may not start the exit; coordinator roles: "
                               + ", ".join(plan.model.coordinators), forbidden=True)
        _holds(inp)
        try:
            await self.client.start_workflow(
                "Mission", m.MissionInput(plan_sha256=plan.sha256, person=inp.person, role=inp.role,
                                          search_attributes=self.search_attributes),
                id=mission_workflow_id(mission), task_queue=self.task_queue,
                # A completed exit is not run twice; one that failed or was terminated may be.
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY)
        except WorkflowAlreadyStartedError:
            raise RefusedError(f"mission {mission!r}: the exit has already been started") from None
        await asyncio.to_thread(self.store.register_mission, plan, inp.person)
        return await self.status(mission)

    async def reopen(self, mission: str, phase: str, inp: ReopenInput) -> MissionStatus:
        await self._plan(mission)
        _holds(inp)
        handle = self.client.get_workflow_handle(mission_workflow_id(mission))
        await self._update(handle, "reopen", m.ReopenInput(person=inp.person, role=inp.role, phase=phase,
                                                           reason=inp.reason), m.MissionStatus,
                           f"mission {mission!r} has not been started")
        return await self.status(mission)

    async def migrate(self, mission: str, inp: MigrateInput) -> MissionStatus:
        await self._plan(mission)
        _holds(inp)
        try:
            new = await asyncio.to_thread(self.store.load_plan, inp.plan_sha256)
        except LookupError:
            raise NotFoundError(f"no loaded plan with sha256 {inp.plan_sha256}: load it first") from None
        if new.mission_id != mission:
            raise RefusedError(f"plan {inp.plan_sha256} is for mission {new.mission_id!r}, not {mission!r}")
        handle = self.client.get_workflow_handle(mission_workflow_id(mission))
        await self._update(handle, "migrate", m.MigrateInput(person=inp.person, role=inp.role,
                                                             plan_sha256=inp.plan_sha256), m.MissionStatus,
                           f"mission {mission!r} has not been started")
        # Evidence is validated against the plan the mission runs on from now.
        await asyncio.to_thread(self.store.register_mission, new, inp.person)
        return await self.status(mission)

    # -- reading -----------------------------------------------------------------------------

    async def _phase(self, mission: str, phase: str) -> m.PhaseStatus | None:
        """The phase's current run: its live state, or its result once complete."""
        handle = self.client.get_workflow_handle(phase_workflow_id(mission, phase), result_type=m.PhaseResult)
        try:
            desc = await handle.describe()
            if desc.status == WorkflowExecutionStatus.COMPLETED:
                res: m.PhaseResult = await handle.result()
                return m.PhaseStatus(mission=mission, phase=phase, plan_sha256=res.plan_sha256,
                                     generation=res.generation, paused=False, complete=True,
                                     started_by="", reopened_by=None, gates=res.gates,
                                     signals_total=0, updates_total=0, evaluations_total=0, runs=0)
            st: m.PhaseStatus = await handle.query("status", result_type=m.PhaseStatus)
            return st
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    async def _gate_view(self, plan: LoadedPlan, gate: str, phase_state: m.PhaseStatus | None) -> GateView:
        ref = plan.gates[gate]
        rule = ref.gate.approval
        now = format_timestamp(now_us())
        base: dict[str, Any] = dict(
            mission=plan.mission_id, phase=ref.phase.id, gate=gate, name=ref.gate.name,
            roles=list(rule.roles), quorum=rule.quorum, waiver_roles=list(rule.waiver_roles or ()), as_of=now)
        st = next((g for g in phase_state.gates if g.gate == gate), None) if phase_state else None
        if st is None:
            return GateView(state="not_started", **base)
        state: str = st.state
        if phase_state is not None and phase_state.paused and state != "approved":
            state = "paused"
        evaluation = None
        evidence: dict[str, EvidenceBrief] = {}
        if st.evaluated_at is not None:
            evaluation, evidence = await asyncio.to_thread(self._evaluation, plan, gate, st)
        return GateView(
            state=state, evaluation=evaluation, rejected_digest=st.rejected_digest, evidence=evidence,
            approvals=[ApprovalView(person=a.person, role=a.role, digest=a.digest, comment=a.comment, at=a.at)
                       for a in st.approvals],
            waivers=[WaiverView(benchmark=w.benchmark, by=w.by, justification=w.justification, until=w.until)
                     for w in st.waivers],
            **base)

    def _evaluation(self, plan: LoadedPlan, gate: str,
                    st: m.GateState) -> tuple[dict[str, Any], dict[str, EvidenceBrief]]:
        assert st.evaluated_at is not None
        as_of = parse_timestamp(st.evaluated_at)
        waivers = [Waiver(w.benchmark, w.by, w.justification, parse_timestamp(w.until) if w.until else None)
                   for w in st.waivers]
        ev, records = explain_gate(self.store, plan, gate, as_of, waivers)
        ev["as_of"] = st.evaluated_at
        if ev["digest"] != st.digest:
            # Only a backfill known before that instant can change an evaluation after the fact;
            # say so rather than show an explanation whose digest nobody can approve.
            ev["note"] = (f"re-evaluated digest {ev['digest']} differs from the workflow's {st.digest}: "
                          "evidence was backfilled since; the workflow re-evaluates on its next update")
            ev["digest"] = st.digest
        briefs = {rid: EvidenceBrief(value=r.value, observed_at=format_timestamp(r.observed_at), source=r.source)
                  for rid, r in records.items()}
        return ev, briefs

    async def status(self, mission: str) -> MissionStatus:
        plan = await self._plan(mission)
        ms = await self._mission_status(mission)
        records = {p.id: p for p in ms.phases} if ms else {}
        phases = []
        for ph in plan.model.phases:
            rec = records.get(ph.id)
            pst = await self._phase(mission, ph.id) if rec is not None and rec.state != "pending" else None
            views = [await self._gate_view(plan, g.id, pst) for g in ph.gates]
            if rec is None or rec.state == "pending":
                state = "not_started"
            elif rec.state == "running" and rec.paused:
                state = "paused"
            else:
                state = rec.state
            phases.append(PhaseStatus(phase=ph.id, name=ph.name, state=state, gates=views,
                                      failure=rec.failure if rec is not None else None))
        return MissionStatus(mission=mission, plan=plan.id, plan_sha256=ms.plan_sha256 if ms else plan.sha256,
                             as_of=format_timestamp(now_us()), phases=phases)

    async def gate(self, mission: str, gate: str) -> GateView:
        plan = await self._plan(mission)
        ref = plan.gates.get(gate)
        if ref is None:
            raise NotFoundError(f"mission {mission!r} has no gate {gate!r}")
        pst = await self._phase(mission, ref.phase.id)
        return await self._gate_view(plan, gate, pst)

    async def gates_awaiting(self, person: str, roles: frozenset[str]) -> list[AwaitingGate]:
        query = (f"WorkflowType = 'Phase' AND ExecutionStatus = 'Running' AND "
                 f"{m.SA_GATE_STATES} = 'awaiting_approval'")
        out = []
        async for wf in self.client.list_workflows(query):
            st: m.PhaseStatus = await self.client.get_workflow_handle(wf.id, run_id=wf.run_id).query(
                "status", result_type=m.PhaseStatus)
            if st.paused or person in (st.started_by, st.reopened_by):
                continue
            plan = await asyncio.to_thread(self.store.plan_for_mission, st.mission)
            if plan is None:
                continue
            for g in st.gates:
                ref = plan.gates.get(g.gate)
                if ref is None or g.state != "awaiting_approval" or g.digest is None:
                    continue
                mine = [r for r in ref.gate.approval.roles if r in roles]
                if not mine or any(a.person == person for a in g.approvals):
                    continue
                out.append(AwaitingGate(mission=st.mission, phase=st.phase, gate=g.gate, name=ref.gate.name,
                                        digest=g.digest, approvals=len(g.approvals),
                                        quorum=ref.gate.approval.quorum, roles=mine))
        return sorted(out, key=lambda a: (a.mission, a.phase, a.gate))

    # -- acting ------------------------------------------------------------------------------

    async def _update(self, handle: WorkflowHandle[Any, Any], name: str, arg: Any, result_type: type,
                      gone: str) -> Any:
        try:
            return await handle.execute_update(name, arg, result_type=result_type)
        except WorkflowUpdateFailedError as exc:
            refusal = _refusal(exc)
            if refusal is None:
                raise
            raise refusal from None
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise RefusedError(gone) from None
            raise

    async def _phase_update(self, mission: str, gate: str, name: str, arg: Any) -> GateView:
        plan = await self._plan(mission)
        ref = plan.gates.get(gate)
        if ref is None:
            raise NotFoundError(f"mission {mission!r} has no gate {gate!r}")
        handle = self.client.get_workflow_handle(phase_workflow_id(mission, ref.phase.id))
        pst = await self._phase(mission, ref.phase.id)
        if pst is None or pst.complete:
            state = "approved" if pst is not None else "not started (its phase has not started)"
            raise RefusedError(f"gate {gate!r} is {state}, not awaiting approval")
        await self._update(handle, name, arg, m.GateState, f"gate {gate!r}: its phase is not running")
        return await self.gate(mission, gate)

    async def approve(self, mission: str, gate: str, inp: ApproveInput) -> GateView:
        _holds(inp)
        return await self._phase_update(mission, gate, "approve", m.ApproveInput(
            person=inp.person, role=inp.role, gate=gate, digest=inp.digest, comment=inp.comment))

    async def reject(self, mission: str, gate: str, inp: RejectInput) -> GateView:
        _holds(inp)
        return await self._phase_update(mission, gate, "reject", m.RejectInput(
            person=inp.person, role=inp.role, gate=gate, digest=inp.digest, reason=inp.reason))

    async def waive(self, mission: str, gate: str, inp: WaiveInput) -> GateView:
        _holds(inp)
        return await self._phase_update(mission, gate, "waive", m.WaiveInput(
            person=inp.person, role=inp.role, gate=gate, benchmark=inp.benchmark,
            justification=inp.justification, until=inp.until))

    async def revoke_waiver(self, mission: str, gate: str, inp: RevokeInput) -> GateView:
        _holds(inp)
        return await self._phase_update(mission, gate, "revoke_waiver", m.RevokeWaiverInput(
            person=inp.person, role=inp.role, gate=gate, benchmark=inp.benchmark, reason=inp.reason))


def _holds(inp: Any) -> None:
    """The workflows check a role against the gate; only the key knows who holds it."""
    if inp.role not in inp.held_roles:
        raise RefusedError(f"{inp.person} does not hold role {inp.role!r}", forbidden=True)
