"""The phase workflow: each gate of one phase through the lifecycle of CONTRACT section 4.

collecting -> awaiting_approval -> approved. Evidence signals only mark gates dirty; the main
loop evaluates each dirty gate once however many signals arrived meanwhile. Approvals,
rejections and waivers are updates whose validators refuse bad requests before anything is
written to history. Timers (valid_until, reminders, escalation) are one durable
`wait_condition` timeout at the earliest deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

from .common import (
    ACTIVITY_TIMEOUT,
    GATE_STATES_KEY,
    MISSION_KEY,
    PHASE_KEY,
    RETRY,
    AuditQueue,
    failure_reason,
    now_text,
    refused,
    workflow_now_us,
)

with workflow.unsafe.imports_passed_through():
    from lifecycle import authority
    from lifecycle import gate as lc
    from schemas.messages import (
        ApproveInput,
        EvaluateGateInput,
        EvidenceChanged,
        GateEvaluation,
        GateSpec,
        GateState,
        NotifyInput,
        PhaseCarry,
        PhaseCompleted,
        PhaseFailed,
        PhaseInput,
        PhaseResult,
        PhaseStatus,
        PlanChanged,
        RejectInput,
        RevokeWaiverInput,
        SetPaused,
        WaiveInput,
        WithdrawInput,
    )
    from schemas.register import Register


@workflow.defn(name="Phase")
class PhaseWorkflow:
    @workflow.init
    def __init__(self, inp: PhaseInput) -> None:
        self.inp = inp
        self.plan_sha256 = inp.plan_sha256
        self.specs: dict[str, GateSpec] = {g.id: g for g in inp.phase.gates}
        self.paused = inp.paused
        self.complete = False
        self.wake = False
        self.run_signals = 0
        self.run_updates = 0
        self.sa_last: list[str] | None = None
        self.register: Register | None = inp.role_register
        # Deadline (us) -> the timer waiting for it (patch `timer-keep-near`, _wait_for_work).
        self.timers: dict[int, asyncio.Task[None]] = {}
        self.keep_timers = False
        self.round2 = False  # patch `gate-round-2`, asked first in _run
        c = inp.carried
        if c is None:
            self.gates = {g: GateState(gate=g) for g in self.specs}
            self.dirty: set[str] = set(self.specs)
            self.audit = AuditQueue([], 0)
            self.signals_total = self.updates_total = self.evaluations_total = 0
            self.runs = 1
        else:
            self.gates = {g.gate: g for g in c.gates}
            self.dirty = set(c.dirty)
            self.audit = AuditQueue(list(c.audit_pending), c.audit_seq)
            self.signals_total, self.updates_total = c.signals_total, c.updates_total
            self.evaluations_total = c.evaluations_total
            self.runs = c.runs + 1

    # --- main loop ---

    @workflow.run
    async def run(self, inp: PhaseInput) -> PhaseResult:
        try:
            return await self._run(inp)
        except (FailureError, asyncio.CancelledError) as exc:
            # What happened up to the failure belongs in the audit log too.
            await self.audit.flush()
            # The mission waits for a phase_completed signal; without this one it would show
            # a phase that failed for good as running forever. (A terminated run cannot say
            # anything: the mission watches its child for that.)
            if inp.parent_workflow_id:
                await workflow.get_external_workflow_handle(inp.parent_workflow_id).signal(
                    "phase_failed", PhaseFailed(phase=inp.phase.id, generation=inp.generation,
                                                reason=failure_reason(exc)))
            raise

    async def _run(self, inp: PhaseInput) -> PhaseResult:
        # Group commit of the audit log (AuditQueue.flush_when_due). Runs recorded before it
        # flushed after every step, and replay keeps them doing so.
        # One marker for the behaviours of four earlier patches (audit-group-commit,
        # timer-keep-near, evaluation-failure-isolated, evaluate-local) and final audit entries
        # written by a local activity (AuditQueue.flush). Each patch asked costs a marker and an
        # upsert of TemporalChangeVersion in every run's history: 8 of a gate's 29 events.
        # Asked first, in the run's first task, like timer-keep-near before it; runs recorded
        # before it ask the four as they did.
        self.round2 = workflow.patched("gate-round-2")
        if inp.limits.audit_lag_ms > 0 and (self.round2 or workflow.patched("audit-group-commit")):
            self.audit.lag_us = inp.limits.audit_lag_ms * 1000
        self.audit.local_when_final = self.round2
        # Asked once, first, in the run's first task (see _arm): asked at the first wait, after
        # a local evaluation, replay under load met the marker where the call was not yet made
        # ("patch marker encountered ... no corresponding change command").
        self.keep_timers = self.round2 or workflow.patched("timer-keep-near")
        if inp.carried is None:
            self._audit("phase_started", inp.reopened_by or inp.started_by, generation=inp.generation,
                        reopened=inp.reopened_by is not None, reason=inp.reopen_reason,
                        paused=self.paused)
        while not self._all_approved():
            now = workflow_now_us()
            self._expire_waivers(now)
            self._mark_expired_evaluations(now)
            await self._fire_timers(now)
            if self.dirty:
                await self._evaluate_dirty()
            self._upsert_search_attributes()
            await self.audit.flush_when_due(workflow_now_us())
            if self._all_approved():
                break
            if self._should_continue_as_new():
                # Checked before any new work: a steady stream of signals must not keep a run
                # going past Temporal's limits. Pending work is carried over.
                await self._continue_as_new()
            if self.dirty or self.audit.unscheduled():
                continue  # work arrived while we awaited
            await self._wait_for_work()
        self.complete = True
        self._upsert_search_attributes()
        self._audit("phase_completed", "system", generation=inp.generation)
        await self.audit.flush()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self.audit.flush()  # entries queued by handlers that finished meanwhile
        if inp.parent_workflow_id:
            await workflow.get_external_workflow_handle(inp.parent_workflow_id).signal(
                "phase_completed", PhaseCompleted(phase=inp.phase.id, generation=inp.generation))
        return PhaseResult(phase=inp.phase.id, generation=inp.generation,
                           plan_sha256=self.plan_sha256, gates=list(self.gates.values()))

    async def _wait_for_work(self) -> None:
        deadline = self._next_deadline()

        def work() -> bool:
            return (bool(self.dirty) or self.audit.unscheduled() or self.wake
                    or self._all_approved() or self._should_continue_as_new())

        if self.keep_timers:
            timers = self._arm(deadline)
            await workflow.wait_condition(lambda: work() or any(t.done() for t in timers))
        else:
            timeout = None if deadline is None else timedelta(microseconds=max(deadline - workflow_now_us(), 1000))
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(work, timeout=timeout)
        self.wake = False

    def _arm(self, deadline: int | None) -> list[asyncio.Task[None]]:
        """The timers to wait on: the one for `deadline` (kept from an earlier wait when the
        deadline did not move, so a gate round adds no timer commands), and any earlier one
        that may fire before this workflow task ends, which is left to fire rather than
        cancelled. The time-skipping test server wedges the workflow for good when a task
        cancels a timer that fired while the task was in progress (sdk-java issue 2606, "invalid
        history builder state for action"); a timer due after the task's timeout cannot have
        fired. One left to fire only wakes the loop, which finds nothing to do."""
        now = workflow_now_us()
        keep_until = now + int(workflow.info().task_timeout.total_seconds() * 1_000_000)
        for at, t in list(self.timers.items()):
            if t.done():
                del self.timers[at]
            elif at != deadline and at > keep_until:
                t.cancel()
                del self.timers[at]
        if deadline is not None and deadline not in self.timers:
            self.timers[deadline] = asyncio.create_task(
                workflow.sleep(timedelta(microseconds=max(deadline - now, 1000))))
        return list(self.timers.values())

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        lim = self.inp.limits
        return (info.is_continue_as_new_suggested() or self.run_signals >= lim.signals
                or self.run_updates >= lim.updates or info.get_current_history_length() >= lim.history_events)

    async def _continue_as_new(self) -> None:
        await self.audit.flush()
        await workflow.wait_condition(workflow.all_handlers_finished)
        # Handlers are synchronous, so nothing runs between here and the new run's input:
        # every signal and update this run accepted is in the carried state.
        carried = PhaseCarry(gates=list(self.gates.values()), dirty=sorted(self.dirty),
                             audit_pending=list(self.audit.pending), audit_seq=self.audit.seq,
                             signals_total=self.signals_total, updates_total=self.updates_total,
                             evaluations_total=self.evaluations_total, runs=self.runs)
        workflow.continue_as_new(self.inp.model_copy(update={
            "carried": carried, "paused": self.paused, "plan_sha256": self.plan_sha256, "role_register": self.register,
            "phase": self.inp.phase.model_copy(update={"gates": list(self.specs.values())})}))

    # --- evaluation and the gate state machine ---

    async def _evaluate_dirty(self) -> None:
        gids = [g for g in self.specs if g in self.dirty and self.gates[g].state != "approved"]
        self.dirty.difference_update(gids)
        self.dirty.intersection_update(g for g in self.specs if self.gates[g].state != "approved")
        as_of = now_text()
        # A gate whose evaluation fails for good no longer holds up its siblings (before this
        # patch the phase failed with it).
        isolated = self.round2 or workflow.patched("evaluation-failure-isolated")
        # A local activity: evaluate_gate only reads, and its result is recorded in the workflow
        # task that ran it, so a gate round saves an activity task and a workflow task (the
        # result is applied in the task that asked for it); a discarded task reads again.
        local = self.round2 or workflow.patched("evaluate-local")
        calls = [self._evaluate(g, as_of, local) for g in gids]
        results: list[GateEvaluation | BaseException] = list(
            await asyncio.gather(*calls, return_exceptions=isolated))
        for gid, ev in zip(gids, results, strict=True):
            if gid not in self.gates:
                continue  # a plan migration dropped it meanwhile
            if isinstance(ev, BaseException):
                if not _failed_for_good(ev):
                    raise ev
                self._evaluation_failed(gid, failure_reason(ev))
            else:
                self._apply(gid, ev, as_of)

    def _evaluation_failed(self, gid: str, reason: str) -> None:
        st = self.gates[gid]
        if st.state == "approved" or st.evaluation_error == reason:
            return
        st.evaluation_error = reason
        self._audit("evaluation_failed", "system", gate=gid, reason=reason)

    async def _evaluate(self, gid: str, as_of: str, local: bool) -> GateEvaluation:
        inp = EvaluateGateInput(plan_sha256=self.plan_sha256, mission=self.inp.mission, gate=gid,
                                as_of=as_of, waivers=self.gates[gid].waivers)
        if not local:
            ev: GateEvaluation = await workflow.execute_activity(
                "evaluate_gate", inp, result_type=GateEvaluation,
                start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY)
            return ev
        try:
            ev = await workflow.execute_local_activity(
                "evaluate_gate", inp, result_type=GateEvaluation,
                start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY)
        except ApplicationError as exc:
            # A local activity's error comes unwrapped: wrapped as an activity's, a failure reads
            # the same in the gate's status, the mission and the audit log on both paths.
            raise ActivityError("Activity task failed", scheduled_event_id=0, started_event_id=0, identity="",
                                activity_type="evaluate_gate", activity_id="", retry_state=None) from exc
        return ev

    def _apply(self, gid: str, ev: GateEvaluation, as_of: str) -> None:
        st = self.gates[gid]
        if st.state == "approved":
            return  # decided while the evaluation ran
        self.evaluations_total += 1
        st.evaluation_error = None
        self._record(lc.apply_evaluation(st, ev.status, ev.digest, ev.valid_until, as_of, workflow_now_us(),
                                        ev.evidence_position))

    def _all_approved(self) -> bool:
        return all(s.state == "approved" for s in self.gates.values())

    # --- timers ---

    def _expire_waivers(self, now: int) -> None:
        for st in self.gates.values():
            ended = lc.expire_waivers(st, now)
            if ended:
                self._record(ended)
                self.dirty.add(st.gate)
            self._record(lc.expire_approvals(st, now))

    def _mark_expired_evaluations(self, now: int) -> None:
        self.dirty.update(g for g, st in self.gates.items() if lc.evaluation_expired(st, now))

    async def _fire_timers(self, now: int) -> None:
        if self.paused:
            return  # approvals are refused while paused: nothing to remind anyone of
        for gid, st in self.gates.items():
            for kind, message in lc.due_notifications(st, self.specs[gid], now):
                await self._notify(kind, st, message)

    async def _notify(self, kind: str, st: GateState, message: str) -> None:
        self._audit(kind, "system", gate=st.gate, digest=st.digest, reminders=st.reminders_sent)
        await workflow.execute_activity(
            "notify", NotifyInput(kind=kind, mission=self.inp.mission, phase=self.inp.phase.id,
                                  gate=st.gate, message=message,
                                  payload={"digest": st.digest, "approvals": len(st.approvals)}),
            start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY)

    def _next_deadline(self) -> int | None:
        times = [t for t in (lc.next_deadline(((st, self.specs[g]) for g, st in self.gates.items()), self.paused),
                             self.audit.due) if t is not None]
        return min(times) if times else None

    # --- signals ---

    @workflow.signal(name="evidence_changed")
    def evidence_changed(self, inp: EvidenceChanged) -> None:
        self.signals_total += 1
        self.run_signals += 1
        wanted = set(inp.indicators)
        for gid, spec in self.specs.items():
            if self.gates[gid].state != "approved" and (not wanted or not wanted.isdisjoint(spec.indicators)):
                self.dirty.add(gid)

    @workflow.signal(name="set_paused")
    def set_paused(self, inp: SetPaused) -> None:
        self.run_signals += 1
        if inp.paused == self.paused:
            return
        self.paused = inp.paused
        # Histories from before this patch resumed with the old episode's timers running on.
        if not inp.paused and workflow.patched("resume-new-episode"):
            lc.resume_episodes(self.gates.values(), workflow_now_us())
        self._audit("phase_paused" if inp.paused else "phase_resumed", "system", reason=inp.reason)
        self.wake = True

    @workflow.signal(name="plan_changed")
    def plan_changed(self, inp: PlanChanged) -> None:
        self.run_signals += 1
        self.plan_sha256 = inp.plan_sha256
        self.specs = {g.id: g for g in inp.phase.gates}
        old = self.gates
        self.gates = {g: old.get(g) or GateState(gate=g) for g in self.specs}
        for gid, st in self.gates.items():
            if st.state == "approved":
                continue
            self._record(lc.migrate(st, self.specs[gid], inp.plan_sha256, inp.by, workflow_now_us()))
            self.dirty.add(gid)
        self.dirty.intersection_update(self.specs)
        self._audit("phase_plan_migrated", inp.by,
                    dropped_gates=sorted(set(old) - set(self.specs)))

    # --- updates (validators refuse before anything reaches history) ---

    @workflow.update(name="approve")
    def approve(self, inp: ApproveInput) -> GateState:
        self._count_update()
        st = self.gates[inp.gate]
        self._record(lc.approve(st, self.specs[inp.gate], self._act(inp, "vote"), inp.digest, inp.comment,
                                workflow_now_us()))
        return st

    @approve.validator
    def _validate_approve(self, inp: ApproveInput) -> None:
        with refused():
            lc.check_vote(self._context(inp.gate), self._act(inp, "vote"), inp.digest, approving=True,
                          evidence_position=inp.evidence_position)

    @workflow.update(name="reject")
    def reject(self, inp: RejectInput) -> GateState:
        self._count_update()
        st = self.gates[inp.gate]
        self._record(lc.reject(st, self.specs[inp.gate], self._act(inp, "vote"), inp.digest, inp.reason,
                               workflow_now_us()))
        return st

    @reject.validator
    def _validate_reject(self, inp: RejectInput) -> None:
        with refused():
            lc.check_vote(self._context(inp.gate), self._act(inp, "vote"), inp.digest, approving=False,
                          evidence_position=inp.evidence_position)

    @workflow.update(name="withdraw")
    def withdraw(self, inp: WithdrawInput) -> GateState:
        self._count_update()
        st = self.gates[inp.gate]
        self._record(lc.withdraw(st, inp.person, inp.reason, inp.on_behalf_of))
        return st

    @withdraw.validator
    def _validate_withdraw(self, inp: WithdrawInput) -> None:
        with refused():
            ctx = self._context(inp.gate)
            held = None if inp.held_roles is None else frozenset(inp.held_roles)
            why = None
            if self.register is not None:
                act = authority.withdrawal_act(self.register, ctx.state, inp.person, workflow_now_us(), inp.gate,
                                               inp.on_behalf_of)
                held, why = (act.held, act.why) if act is not None else (None, None)
            else:
                _no_register(inp.person, inp.on_behalf_of)
            lc.check_withdraw(ctx, inp.person, held, inp.on_behalf_of, why)

    @workflow.update(name="waive")
    def waive(self, inp: WaiveInput) -> GateState:
        self._count_update()
        st = self.gates[inp.gate]
        self._record(lc.waive(st, self._act(inp, "waive"), inp.benchmark, inp.justification, inp.until))
        self.dirty.add(inp.gate)  # re-evaluated at once
        return st

    @waive.validator
    def _validate_waive(self, inp: WaiveInput) -> None:
        with refused():
            lc.check_waive(self._context(inp.gate), self._act(inp, "waive"), inp.benchmark, inp.until,
                           workflow_now_us())

    @workflow.update(name="revoke_waiver")
    def revoke_waiver(self, inp: RevokeWaiverInput) -> GateState:
        self._count_update()
        st = self.gates[inp.gate]
        self._record(lc.revoke_waiver(st, self._act(inp, "waive"), inp.benchmark, inp.reason))
        self.dirty.add(inp.gate)
        return st

    @revoke_waiver.validator
    def _validate_revoke(self, inp: RevokeWaiverInput) -> None:
        with refused():
            lc.check_revoke(self._context(inp.gate), self._act(inp, "waive"), inp.benchmark)

    @workflow.update(name="set_register")
    def set_register(self, reg: Register) -> int:
        """The mission's role register changed (the service sends every change, awaited, before
        it answers): acts resolve with the newest copy from now on; an older one is ignored."""
        self._count_update()
        if workflow.patched("role-register") and (self.register is None or reg.version > self.register.version):
            self.register = reg
        return self.register.version if self.register is not None else 0

    def _act(self, inp: ApproveInput | RejectInput | WaiveInput | RevokeWaiverInput, kind: authority.ActKind) -> lc.Act:
        """Who acts, resolved with the register at this instant (the same in a validator and its
        handler: one workflow task). Without a register, the roles the caller said are held."""
        if self.register is None:
            _no_register(inp.person, inp.on_behalf_of)
            return lc.Act(inp.person, inp.role, None if inp.held_roles is None else frozenset(inp.held_roles))
        return authority.resolve(self.register, inp.person, inp.role, workflow_now_us(), kind=kind, gate=inp.gate,
                                 on_behalf_of=inp.on_behalf_of)

    def _count_update(self) -> None:
        self.updates_total += 1
        self.run_updates += 1

    def _context(self, gid: str) -> lc.GateContext:
        if gid not in self.specs:
            from lifecycle import Refusal

            raise Refusal("UnknownGate", f"gate {gid!r} is not in phase {self.inp.phase.id!r}")
        phase: lc.PhaseState = "complete" if self.complete else "paused" if self.paused else "running"
        return lc.GateContext(self.specs[gid], self.gates[gid], phase, self.inp.started_by, self.inp.reopened_by,
                              self.inp.started_for, self.inp.reopened_for)

    # --- queries and visibility ---

    @workflow.query(name="status")
    def status(self) -> PhaseStatus:
        return PhaseStatus(
            mission=self.inp.mission, phase=self.inp.phase.id, plan_sha256=self.plan_sha256,
            generation=self.inp.generation, paused=self.paused, complete=self.complete,
            started_by=self.inp.started_by, reopened_by=self.inp.reopened_by,
            gates=list(self.gates.values()), signals_total=self.signals_total,
            updates_total=self.updates_total, evaluations_total=self.evaluations_total, runs=self.runs,
            pending_evaluation=sorted(self.dirty),
            register_version=self.register.version if self.register is not None else None)

    def _upsert_search_attributes(self) -> None:
        if not self.inp.search_attributes:
            return
        states = sorted({s.state for s in self.gates.values()} | {f"{g}:{s.state}" for g, s in self.gates.items()})
        if states == self.sa_last:
            return
        updates: list[SearchAttributeUpdate[Any]] = [GATE_STATES_KEY.value_set(states)]
        if self.sa_last is None:
            updates += [MISSION_KEY.value_set(self.inp.mission), PHASE_KEY.value_set(self.inp.phase.id)]
        workflow.upsert_search_attributes(updates)
        self.sa_last = states

    def _record(self, events: list[lc.Event]) -> None:
        for kind, actor, payload in events:
            self._audit(kind, actor, **payload)

    def _audit(self, kind: str, actor: str, **payload: object) -> None:
        self.audit.add(kind, actor, mission=self.inp.mission, phase=self.inp.phase.id,
                       plan_sha256=self.plan_sha256, **payload)



def _no_register(person: str, on_behalf_of: str | None) -> None:
    if on_behalf_of not in (None, person):
        from lifecycle import Refusal

        raise Refusal("RoleNotHeld", f"{person} cannot act for {on_behalf_of}: the mission has no role register, "
                                     "so there are no delegations")


def _failed_for_good(exc: BaseException) -> bool:
    """This gate's evidence cannot be evaluated, and no retry will change that. Anything else
    (the plan gone, a cancellation) ends the run: the phase fails and its mission shows why."""
    cause = exc.cause if isinstance(exc, ActivityError) else None
    return isinstance(cause, ApplicationError) and cause.type == "EvaluationFailed"
