"""The mission workflow: starts each phase when its `depends_on` are complete, reopens a
completed phase (pausing the dependants that are not complete), migrates to a newer plan.

Phases are child workflows with a fixed id per (mission, phase), abandoned on parent close so
the mission can continue as new under them; each tells the mission it completed by a signal.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError, ChildWorkflowError, WorkflowAlreadyStartedError

from .common import (
    ACTIVITY_TIMEOUT,
    MISSION_KEY,
    RETRY,
    AuditQueue,
    failure_reason,
    phase_workflow_id,
    refuse,
    refused,
    workflow_now_us,
)

with workflow.unsafe.imports_passed_through():
    from lifecycle import authority
    from lifecycle import gate as lc
    from schemas.messages import (
        DescribePlanInput,
        MigrateInput,
        MissionCarry,
        MissionInput,
        MissionResult,
        MissionStatus,
        PhaseCompleted,
        PhaseFailed,
        PhaseInput,
        PhaseRecord,
        PlanChanged,
        PlanSpec,
        ReopenInput,
        SetPaused,
    )
    from schemas.register import Register

MAX_RUN_EVENTS = 2000  # a mission sees few events; continue as new well before any limit
STAYS_OPEN = "mission-stays-open"  # patch: a complete mission waits for a reopen or migration


@workflow.defn(name="Mission")
class MissionWorkflow:
    @workflow.init
    def __init__(self, inp: MissionInput) -> None:
        self.inp = inp
        c = inp.carried
        self.spec: PlanSpec | None = c.spec if c else None
        self.started_by = c.started_by if c else inp.person
        self.started_for = c.started_for if c else None
        self.register: Register | None = inp.role_register
        self.phases: dict[str, PhaseRecord] = {p.id: p for p in c.phases} if c else {}
        self.audit = AuditQueue(list(c.audit_pending) if c else [], c.audit_seq if c else 0)
        self.runs = c.runs + 1 if c else 1
        self.to_start: set[str] = set()
        self.changed = False
        self.migrating = False
        self.run_events = 0
        self.watchers: dict[str, asyncio.Task[None]] = {}  # held so they are not collected
        # mission_completed is written once per completion: a migration of a complete mission,
        # or its audit flush, wakes the loop without the mission completing again.
        self.told_complete = False

    @workflow.run
    async def run(self, inp: MissionInput) -> MissionResult:
        if self.spec is None:
            spec = await workflow.execute_activity(
                "describe_plan", DescribePlanInput(plan_sha256=inp.plan_sha256), result_type=PlanSpec,
                start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY)
            if inp.role not in spec.coordinator_roles:
                raise ApplicationError(f"role {inp.role!r} may not start the exit; coordinator roles: "
                                       + ", ".join(spec.coordinator_roles), type="RoleNotAllowed",
                                       non_retryable=True)
            if self.register is not None:
                # The service checked it too; this is the check in the same step as the start.
                act = authority.resolve(self.register, inp.person, inp.role, workflow_now_us(), kind="coordinate")
                if not act.held:
                    raise ApplicationError(act.why or f"{inp.person} does not hold role {inp.role!r}",
                                           type="RoleNotHeld", non_retryable=True)
                self.started_for = act.principal
            self.spec = spec
            self.phases = {p.id: PhaseRecord(id=p.id) for p in spec.phases}
            self.audit.add("mission_started", inp.person, mission=spec.mission, role=inp.role,
                           plan_sha256=spec.plan_sha256,
                           **({"principal": self.started_for} if self.started_for else {}))
        if inp.search_attributes:
            workflow.upsert_search_attributes([MISSION_KEY.value_set(self.spec.mission)])
        while True:
            await workflow.wait_condition(lambda: not self.migrating)
            await self._start_ready()
            await self._sync_paused()
            await self.audit.flush()
            if self._complete():
                if not workflow.patched(STAYS_OPEN):
                    break
                # CONTRACT 4 lets a coordinator reopen a completed phase, and migrate, at any
                # time: a complete mission stays open for them (waiting adds no history).
                if not self.told_complete:
                    self.told_complete = True
                    self._audit_completed()
                    await self.audit.flush()
                await workflow.wait_condition(lambda: self._work_waiting() or self.migrating)
                self.changed = False
                continue
            self.told_complete = False
            if self._work_waiting():
                self.changed = False
                continue
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not (self.changed or self.to_start or self.migrating):
                    workflow.continue_as_new(inp.model_copy(update={"carried": self._carry(),
                                                                    "role_register": self.register}))
                continue
            await workflow.wait_condition(self._work_waiting)
            self.changed = False
        self._audit_completed()
        await self.audit.flush()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self.audit.flush()
        return MissionResult(mission=self.spec.mission, plan_sha256=self.spec.plan_sha256,
                             phases=list(self.phases))

    def _work_waiting(self) -> bool:
        """A change to act on: a phase's report, a reopen, a migration's end, audit to flush."""
        return self.changed or bool(self.to_start) or bool(self.audit.pending)

    def _audit_completed(self) -> None:
        assert self.spec is not None
        self.audit.add("mission_completed", "system", mission=self.spec.mission, plan_sha256=self.spec.plan_sha256)

    def _carry(self) -> MissionCarry:
        assert self.spec is not None
        return MissionCarry(spec=self.spec, started_by=self.started_by, phases=list(self.phases.values()),
                            audit_pending=list(self.audit.pending), audit_seq=self.audit.seq, runs=self.runs,
                            started_for=self.started_for)

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() >= MAX_RUN_EVENTS

    def _complete(self) -> bool:
        return all(p.state == "complete" for p in self.phases.values())

    # --- phases ---

    def _depends(self, pid: str) -> list[str]:
        assert self.spec is not None
        return next((p.depends_on for p in self.spec.phases if p.id == pid), [])

    def _ancestors(self, pid: str) -> set[str]:
        seen: set[str] = set()
        stack = list(self._depends(pid))
        while stack:
            a = stack.pop()
            if a not in seen and a in self.phases:
                seen.add(a)
                stack.extend(self._depends(a))
        return seen

    def _should_pause(self, pid: str) -> bool:
        return self.phases[pid].state != "complete" and any(
            self.phases[a].state != "complete" for a in self._ancestors(pid))

    async def _start_ready(self) -> None:
        assert self.spec is not None
        for p in self.spec.phases:
            rec = self.phases[p.id]
            ready = rec.state == "pending" and all(self.phases[d].state == "complete" for d in p.depends_on)
            if ready or p.id in self.to_start:
                self.to_start.discard(p.id)
                await self._start_phase(p.id)

    async def _start_phase(self, pid: str) -> None:
        assert self.spec is not None
        rec = self.phases[pid]
        rec.state = "running"
        rec.paused = self._should_pause(pid)
        inp = PhaseInput(
            mission=self.spec.mission, plan_sha256=self.spec.plan_sha256,
            phase=next(p for p in self.spec.phases if p.id == pid), started_by=self.started_by,
            generation=rec.generation, reopened_by=rec.reopened_by, reopen_reason=rec.reopen_reason,
            paused=rec.paused, parent_workflow_id=workflow.info().workflow_id,
            search_attributes=self.inp.search_attributes, limits=self.inp.phase_limits,
            role_register=self.register, started_for=self.started_for, reopened_for=rec.reopened_for)
        while True:
            try:
                child = await workflow.start_child_workflow(
                    "Phase", inp, id=phase_workflow_id(self.spec.mission, pid),
                    parent_close_policy=workflow.ParentClosePolicy.ABANDON)
                break
            except WorkflowAlreadyStartedError:
                # The phase's previous run (before a reopen) is still closing: wait for it.
                await workflow.sleep(timedelta(seconds=2))
        self.run_events += 1
        self.watchers[pid] = asyncio.create_task(self._watch(pid, rec.generation, child))

    async def _watch(self, pid: str, generation: int, child: workflow.ChildWorkflowHandle[Any, Any]) -> None:
        """A terminated or timed-out phase cannot signal its failure; its close event can.
        Only this run watches the children it started: after the mission continues as new, a
        phase still reports its own failures (phase_failed) but a termination goes unseen: the
        mission keeps showing it running (docs/workflows.md)."""
        try:
            await child
        except ChildWorkflowError as exc:
            self._mark_failed(PhaseFailed(phase=pid, generation=generation, reason=failure_reason(exc)))

    async def _sync_paused(self) -> None:
        assert self.spec is not None
        for pid, rec in self.phases.items():
            want = rec.state == "running" and self._should_pause(pid)
            if rec.state == "running" and want != rec.paused:
                rec.paused = want
                reason = "a phase it depends on was reopened" if want else "the phases it depends on are complete"
                self.audit.add("phase_paused" if want else "phase_resumed", "system",
                               mission=self.spec.mission, phase=pid, reason=reason)
                await workflow.get_external_workflow_handle(phase_workflow_id(self.spec.mission, pid)).signal(
                    "set_paused", SetPaused(paused=want, reason=reason))

    @workflow.signal(name="phase_completed")
    def phase_completed(self, inp: PhaseCompleted) -> None:
        rec = self.phases.get(inp.phase)
        if rec is None or rec.generation != inp.generation or rec.state != "running":
            return  # a run that a reopen or migration has already replaced
        rec.state, rec.paused = "complete", False
        self.audit.add("phase_completed", "system", mission=self.inp_mission(), phase=inp.phase,
                       generation=inp.generation)
        self.changed = True

    @workflow.signal(name="phase_failed")
    def phase_failed(self, inp: PhaseFailed) -> None:
        self._mark_failed(inp)

    def _mark_failed(self, inp: PhaseFailed) -> None:
        rec = self.phases.get(inp.phase)
        if rec is None or rec.generation != inp.generation or rec.state != "running":
            return  # already told (the phase's signal and its close event both report it), or replaced
        rec.state, rec.paused, rec.failure = "failed", False, inp.reason
        self.audit.add("phase_failed", "system", mission=self.inp_mission(), phase=inp.phase,
                       generation=inp.generation, reason=inp.reason)
        self.changed = True

    def inp_mission(self) -> str:
        return self.spec.mission if self.spec else ""

    # --- updates ---

    def _coordinator(self, inp: ReopenInput | MigrateInput) -> lc.Act:
        """Who reopens or migrates, resolved with the register at this instant (the same in the
        validator and its handler), else with the roles the caller said are held."""
        if self.register is None:
            return lc.Act(inp.person, inp.role, None if inp.held_roles is None else frozenset(inp.held_roles))
        return authority.resolve(self.register, inp.person, inp.role, workflow_now_us(), kind="coordinate")

    def _check_coordinator(self, inp: ReopenInput | MigrateInput) -> None:
        if self.spec is None:
            refuse("MissionNotStarted", "the mission's exit is still starting; try again")
        with refused():
            lc.check_coordinator(self.spec.coordinator_roles, self._coordinator(inp))
        if self.migrating:
            refuse("MigrationInProgress", "a plan migration is in progress; try again")

    @workflow.update(name="reopen")
    def reopen(self, inp: ReopenInput) -> MissionStatus:
        rec = self.phases[inp.phase]
        rec.generation += 1
        rec.state = "running"
        rec.reopened_by, rec.reopen_reason = inp.person, inp.reason
        rec.reopened_for = self._coordinator(inp).principal
        rec.failure = None
        self.to_start.add(inp.phase)
        self.audit.add("phase_reopened", inp.person, mission=self.inp_mission(), phase=inp.phase,
                       role=inp.role, reason=inp.reason, generation=rec.generation)
        self.changed = True
        return self.status()

    @reopen.validator
    def _validate_reopen(self, inp: ReopenInput) -> None:
        self._check_coordinator(inp)
        rec = self.phases.get(inp.phase)
        if rec is None:
            refuse("UnknownPhase", f"phase {inp.phase!r} is not in the mission's plan")
        if rec.state not in ("complete", "failed"):
            refuse("PhaseNotComplete", f"phase {inp.phase!r} is {rec.state}; only a complete or failed phase "
                   "can be reopened")

    @workflow.update(name="migrate")
    async def migrate(self, inp: MigrateInput) -> MissionStatus:
        assert self.spec is not None
        self.migrating = True
        try:
            new = await workflow.execute_activity(
                "describe_plan", DescribePlanInput(plan_sha256=inp.plan_sha256), result_type=PlanSpec,
                start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY)
            if new.mission != self.spec.mission:
                raise ApplicationError(f"plan {inp.plan_sha256} is for mission {new.mission!r}, "
                                       f"not {self.spec.mission!r}", type="WrongMission", non_retryable=True)
            await self._apply_plan(new, inp)
        finally:
            self.migrating = False
            self.changed = True
        return self.status()

    @migrate.validator
    def _validate_migrate(self, inp: MigrateInput) -> None:
        self._check_coordinator(inp)
        assert self.spec is not None
        if inp.plan_sha256 == self.spec.plan_sha256:
            refuse("SamePlan", f"the mission already runs plan {inp.plan_sha256}")

    async def _apply_plan(self, new: PlanSpec, inp: MigrateInput) -> None:
        assert self.spec is not None
        old = self.spec
        self.spec = new
        phases = {p.id: self.phases.get(p.id) or PhaseRecord(id=p.id) for p in new.phases}
        self.audit.add("plan_migrated", inp.person, mission=new.mission, role=inp.role,
                       **{"from": old.plan_sha256}, to=new.plan_sha256,
                       dropped_phases=sorted(set(self.phases) - set(phases)))
        for pid, rec in self.phases.items():
            if rec.state == "running" and pid not in phases:
                await workflow.get_external_workflow_handle(phase_workflow_id(new.mission, pid)).cancel()
        self.phases = phases
        for p in new.phases:
            if phases[p.id].state == "running" and p.id not in self.to_start:
                await workflow.get_external_workflow_handle(phase_workflow_id(new.mission, p.id)).signal(
                    "plan_changed", PlanChanged(plan_sha256=new.plan_sha256, phase=p, by=inp.person))

    @workflow.update(name="set_register")
    def set_register(self, reg: Register) -> int:
        """The role register changed: the newest copy resolves acts from now on and goes to the
        phases started later (the service sends it to the running ones itself)."""
        if workflow.patched("role-register") and (self.register is None or reg.version > self.register.version):
            self.register = reg
        return self.register.version if self.register is not None else 0

    @workflow.query(name="status")
    def status(self) -> MissionStatus:
        return MissionStatus(mission=self.inp_mission(), plan_sha256=self.spec.plan_sha256 if self.spec else self.inp.plan_sha256,
                             started_by=self.started_by, started_for=self.started_for,
                             phases=list(self.phases.values()),
                             complete=bool(self.phases) and self._complete(),
                             register_version=self.register.version if self.register is not None else None)
