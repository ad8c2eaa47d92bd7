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
from temporalio.exceptions import FailureError

from .common import (
    ACTIVITY_TIMEOUT,
    GATE_STATES_KEY,
    MISSION_KEY,
    PHASE_KEY,
    RETRY,
    AuditQueue,
    failure_reason,
    now_text,
    now_us,
    refuse,
)
from .gate_rules import (
    GateView,
    check_approve,
    check_decider,
    check_revoke,
    check_waive,
    quorum_met,
)

with workflow.unsafe.imports_passed_through():
    from schemas.messages import (
        ApprovalRecord,
        ApproveInput,
        EvaluateGateInput,
        EvidenceChanged,
        GateEvaluation,
        GateSpec,
        GateState,
        GateStateName,
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
        WaiverInfo,
    )
    from schemas.timefmt import parse_timestamp


# Audit entries of people's decisions: never held back by the group commit.
PEOPLES_DECISIONS = frozenset({"approval", "rejection", "waiver", "waiver_revoked", "phase_plan_migrated"})


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
        self.batch_audit = False
        self.audit_due: int | None = None  # when the queued audit entries are written at the latest
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
        # Group commit of the audit log (see _flush_audit_when_due). Runs recorded before it
        # flushed after every step, and replay keeps them doing so.
        self.batch_audit = inp.limits.audit_lag_ms > 0 and workflow.patched("audit-group-commit")
        if inp.carried is None:
            self._audit("phase_started", inp.reopened_by or inp.started_by, generation=inp.generation,
                        reopened=inp.reopened_by is not None, reason=inp.reopen_reason,
                        paused=self.paused)
        while not self._all_approved():
            now = now_us()
            self._expire_waivers(now)
            self._mark_expired_evaluations(now)
            await self._fire_timers(now)
            if self.dirty:
                await self._evaluate_dirty()
            self._upsert_search_attributes()
            await self._flush_audit_when_due()
            if self._all_approved():
                break
            if self._should_continue_as_new():
                # Checked before any new work: a steady stream of signals must not keep a run
                # going past Temporal's limits. Pending work is carried over.
                await self._continue_as_new()
            if self.dirty or self._audit_unscheduled():
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
        timeout = None if deadline is None else timedelta(microseconds=max(deadline - now_us(), 1000))
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: bool(self.dirty) or self._audit_unscheduled() or self.wake
                or self._all_approved() or self._should_continue_as_new(),
                timeout=timeout)
        self.wake = False

    async def _flush_audit_when_due(self) -> None:
        """Write the queued audit entries now, or (group commit) at most `audit_lag_ms` after the
        first of them was queued, with whatever is queued meanwhile. Only the engine's own
        entries wait (evaluations, transitions, reminders): a gate's evaluation is usually
        followed soon by an approval or another evaluation, and one audit activity then carries
        them all (measured: ~30% more gate workflows per second in workflow_bench). A person's
        decision (approval, rejection, waiver...) is written at once, and completion and
        continue-as-new flush everything. Keys stay final because only recorded activity inputs
        write them. The price: the log of the engine's own steps runs up to the lag behind, and
        a run terminated inside that window (an operator's act outside exitgate) leaves them
        only in Temporal's history; they can be recomputed (evaluations are reproducible)."""
        if not self.batch_audit:
            await self.audit.flush()
            return
        if not self.audit.pending:
            self.audit_due = None
            return
        now = now_us()
        if self.audit_due is None:
            self.audit_due = now + self.inp.limits.audit_lag_ms * 1000
        if now >= self.audit_due or self._audit_has_decision():
            await self.audit.flush()
            self.audit_due = None

    def _audit_has_decision(self) -> bool:
        return any(e.kind in PEOPLES_DECISIONS for e in self.audit.pending)

    def _audit_unscheduled(self) -> bool:
        """Entries queued that no flush is planned for yet: the loop must wake to plan one."""
        if not self.batch_audit:
            return bool(self.audit.pending)
        return bool(self.audit.pending) and (self.audit_due is None or self._audit_has_decision())

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
            "carried": carried, "paused": self.paused, "plan_sha256": self.plan_sha256,
            "phase": self.inp.phase.model_copy(update={"gates": list(self.specs.values())})}))

    # --- evaluation and the gate state machine ---

    async def _evaluate_dirty(self) -> None:
        gids = [g for g in self.specs if g in self.dirty and self.gates[g].state != "approved"]
        self.dirty.difference_update(gids)
        self.dirty.intersection_update(g for g in self.specs if self.gates[g].state != "approved")
        as_of = now_text()
        results = await asyncio.gather(*(self._evaluate(g, as_of) for g in gids))
        for gid, ev in zip(gids, results, strict=True):
            if gid in self.gates:  # a plan migration may have dropped it meanwhile
                self._apply(gid, ev, as_of)

    async def _evaluate(self, gid: str, as_of: str) -> GateEvaluation:
        inp = EvaluateGateInput(plan_sha256=self.plan_sha256, mission=self.inp.mission, gate=gid,
                                as_of=as_of, waivers=self.gates[gid].waivers)
        ev: GateEvaluation = await workflow.execute_activity(
            "evaluate_gate", inp, result_type=GateEvaluation,
            start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY)
        return ev

    def _apply(self, gid: str, ev: GateEvaluation, as_of: str) -> None:
        st = self.gates[gid]
        if st.state == "approved":
            return  # decided while the evaluation ran
        st.evaluations += 1
        self.evaluations_total += 1
        st.status, st.digest, st.valid_until, st.evaluated_at = ev.status, ev.digest, ev.valid_until, as_of
        self._audit("evaluation", "system", gate=gid, status=ev.status, digest=ev.digest,
                    valid_until=ev.valid_until, as_of=as_of)
        if st.rejected_digest is not None and ev.digest != st.rejected_digest:
            st.rejected_digest = st.rejection_reason = None  # something changed since the rejection
        if st.state == "collecting" and ev.status == "pass" and st.rejected_digest is None:
            self._transition(st, "awaiting_approval", "rule passes")
        elif st.state == "awaiting_approval" and ev.status != "pass":
            self._void_approvals(st, f"rule is {ev.status}")
            self._transition(st, "collecting", f"rule stopped passing ({ev.status})")

    def _transition(self, st: GateState, to: GateStateName, reason: str, actor: str = "system") -> None:
        self._audit("gate_transition", actor, gate=st.gate, **{"from": st.state}, to=to,
                    reason=reason, digest=st.digest)
        st.state = to
        if to == "awaiting_approval":
            st.awaiting_since_us, st.reminders_sent, st.escalated = now_us(), 0, False
        else:
            st.awaiting_since_us = None

    def _void_approvals(self, st: GateState, reason: str) -> None:
        if st.approvals:
            self._audit("approvals_void", "system", gate=st.gate, reason=reason,
                        approvals=[a.model_dump() for a in st.approvals])
            st.approvals = []

    def _all_approved(self) -> bool:
        return all(s.state == "approved" for s in self.gates.values())

    # --- timers ---

    def _expire_waivers(self, now: int) -> None:
        for st in self.gates.values():
            kept = [w for w in st.waivers if w.until is None or parse_timestamp(w.until) > now]
            for w in st.waivers:
                if w not in kept:
                    self._audit("waiver_expired", "system", gate=st.gate, benchmark=w.benchmark, until=w.until)
            if len(kept) != len(st.waivers):
                st.waivers = kept
                self.dirty.add(st.gate)

    def _mark_expired_evaluations(self, now: int) -> None:
        for st in self.gates.values():
            if st.state != "approved" and st.valid_until and parse_timestamp(st.valid_until) <= now:
                self.dirty.add(st.gate)

    async def _fire_timers(self, now: int) -> None:
        if self.paused:
            return  # approvals are refused while paused: nothing to remind anyone of
        for gid, st in self.gates.items():
            spec = self.specs[gid]
            if st.state != "awaiting_approval" or st.awaiting_since_us is None:
                continue
            since = st.awaiting_since_us
            if spec.remind_after_us and since + (st.reminders_sent + 1) * spec.remind_after_us <= now:
                # After a long pause, one reminder catches up rather than a burst of them.
                st.reminders_sent = (now - since) // spec.remind_after_us
                await self._notify("reminder", st, f"gate {gid} awaits approval (reminder {st.reminders_sent})")
            if spec.escalate_after_us and not st.escalated and since + spec.escalate_after_us <= now:
                st.escalated = True
                await self._notify("escalation", st, f"gate {gid} escalated: awaiting approval too long")

    async def _notify(self, kind: str, st: GateState, message: str) -> None:
        self._audit(kind, "system", gate=st.gate, digest=st.digest, reminders=st.reminders_sent)
        await workflow.execute_activity(
            "notify", NotifyInput(kind=kind, mission=self.inp.mission, phase=self.inp.phase.id,
                                  gate=st.gate, message=message,
                                  payload={"digest": st.digest, "approvals": len(st.approvals)}),
            start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY)

    def _next_deadline(self) -> int | None:
        times: list[int] = []
        for gid, st in self.gates.items():
            spec = self.specs[gid]
            if st.state == "approved":
                continue
            if st.valid_until:
                times.append(parse_timestamp(st.valid_until))
            times.extend(parse_timestamp(w.until) for w in st.waivers if w.until)
            if st.state == "awaiting_approval" and st.awaiting_since_us is not None and not self.paused:
                if spec.remind_after_us:
                    times.append(st.awaiting_since_us + (st.reminders_sent + 1) * spec.remind_after_us)
                if spec.escalate_after_us and not st.escalated:
                    times.append(st.awaiting_since_us + spec.escalate_after_us)
        if self.audit_due is not None:
            times.append(self.audit_due)
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
            self._void_approvals(st, f"plan migrated to {inp.plan_sha256}")
            st.waivers = [w for w in st.waivers if w.benchmark in self.specs[gid].waivable]
            if st.state != "collecting":
                self._transition(st, "collecting", "plan migrated", inp.by)
            st.digest = st.status = st.valid_until = None
            st.rejected_digest = st.rejection_reason = None
            self.dirty.add(gid)
        self.dirty.intersection_update(self.specs)
        self._audit("phase_plan_migrated", inp.by,
                    dropped_gates=sorted(set(old) - set(self.specs)))

    # --- updates (validators refuse before anything reaches history) ---

    @workflow.update(name="approve")
    def approve(self, inp: ApproveInput) -> GateState:
        self._count_update()
        st, spec = self.gates[inp.gate], self.specs[inp.gate]
        st.approvals.append(ApprovalRecord(person=inp.person, role=inp.role, digest=inp.digest,
                                           comment=inp.comment, at=now_text()))
        self._audit("approval", inp.person, gate=inp.gate, role=inp.role, digest=inp.digest,
                    comment=inp.comment, count=len(st.approvals), quorum=spec.approval.quorum)
        if quorum_met(spec, st.approvals):
            self._transition(st, "approved", "quorum reached", inp.person)
        return st

    @approve.validator
    def _validate_approve(self, inp: ApproveInput) -> None:
        check_approve(self._view_for(inp.gate), inp)

    @workflow.update(name="reject")
    def reject(self, inp: RejectInput) -> GateState:
        self._count_update()
        st = self.gates[inp.gate]
        self._audit("rejection", inp.person, gate=inp.gate, role=inp.role, digest=inp.digest, reason=inp.reason)
        self._void_approvals(st, f"rejected by {inp.person}: {inp.reason}")
        st.rejected_digest, st.rejection_reason = inp.digest, inp.reason
        self._transition(st, "collecting", f"rejected: {inp.reason}", inp.person)
        return st

    @reject.validator
    def _validate_reject(self, inp: RejectInput) -> None:
        check_decider(self._view_for(inp.gate), inp.person, inp.role, inp.digest)

    @workflow.update(name="waive")
    def waive(self, inp: WaiveInput) -> GateState:
        self._count_update()
        st = self.gates[inp.gate]
        st.waivers.append(WaiverInfo(benchmark=inp.benchmark, by=inp.person, role=inp.role,
                                     justification=inp.justification, until=inp.until))
        self._audit("waiver", inp.person, gate=inp.gate, role=inp.role, benchmark=inp.benchmark,
                    justification=inp.justification, until=inp.until)
        self.dirty.add(inp.gate)  # re-evaluated at once
        return st

    @waive.validator
    def _validate_waive(self, inp: WaiveInput) -> None:
        check_waive(self._view_for(inp.gate), inp, now_us())

    @workflow.update(name="revoke_waiver")
    def revoke_waiver(self, inp: RevokeWaiverInput) -> GateState:
        self._count_update()
        st = self.gates[inp.gate]
        st.waivers = [w for w in st.waivers if w.benchmark != inp.benchmark]
        self._audit("waiver_revoked", inp.person, gate=inp.gate, role=inp.role,
                    benchmark=inp.benchmark, reason=inp.reason)
        self.dirty.add(inp.gate)
        return st

    @revoke_waiver.validator
    def _validate_revoke(self, inp: RevokeWaiverInput) -> None:
        check_revoke(self._view_for(inp.gate), inp)

    def _count_update(self) -> None:
        self.updates_total += 1
        self.run_updates += 1

    def _view_for(self, gid: str) -> GateView:
        if gid not in self.specs:
            refuse("UnknownGate", f"gate {gid!r} is not in phase {self.inp.phase.id!r}")
        return GateView(self.specs[gid], self.gates[gid], self.paused, self.complete,
                        self.inp.started_by, self.inp.reopened_by)

    # --- queries and visibility ---

    @workflow.query(name="status")
    def status(self) -> PhaseStatus:
        return PhaseStatus(
            mission=self.inp.mission, phase=self.inp.phase.id, plan_sha256=self.plan_sha256,
            generation=self.inp.generation, paused=self.paused, complete=self.complete,
            started_by=self.inp.started_by, reopened_by=self.inp.reopened_by,
            gates=list(self.gates.values()), signals_total=self.signals_total,
            updates_total=self.updates_total, evaluations_total=self.evaluations_total, runs=self.runs,
            pending_evaluation=sorted(self.dirty))

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

    def _audit(self, kind: str, actor: str, **payload: object) -> None:
        self.audit.add(kind, actor, mission=self.inp.mission, phase=self.inp.phase.id,
                       plan_sha256=self.plan_sha256, **payload)

