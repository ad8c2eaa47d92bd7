"""In-memory ports for tests and development: the real rule engine, no store, no Temporal.

`InProcessEvidence` keeps one `rules.evidence.Ledger` per mission and stamps each record with
the time of receipt (CONTRACT section 2, live mode). `InProcessGates` evaluates gates with
`rules.evaluate.evaluate_gate` as of now and applies CONTRACT section 4's gate lifecycle and
approval refusal rules. Neither survives a restart: production uses store- and
Temporal-backed ports (docs/api.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rules.evaluate import Waiver, evaluate_gate
from rules.evidence import Ledger, Outcome
from rules.plan import LoadedPlan
from rules.series import EvidenceIndex
from schemas.models import Approval, Phase
from schemas.timefmt import format_timestamp, parse_timestamp

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

__all__ = ["InMemoryAudit", "InProcessEvidence", "InProcessGates", "now_us"]

Clock = Callable[[], int]


def now_us() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True)
class AuditEntry:
    kind: str
    payload: dict[str, Any]
    actor: str
    at: int


@dataclass
class InMemoryAudit:
    clock: Clock = now_us
    entries: list[AuditEntry] = field(default_factory=list)

    async def append(self, kind: str, payload: dict[str, Any], actor: str) -> None:
        self.entries.append(AuditEntry(kind, payload, actor, self.clock()))

    def of_kind(self, kind: str) -> list[AuditEntry]:
        return [e for e in self.entries if e.kind == kind]


class InProcessEvidence:
    def __init__(self, audit: InMemoryAudit, clock: Clock = now_us):
        self.audit = audit
        self.clock = clock
        self.plans: dict[str, LoadedPlan] = {}
        self.ledgers: dict[str, Ledger] = {}
        # Called with (mission, indicators) after records are stored: the in-process stand-in
        # for the workflows' `evidence_changed` signal.
        self.listeners: list[Callable[[str, set[str]], None]] = []
        self._index: dict[str, tuple[int, EvidenceIndex]] = {}

    def add_plan(self, plan: LoadedPlan) -> None:
        self.plans[plan.mission_id] = plan
        self.ledgers.setdefault(plan.mission_id, Ledger(plan))

    async def plan_for_mission(self, mission: str) -> LoadedPlan | None:
        return self.plans.get(mission)

    async def ingest(self, mission: str, raws: Sequence[Any], *, actor: str,
                     backfill: bool = False) -> list[Outcome]:
        ledger = self.ledgers.get(mission)
        if ledger is None:
            raise NotFoundError(f"unknown mission {mission!r}")
        received = self.clock()
        outcomes = [ledger.add(raw, received_at=received, backfill=backfill) for raw in raws]
        stored = [o.id for o in outcomes if o.status == "stored" and o.id is not None]
        if backfill and stored:
            await self.audit.append("evidence.backfill", {"mission": mission, "records": stored}, actor)
        if stored:
            changed = {ledger.records[rid].indicator for rid in stored}
            for listener in self.listeners:
                listener(mission, changed)
        return outcomes

    async def evidence_index(self, mission: str) -> EvidenceIndex:
        if mission not in self.ledgers:
            raise NotFoundError(f"unknown mission {mission!r}")
        return self.index(mission)

    def index(self, mission: str) -> EvidenceIndex:
        ledger = self.ledgers[mission]
        cached = self._index.get(mission)
        if cached is None or cached[0] != len(ledger.records):
            cached = (len(ledger.records), EvidenceIndex(ledger.records.values()))
            self._index[mission] = cached
        return cached[1]


@dataclass
class _Approval:
    person: str
    role: str
    digest: str
    comment: str | None
    at: int


@dataclass
class _GateState:
    approvals: list[_Approval] = field(default_factory=list)
    void: list[_Approval] = field(default_factory=list)
    waivers: dict[str, tuple[Waiver, int]] = field(default_factory=dict)
    rejected_digest: str | None = None
    approved: bool = False


def _quorum_met(rule: Approval, approvals: list[_Approval]) -> bool:
    roles = {a.role for a in approvals}
    count = len(roles) if rule.distinct_roles else len(approvals)
    return count >= rule.quorum and all(r in roles for r in rule.required_roles or ())


class InProcessGates:
    def __init__(self, evidence: InProcessEvidence, audit: InMemoryAudit, clock: Clock = now_us):
        self.evidence = evidence
        self.audit = audit
        self.clock = clock
        self.started_by: dict[str, str] = {}
        self.loaded: dict[str, LoadedPlan] = {}
        self._gates: dict[tuple[str, str], _GateState] = {}
        evidence.listeners.append(self._evidence_changed)

    def start_mission_as(self, mission: str, person: str) -> None:
        """Who started a mission's exit may not approve its gates (separation of duties)."""
        self.started_by[mission] = person

    async def load_plan(self, plan: LoadedPlan, actor: str) -> PlanLoaded:
        self.loaded[plan.sha256] = plan
        running = self.evidence.plans.get(plan.mission_id)
        registered = plan.mission_id not in self.started_by or (running is not None and running.sha256 == plan.sha256)
        if registered:
            self.evidence.add_plan(plan)
        await self.audit.append("plan_loaded", {"mission": plan.mission_id, "sha256": plan.sha256,
                                                "registered": registered}, actor)
        return PlanLoaded(plan=plan.id, version=plan.model.version, mission=plan.mission_id, sha256=plan.sha256,
                          registered=registered,
                          running_plan_sha256=running.sha256 if running and not registered else None)

    async def start_mission(self, mission: str, inp: StartInput) -> MissionStatus:
        plan = self._plan(mission)
        if inp.role not in plan.model.coordinators:
            raise RefusedError(f"role {inp.role!r} may not start the exit; coordinator roles: "
                               + ", ".join(plan.model.coordinators), forbidden=True)
        if inp.role not in inp.held_roles:
            raise RefusedError(f"{inp.person} does not hold role {inp.role!r}", forbidden=True)
        if mission in self.started_by:
            raise RefusedError(f"mission {mission!r}: the exit has already been started")
        self.started_by[mission] = inp.person
        await self.audit.append("mission_started", {"mission": mission, "role": inp.role}, inp.person)
        return await self.status(mission)

    async def reopen(self, mission: str, phase: str, inp: ReopenInput) -> MissionStatus:
        plan = self._plan(mission)
        if inp.role not in plan.model.coordinators or inp.role not in inp.held_roles:
            raise RefusedError(f"{inp.person} may not reopen phases under role {inp.role!r}", forbidden=True)
        ph = plan.phases.get(phase)
        if ph is None:
            raise RefusedError(f"phase {phase!r} is not in the mission's plan")
        if not self._phase_complete(mission, ph):
            raise RefusedError(f"phase {phase!r} is not complete; only a complete phase can be reopened")
        for g in ph.gates:
            st = self._state(mission, g.id)
            st.approved = False
            self._void(st)
        await self.audit.append("phase_reopened", {"mission": mission, "phase": phase, "reason": inp.reason},
                                inp.person)
        return await self.status(mission)

    async def migrate(self, mission: str, inp: MigrateInput) -> MissionStatus:
        plan = self._plan(mission)
        if inp.role not in plan.model.coordinators or inp.role not in inp.held_roles:
            raise RefusedError(f"{inp.person} may not migrate the mission under role {inp.role!r}", forbidden=True)
        new = self.loaded.get(inp.plan_sha256)
        if new is None or new.mission_id != mission:
            raise NotFoundError(f"no loaded plan of mission {mission!r} with sha256 {inp.plan_sha256}")
        if new.sha256 == plan.sha256:
            raise RefusedError(f"the mission already runs plan {inp.plan_sha256}")
        self.evidence.plans[mission] = new
        for st in (v for (m, _), v in self._gates.items() if m == mission and not v.approved):
            self._void(st)
        await self.audit.append("plan_migrated", {"mission": mission, "to": new.sha256}, inp.person)
        return await self.status(mission)

    async def revoke_waiver(self, mission: str, gate: str, inp: RevokeInput) -> GateView:
        view = self._view(mission, gate)
        self._check_role(mission, inp.person, inp.role, inp.held_roles, view.waiver_roles, "revoke waivers of")
        st = self._state(mission, gate)
        if st.waivers.pop(inp.benchmark, None) is None:
            raise RefusedError(f"gate {gate!r}: benchmark {inp.benchmark!r} is not waived")
        await self.audit.append("waiver_revoked", {"mission": mission, "gate": gate, "benchmark": inp.benchmark,
                                                   "reason": inp.reason}, inp.person)
        return self._view(mission, gate)

    # -- reading -----------------------------------------------------------------------

    def _plan(self, mission: str) -> LoadedPlan:
        plan = self.evidence.plans.get(mission)
        if plan is None:
            raise NotFoundError(f"unknown mission {mission!r}")
        return plan

    def _state(self, mission: str, gate: str) -> _GateState:
        return self._gates.setdefault((mission, gate), _GateState())

    def _phase_complete(self, mission: str, phase: Phase) -> bool:
        return all(self._state(mission, g.id).approved for g in phase.gates)

    def _phase_started(self, mission: str, plan: LoadedPlan, phase: Phase) -> bool:
        return all(self._phase_complete(mission, plan.phases[d]) for d in phase.depends_on or ())

    def _view(self, mission: str, gate: str) -> GateView:
        """Evaluate as of now and move the gate's state as CONTRACT section 4 says."""
        plan = self._plan(mission)
        ref = plan.gates.get(gate)
        if ref is None:
            raise NotFoundError(f"mission {mission!r} has no gate {gate!r}")
        st = self._state(mission, gate)
        now = self.clock()
        evaluation: dict[str, Any] | None = None
        if st.approved:
            state = "approved"
        elif not self._phase_started(mission, plan, ref.phase):
            state = "not_started"
        else:
            waivers = [w for w, _ in st.waivers.values() if w.active(now)]
            evaluation = evaluate_gate(plan, gate, self.evidence.index(mission), now, waivers)
            if st.rejected_digest is not None and evaluation["digest"] != st.rejected_digest:
                st.rejected_digest = None
            if evaluation["status"] != "pass":
                self._void(st)
                state = "collecting"
            elif st.rejected_digest is not None:
                state = "collecting"
            else:
                state = "awaiting_approval"
        rule = ref.gate.approval
        return GateView(
            mission=mission, phase=ref.phase.id, gate=gate, name=ref.gate.name, state=state,
            roles=list(rule.roles), quorum=rule.quorum, waiver_roles=list(rule.waiver_roles or ()),
            as_of=format_timestamp(now), evaluation=evaluation,
            approvals=[_approval_view(a, False) for a in st.approvals]
            + [_approval_view(a, True) for a in st.void],
            waivers=[WaiverView(benchmark=w.benchmark, by=w.by, justification=w.justification,
                                until=format_timestamp(w.until) if w.until is not None else None,
                                at=format_timestamp(at)) for w, at in st.waivers.values()],
            rejected_digest=st.rejected_digest,
            evidence=self._briefs(mission, evaluation),
        )

    def _briefs(self, mission: str, evaluation: dict[str, Any] | None) -> dict[str, EvidenceBrief]:
        if evaluation is None:
            return {}
        records = self.evidence.ledgers[mission].records
        out: dict[str, EvidenceBrief] = {}
        stack = [evaluation["explanation"]]
        while stack:
            node = stack.pop()
            stack.extend(node.get("children", ()))
            for rid in node.get("evidence", ()):
                r = records.get(rid)
                if r is not None:
                    out[rid] = EvidenceBrief(value=r.value, observed_at=format_timestamp(r.observed_at),
                                             source=r.source)
        return out

    def _void(self, st: _GateState) -> None:
        st.void.extend(st.approvals)
        st.approvals.clear()

    def _evidence_changed(self, mission: str, indicators: set[str]) -> None:
        plan = self._plan(mission)
        for gate in plan.gates:
            if plan.gate_indicators(gate) & indicators:
                self._view(mission, gate)

    async def gate(self, mission: str, gate: str) -> GateView:
        return self._view(mission, gate)

    async def status(self, mission: str) -> MissionStatus:
        plan = self._plan(mission)
        phases = []
        for phase in plan.model.phases:
            views = [self._view(mission, g.id) for g in phase.gates]
            if all(v.state == "approved" for v in views):
                state = "complete"
            elif not self._phase_started(mission, plan, phase):
                state = "not_started"
            else:
                state = "running"
            phases.append(PhaseStatus(phase=phase.id, name=phase.name, state=state, gates=views))
        return MissionStatus(mission=mission, plan=plan.id, plan_sha256=plan.sha256,
                             as_of=format_timestamp(self.clock()), phases=phases)

    async def gates_awaiting(self, person: str, roles: frozenset[str]) -> list[AwaitingGate]:
        out = []
        for mission, plan in self.evidence.plans.items():
            if self.started_by.get(mission) == person:
                continue
            for gate, ref in plan.gates.items():
                mine = [r for r in ref.gate.approval.roles if r in roles]
                if not mine:
                    continue
                view = self._view(mission, gate)
                if view.state != "awaiting_approval" or view.evaluation is None:
                    continue
                if any(a.person == person and not a.void for a in view.approvals):
                    continue
                out.append(AwaitingGate(
                    mission=mission, phase=view.phase, gate=gate, name=view.name,
                    digest=view.evaluation["digest"], quorum=view.quorum, roles=mine,
                    approvals=sum(1 for a in view.approvals if not a.void)))
        return out

    # -- acting ------------------------------------------------------------------------

    def _check_role(self, mission: str, person: str, role: str, held: tuple[str, ...],
                    allowed: list[str], what: str) -> None:
        if role not in allowed:
            raise RefusedError(f"role {role!r} may not {what} this gate (roles: {', '.join(allowed) or 'none'})",
                               forbidden=True)
        if role not in held:
            raise RefusedError(f"{person} does not hold role {role!r}", forbidden=True)
        if self.started_by.get(mission) == person:
            raise RefusedError(f"{person} started this mission's exit and so may not {what} its gates "
                               "(separation of duties)", forbidden=True)

    def _check_open(self, view: GateView, digest: str) -> None:
        if view.state != "awaiting_approval" or view.evaluation is None:
            raise RefusedError(f"gate {view.gate!r} is not awaiting approval (state: {view.state})")
        current = view.evaluation["digest"]
        if digest != current:
            raise RefusedError(f"digest {digest[:12]}… is not the current evaluation of gate {view.gate!r} "
                               f"(current: {current[:12]}…): the evidence changed; review it again")

    async def approve(self, mission: str, gate: str, inp: ApproveInput) -> GateView:
        view = self._view(mission, gate)
        self._check_role(mission, inp.person, inp.role, inp.held_roles, view.roles, "approve")
        if view.state == "approved":
            raise RefusedError(f"gate {gate!r} is not awaiting approval (state: approved)")
        st = self._state(mission, gate)
        if any(a.person == inp.person for a in st.approvals):
            raise RefusedError(f"{inp.person} already approved gate {gate!r}")
        self._check_open(view, inp.digest)
        st.approvals.append(_Approval(inp.person, inp.role, inp.digest, inp.comment, self.clock()))
        await self.audit.append("approval", {"mission": mission, "gate": gate, "role": inp.role,
                                             "digest": inp.digest, "comment": inp.comment}, inp.person)
        if _quorum_met(self._plan(mission).gates[gate].gate.approval, st.approvals):
            st.approved = True
            await self.audit.append("gate.approved", {"mission": mission, "gate": gate}, inp.person)
        return self._view(mission, gate)

    async def reject(self, mission: str, gate: str, inp: RejectInput) -> GateView:
        view = self._view(mission, gate)
        self._check_role(mission, inp.person, inp.role, inp.held_roles, view.roles, "reject")
        self._check_open(view, inp.digest)
        st = self._state(mission, gate)
        self._void(st)
        st.rejected_digest = inp.digest
        await self.audit.append("rejection", {"mission": mission, "gate": gate, "role": inp.role,
                                              "digest": inp.digest, "reason": inp.reason}, inp.person)
        return self._view(mission, gate)

    async def waive(self, mission: str, gate: str, inp: WaiveInput) -> GateView:
        view = self._view(mission, gate)
        self._check_role(mission, inp.person, inp.role, inp.held_roles, view.waiver_roles, "waive benchmarks of")
        plan = self._plan(mission)
        found = plan.benchmarks.get(inp.benchmark)
        if found is None or found[0].id != gate:
            raise RefusedError(f"gate {gate!r} has no benchmark {inp.benchmark!r}")
        if found[2]:
            raise RefusedError(f"benchmark {inp.benchmark!r} is under a `not` and cannot be waived")
        if view.state in ("approved", "not_started"):
            raise RefusedError(f"gate {gate!r} cannot be waived now (state: {view.state})")
        until = parse_timestamp(inp.until) if inp.until is not None else None
        now = self.clock()
        if until is not None and until <= now:
            raise RefusedError(f"until {inp.until} is not in the future")
        st = self._state(mission, gate)
        st.waivers[inp.benchmark] = (Waiver(inp.benchmark, inp.person, inp.justification, until), now)
        await self.audit.append("waiver", {"mission": mission, "gate": gate, "benchmark": inp.benchmark,
                                           "justification": inp.justification, "until": inp.until}, inp.person)
        return self._view(mission, gate)


def _approval_view(a: _Approval, void: bool) -> ApprovalView:
    return ApprovalView(person=a.person, role=a.role, digest=a.digest, comment=a.comment,
                        at=format_timestamp(a.at), void=void)
