"""The operations people and systems perform, over the store and a Temporal client.

State lives in the workflows (Temporal is the source of truth for votes, waivers and gate
states); evidence and plans live in the store. Acting on a gate whose phase runs is a Temporal
update: its validator decides (lifecycle.gate's checks) in the same step as the act. Acting on
a gate with no running workflow to ask (its phase not started, or complete) runs the same
checks here over the state the service can read, so a refusal is the same wherever it comes
from. Every refused act is audited here, once (`<act>.refused`); reads write nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from lifecycle import InvalidInput, Refusal, authority
from lifecycle import gate as lc
from rules.evidence import Outcome
from rules.plan import LoadedPlan
from rules.series import EvidenceIndex
from runtime import (
    TemporalSettings,
    connect,
    connect_patiently,
    relay_once,
    signal_evidence_changed,
)
from schemas import messages as m
from schemas.ids import mission_workflow_id, phase_workflow_id
from schemas.register import Register
from schemas.timefmt import format_timestamp
from store import Store, now_us
from store.spec import plan_spec

from .errors import Caller, Refused, refused_from
from .register import Roles, resolve_act
from .temporal import Gone, PhaseRead, mission_status, phase_read, query_status, update
from .views import AwaitingGate, GateView, MissionView, PhaseView, PlanLoaded, gate_view

__all__ = ["Service"]

T = TypeVar("T")

# How long an answer to a waiver or its revocation waits for the workflow's re-evaluation.
REEVALUATION_WAIT_S = 10.0
# How long an ingest keeps trying to tell the phases before leaving it to the workers' relay.
RELAY_PATIENCE_S = 5.0

log = logging.getLogger("exitgate.service")


class Service:
    def __init__(self, store: Store, client: Client, task_queue: str = "exitgate", search_attributes: bool = True,
                 clock: Callable[[], int] = now_us):
        self.store = store
        # What "now" is to the service (receipt of evidence, reads): the wall clock, except in a
        # rehearsal, whose clock is the scenario's.
        self.clock = clock
        self.client = client
        self.task_queue = task_queue
        self.search_attributes = search_attributes
        self.roles = Roles(self)  # the role register (service/register.py)

    @classmethod
    async def connect(cls, database_url: str | None = None, temporal: TemporalSettings | None = None,
                      *, patient: bool = False) -> Service:
        """From settings: EXITGATE_DATABASE_URL and the EXITGATE_TEMPORAL_* variables. patient:
        wait for a Temporal that does not answer yet (a server process), not fail at once (a command)."""
        t = temporal or TemporalSettings()
        client = await (connect_patiently(t) if patient else connect(t))
        store = await asyncio.to_thread(Store.from_url, database_url)
        return cls(store, client, t.task_queue)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.store.close)

    # -- the audit log ---------------------------------------------------------------------------

    async def audit(self, kind: str, payload: dict[str, Any], actor: str) -> None:
        await asyncio.to_thread(self.store.audit_append, kind, payload, actor)

    async def _act(self, kind: str, caller: Caller, details: dict[str, Any], op: Callable[[], Awaitable[T]]) -> T:
        """Run an act; a refusal is audited (nothing else is recorded) and raised. Malformed
        input is not a refusal and is not audited."""
        try:
            return await op()
        except (Refusal, InvalidInput) as exc:
            refusal = refused_from(exc)
        except Refused as exc:
            refusal = exc
        if refusal.type != "InvalidInput":
            await self.audit(f"{kind}.refused", {**details, "type": refusal.type, "reason": refusal.message},
                             caller.actor)
        raise refusal from None

    # -- plans and evidence ----------------------------------------------------------------------

    async def plan_for_mission(self, mission: str) -> LoadedPlan | None:
        return await asyncio.to_thread(self.store.plan_for_mission, mission)

    async def loaded_plan(self, mission: str, sha256: str) -> LoadedPlan:
        """A plan loaded for the mission (a version it may migrate to, or compare against)."""
        try:
            plan = await asyncio.to_thread(self.store.load_plan, sha256)
        except LookupError:
            raise Refused("UnknownPlan", f"no loaded plan with sha256 {sha256}: load it first") from None
        if plan.mission_id != mission:
            raise Refused("WrongMission", f"plan {sha256} is for mission {plan.mission_id!r}, not {mission!r}")
        return plan

    async def _plan(self, mission: str) -> LoadedPlan:
        plan = await self.plan_for_mission(mission)
        if plan is None:
            raise Refused("UnknownMission", f"unknown mission {mission!r}: load its plan first")
        return plan

    async def ingest(self, mission: str, raws: Sequence[Any], *, actor: str, backfill: bool = False) -> list[Outcome]:
        """Accept records in order (CONTRACT section 2; received now unless a backfill), one
        Outcome per raw. The store's outbox holds what changed; the relay tells the running
        phases at once (and, should Temporal be unreachable now, every worker's relay later)."""
        plan = await self._plan(mission)
        outcomes = await asyncio.to_thread(self.store.ingest, plan, list(raws), received_at=self.clock(),
                                           backfill=backfill, actor=actor)
        if self.client is not None and any(o.status == "stored" for o in outcomes):
            try:
                await relay_once(self.store, self.client, mission, patience_s=RELAY_PATIENCE_S)
            except (RPCError, RuntimeError, OSError) as exc:
                log.warning("evidence for %s stored; the workers' relay will tell its phases (%s)", mission, exc)
        return outcomes

    async def evidence_index(self, mission: str) -> EvidenceIndex:
        """Every record of the mission, whenever known (what the timeline backtests)."""
        await self._plan(mission)
        return await asyncio.to_thread(self.store.evidence_index, mission)

    async def tell_phases(self, plan: LoadedPlan, indicators: set[str]) -> list[str]:
        """Signal the phases that use these indicators; returns the phases that were told. A
        phase not started (or complete) has no workflow to tell and needs none. (For `evidence
        import`, which says whom it told; the outbox's relay delivers to them as well.)"""
        told: list[str] = []
        if self.client is None or not indicators:  # a store-only service (tests of the store) tells nobody
            return told
        for phase in plan.model.phases:
            changed = sorted(set().union(*(plan.gate_indicators(g.id) for g in phase.gates)) & indicators)
            if not changed:
                continue
            try:
                await signal_evidence_changed(self.client.get_workflow_handle(
                    phase_workflow_id(plan.mission_id, phase.id)), changed)
                told.append(phase.id)
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
        return told

    async def load_plan(self, plan: LoadedPlan, caller: Caller) -> PlanLoaded:
        """Store a plan; it becomes the mission's plan unless the mission's exit has started on
        another one (then a coordinator migrates the mission to it)."""
        async def op() -> PlanLoaded:
            coordinators = plan.model.coordinators
            if not caller.operator and not await self.roles.may_act_as(plan.mission_id, caller.name, coordinators,
                                                                       kind="coordinate"):
                raise Refused("RoleNotHeld", f"{caller.name} holds none of the plan's coordinator roles "
                                             f"({', '.join(coordinators)}) in mission {plan.mission_id!r}")
            running = await mission_status(self.client, plan.mission_id)
            registered = running is None or running.plan_sha256 == plan.sha256
            if registered:
                await asyncio.to_thread(self.store.register_mission, plan, caller.actor)
            else:
                await asyncio.to_thread(self.store.save_plan, plan)
            await self.audit("plan_loaded", {"mission": plan.mission_id, "plan": plan.id,
                                             "version": plan.model.version, "sha256": plan.sha256,
                                             "registered": registered}, caller.actor)
            return PlanLoaded(plan=plan.id, version=plan.model.version, mission=plan.mission_id,
                              sha256=plan.sha256, registered=registered,
                              running_plan_sha256=running.plan_sha256 if running else None)
        return await self._act("plan_load", caller, {"mission": plan.mission_id, "sha256": plan.sha256}, op)

    # -- the mission: start, reopen, migrate -----------------------------------------------------

    async def start_mission(self, mission: str, caller: Caller, role: str) -> MissionView:
        """Start the exit on the mission's registered plan; the starter decides none of its gates."""
        async def op() -> MissionView:
            plan = await self._plan(mission)
            _person(caller, role)
            reg = await self.roles.current(mission)
            lc.check_coordinator(plan.model.coordinators, resolve_act(caller, role, reg, at=self.clock(), kind="coordinate"))
            try:
                await self.client.start_workflow(
                    "Mission", m.MissionInput(plan_sha256=plan.sha256, person=caller.name, role=role,
                                              search_attributes=self.search_attributes, role_register=reg),
                    id=mission_workflow_id(mission), task_queue=self.task_queue,
                    # A completed exit is not run twice; one that failed or was terminated may be.
                    id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY)
            except WorkflowAlreadyStartedError:
                raise Refused("MissionAlreadyStarted", f"mission {mission!r}: the exit has already been started") from None
            latest = await self.roles.current(mission)
            if latest.version > reg.version:
                await self.roles.push(mission, latest)  # changed while the exit was starting
            await asyncio.to_thread(self.store.register_mission, plan, caller.actor)
            return await self.status(mission)
        return await self._act("mission_start", caller, {"mission": mission, "role": role}, op)

    async def reopen(self, mission: str, phase: str, caller: Caller, role: str, reason: str) -> MissionView:
        async def op() -> MissionView:
            plan = await self._plan(mission)
            _person(caller, role)
            reg = await self.roles.current(mission)
            await self._mission_update(plan, caller, role, reg, "reopen", m.ReopenInput(
                person=caller.name, role=role, phase=phase, reason=reason))
            return await self.status(mission)
        return await self._act("reopen", caller, {"mission": mission, "phase": phase, "role": role}, op)

    async def migrate(self, mission: str, caller: Caller, role: str, plan_sha256: str) -> MissionView:
        """Move a running exit to another loaded plan of the mission: every gate is re-evaluated
        and pending votes are void (CONTRACT section 4)."""
        async def op() -> MissionView:
            plan = await self._plan(mission)
            _person(caller, role)
            new = await self.loaded_plan(mission, plan_sha256)
            reg = await self.roles.current(mission)
            await self._mission_update(plan, caller, role, reg, "migrate", m.MigrateInput(
                person=caller.name, role=role, plan_sha256=plan_sha256))
            # Evidence is validated against the plan the mission runs on from now.
            await asyncio.to_thread(self.store.register_mission, new, caller.actor)
            return await self.status(mission)
        return await self._act("migrate", caller, {"mission": mission, "role": role, "plan_sha256": plan_sha256}, op)

    async def _mission_update(self, plan: LoadedPlan, caller: Caller, role: str, reg: Register,
                              name: str, arg: Any) -> None:
        ms = await mission_status(self.client, plan.mission_id)
        if ms is not None and ms.register_version is None:
            await self.roles.adopt(plan.mission_id)
        try:
            await update(self.client, mission_workflow_id(plan.mission_id), name, arg, m.MissionStatus)
        except Gone:
            # No exit to act on: who may act is still answered first.
            lc.check_coordinator(plan.model.coordinators, resolve_act(caller, role, reg, at=self.clock(), kind="coordinate"))
            raise Refused("MissionNotStarted", f"mission {plan.mission_id!r}: the exit has not been started") from None

    # -- reading ---------------------------------------------------------------------------------

    async def status(self, mission: str) -> MissionView:
        plan = await self._plan(mission)
        ms = await mission_status(self.client, mission)
        records = {p.id: p for p in ms.phases} if ms else {}
        now = now_us()
        phases = []
        for ph in plan.model.phases:
            rec = records.get(ph.id)
            read = await phase_read(self.client, mission, ph.id) if rec is not None and rec.state != "pending" else None
            views = [await self._view(plan, g.id, read, now) for g in ph.gates]
            if rec is None or rec.state == "pending":
                state = "not_started"
            elif rec.state == "running" and rec.paused:
                state = "paused"
            else:
                state = rec.state
            phases.append(PhaseView(phase=ph.id, name=ph.name, state=state, gates=views,
                                    failure=rec.failure if rec is not None else None))
        return MissionView(mission=mission, plan=plan.id, plan_sha256=ms.plan_sha256 if ms else plan.sha256,
                           as_of=format_timestamp(now), phases=phases)

    async def gate(self, mission: str, gate: str) -> GateView:
        plan = await self._plan(mission)
        ref = _gate_ref(plan, gate)
        return await self._view(plan, gate, await phase_read(self.client, mission, ref.phase.id), now_us())

    async def _view(self, plan: LoadedPlan, gate: str, read: PhaseRead | None, now: int,
                    st: m.GateState | None = None, pending: bool | None = None) -> GateView:
        if st is None and read is not None:
            st = next((g for g in read.status.gates if g.gate == gate), None)
        if pending is None:
            pending = read is not None and gate in read.status.pending_evaluation
        paused = read is not None and read.status.paused
        return await asyncio.to_thread(gate_view, self.store, plan, gate, st, paused=paused, pending=pending, now=now)

    async def gates_awaiting(self, caller: Caller) -> list[AwaitingGate]:
        """Gates this person may approve now, across missions: the lifecycle's own check, tried
        under each of the gate's roles they hold."""
        if caller.kind != "person":
            return []
        query = (f"WorkflowType = 'Phase' AND ExecutionStatus = 'Running' AND TaskQueue = '{self.task_queue}' "
                 f"AND {m.SA_GATE_STATES} = 'awaiting_approval'")
        out = []
        async for wf in self.client.list_workflows(query):
            st = await query_status(self.client.get_workflow_handle(wf.id, run_id=wf.run_id), m.PhaseStatus)
            plan = await self.plan_for_mission(st.mission)
            if plan is None:
                continue
            specs = {g.id: g for p in plan_spec(plan).phases for g in p.gates}
            reg = await self.roles.current(st.mission)
            for g in st.gates:
                ref, spec = plan.gates.get(g.gate), specs.get(g.gate)
                if ref is None or spec is None or g.state != "awaiting_approval" or g.digest is None:
                    continue
                ctx = lc.GateContext(spec, g, "paused" if st.paused else "running", st.started_by, st.reopened_by)
                mine = [r for r in spec.approval.roles
                        if _may_vote(ctx, resolve_act(caller, r, reg, at=self.clock(), kind="vote", gate=g.gate), g.digest)]
                if mine:
                    out.append(AwaitingGate(mission=st.mission, phase=st.phase, gate=g.gate, name=ref.gate.name,
                                            digest=g.digest, approvals=len(g.approvals),
                                            quorum=ref.gate.approval.quorum, roles=mine))
        return sorted(out, key=lambda a: (a.mission, a.phase, a.gate))

    # -- acting on gates -------------------------------------------------------------------------

    async def approve(self, mission: str, gate: str, caller: Caller, role: str, digest: str,
                      comment: str | None = None, on_behalf_of: str | None = None) -> GateView:
        """A vote names the digest it signs and carries the store's position now: the workflow
        refuses it (StaleDigest) while evidence already stored is not in that evaluation."""
        return await self._vote(True, mission, gate, caller, role, digest, comment, on_behalf_of)

    async def reject(self, mission: str, gate: str, caller: Caller, role: str, digest: str, reason: str,
                     on_behalf_of: str | None = None) -> GateView:
        return await self._vote(False, mission, gate, caller, role, digest, reason, on_behalf_of)

    async def _vote(self, approving: bool, mission: str, gate: str, caller: Caller, role: str, digest: str,
                    text: str | None, on_behalf_of: str | None) -> GateView:
        pos = await self._position(mission, gate)
        reg = await self.roles.current(mission)
        common: dict[str, Any] = {"person": caller.name, "role": role, "on_behalf_of": on_behalf_of, "gate": gate,
                                  "digest": digest, "evidence_position": pos}
        arg = m.ApproveInput(**common, comment=text) if approving else m.RejectInput(**common, reason=text)
        return await self._gate_act("approval" if approving else "rejection", mission, gate, caller, role,
                                    _for({"digest": digest}, on_behalf_of), "approve" if approving else "reject", arg,
                                    lambda ctx: lc.check_vote(ctx, resolve_act(caller, role, reg, at=self.clock(), kind="vote", gate=gate,
                                                                               on_behalf_of=on_behalf_of),
                                                              digest, approving=approving))

    async def withdraw(self, mission: str, gate: str, caller: Caller, reason: str,
                       on_behalf_of: str | None = None) -> GateView:
        """Take back one's counted approval or rejection (under the vote's own role)."""
        reg = await self.roles.current(mission)

        def check(ctx: lc.GateContext) -> None:
            act = authority.withdrawal_act(reg, ctx.state, caller.name, self.clock(), gate, on_behalf_of)
            lc.check_withdraw(ctx, caller.name, act.held if act else None, on_behalf_of, act.why if act else None)

        return await self._gate_act("withdrawal", mission, gate, caller, None, _for({}, on_behalf_of), "withdraw",
                                    m.WithdrawInput(person=caller.name, gate=gate, reason=reason,
                                                    on_behalf_of=on_behalf_of),
                                    check)

    async def _position(self, mission: str, gate: str) -> int | None:
        plan = await self.plan_for_mission(mission)
        if plan is None or gate not in plan.gates:
            return None  # refused as unknown by the act itself
        return await asyncio.to_thread(self.store.evidence_position, mission, plan.gate_indicators(gate))

    async def waive(self, mission: str, gate: str, caller: Caller, role: str, benchmark: str, justification: str,
                    until: str | None = None, on_behalf_of: str | None = None) -> GateView:
        reg = await self.roles.current(mission)
        return await self._gate_act("waiver", mission, gate, caller, role, _for({"benchmark": benchmark}, on_behalf_of),
                                    "waive",
                                    m.WaiveInput(person=caller.name, role=role,
                                                 on_behalf_of=on_behalf_of, gate=gate, benchmark=benchmark,
                                                 justification=justification, until=until),
                                    lambda ctx: lc.check_waive(ctx, resolve_act(caller, role, reg, at=self.clock(), kind="waive", gate=gate,
                                                                                on_behalf_of=on_behalf_of),
                                                               benchmark, until, self.clock()))

    async def revoke_waiver(self, mission: str, gate: str, caller: Caller, role: str, benchmark: str,
                            reason: str | None = None, on_behalf_of: str | None = None) -> GateView:
        reg = await self.roles.current(mission)
        return await self._gate_act("waiver_revoke", mission, gate, caller, role,
                                    _for({"benchmark": benchmark}, on_behalf_of), "revoke_waiver",
                                    m.RevokeWaiverInput(person=caller.name, role=role,
                                                        on_behalf_of=on_behalf_of, gate=gate, benchmark=benchmark,
                                                        reason=reason),
                                    lambda ctx: lc.check_revoke(ctx, resolve_act(caller, role, reg, at=self.clock(), kind="waive",
                                                                                 gate=gate, on_behalf_of=on_behalf_of),
                                                                benchmark))

    async def _gate_act(self, kind: str, mission: str, gate: str, caller: Caller, role: str | None,
                        details: dict[str, Any],
                        name: str, arg: Any, check: Callable[[lc.GateContext], None]) -> GateView:
        async def op() -> GateView:
            plan = await self._plan(mission)
            ref = _gate_ref(plan, gate)
            _person(caller, role)
            read = await phase_read(self.client, mission, ref.phase.id)
            if read is not None and read.running:
                if read.status.register_version is None:
                    await self.roles.adopt(mission)
                try:
                    st = await update(self.client, phase_workflow_id(mission, ref.phase.id), name, arg, m.GateState)
                except Gone:  # it completed since we read it
                    read = await phase_read(self.client, mission, ref.phase.id)
                else:
                    return await self._answer(plan, gate, read, st, reevaluates=name in ("waive", "revoke_waiver"))
            check(await self._context(plan, gate, read))
            # The checks let it through, yet there is no workflow to take it (a failed phase).
            raise Refused("PhaseNotStarted", f"gate {gate!r}: its phase is not running")
        return await self._act(kind, caller, {"mission": mission, "gate": gate, "role": role, **details}, op)

    async def _answer(self, plan: LoadedPlan, gate: str, read: PhaseRead, st: m.GateState,
                      reevaluates: bool) -> GateView:
        """The gate after an update: the state the update returned, with what we already read.
        A waiver or its revocation makes the workflow re-evaluate: wait briefly for that, so the
        answer shows the new evaluation (or says it is pending)."""
        pending = False
        if reevaluates:
            pending = True
            deadline = time.monotonic() + REEVALUATION_WAIT_S
            while time.monotonic() < deadline:
                again = await phase_read(self.client, plan.mission_id, read.status.phase)
                now_st = next((g for g in again.status.gates if g.gate == gate), None) if again else None
                if again is None or now_st is None:
                    break
                if now_st.evaluations > st.evaluations and gate not in again.status.pending_evaluation:
                    read, st, pending = again, now_st, False
                    break
                await asyncio.sleep(0.05)
        return await self._view(plan, gate, read, now_us(), st=st, pending=pending)

    async def _context(self, plan: LoadedPlan, gate: str, read: PhaseRead | None) -> lc.GateContext:
        """The gate as the lifecycle's checks see it, when no running workflow holds it."""
        spec = next(g for p in plan_spec(plan).phases for g in p.gates if g.id == gate)
        ms = await mission_status(self.client, plan.mission_id)
        started_by = ms.started_by if ms else ""
        if read is None or ms is None:
            return lc.GateContext(spec, None, "not_started", started_by)
        rec = next((p for p in ms.phases if p.id == read.status.phase), None)
        st = next((g for g in read.status.gates if g.gate == gate), None)
        return lc.GateContext(spec, st, "complete" if not read.running else "running", started_by,
                              rec.reopened_by if rec else None, ms.started_for, rec.reopened_for if rec else None)


def _person(caller: Caller, role: str | None) -> None:
    """Systems hold no roles: they send evidence and read, never act on a mission or gate."""
    if caller.kind != "person":
        raise Refused("RoleNotHeld", f"system {caller.name!r} holds no role" + (f" (not {role!r})" if role else "")
                      + "; acts on missions and gates are made by people, with a person's key")


def _for(details: dict[str, Any], on_behalf_of: str | None) -> dict[str, Any]:
    return {**details, "on_behalf_of": on_behalf_of} if on_behalf_of else details


def _gate_ref(plan: LoadedPlan, gate: str) -> Any:
    ref = plan.gates.get(gate)
    if ref is None:
        raise Refused("UnknownGate", f"mission {plan.mission_id!r} has no gate {gate!r}")
    return ref


def _may_vote(ctx: lc.GateContext, act: lc.Act, digest: str) -> bool:
    try:
        lc.check_vote(ctx, act, digest, approving=True)
    except Refusal:
        return False
    return True
