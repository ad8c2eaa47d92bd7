"""What the web pages read: a mission's overview, a person's portfolio, the store's latest audit
entries and each indicator's freshness.

Gate states come from the workflows (status queries, or the visibility list's search attributes
for the portfolio, one call for every mission); evidence and the audit log from the store, with
aggregate queries so a page costs a few round trips whatever the mission's size. Nothing here
writes. Plans are immutable by sha256, so their parsed form is kept per process.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from lifecycle import gate as lc
from rules.plan import LoadedPlan
from schemas import messages as m
from schemas.register import Assignment, Delegation
from schemas.timefmt import DAY, parse_duration
from store import AuditEntry, now_us
from store.spec import plan_spec

from .core import Service
from .errors import Caller, Refused
from .temporal import PhaseRead, mission_status, phase_read

__all__ = ["Freshness", "GateLine", "MissionOverview", "PhaseNode", "PortfolioRow", "Reads", "SourceLast",
           "mission_roles"]

STALE_SOON_US = 30 * DAY  # the portfolio's "going stale within 30 days"
AUDIT_LATEST = 25


@dataclass
class GateLine:
    """A gate as the overview shows it, straight from the workflow's state (no re-evaluation)."""

    gate: str
    name: str
    state: str  # not_started | collecting | awaiting_approval | approved | paused
    status: str | None  # the rule's latest status
    digest: str | None
    evaluated_at: str | None
    valid_until: str | None
    approvals: list[m.ApprovalRecord]
    rejections: list[m.ApprovalRecord]
    quorum: int
    waivers: list[m.WaiverInfo]
    awaiting_since_us: int | None
    escalated: bool
    reminders_sent: int

    @property
    def light(self) -> str:
        return _light(self.state, self.status)


@dataclass
class PhaseNode:
    phase: str
    name: str
    state: str  # not_started | running | paused | complete | failed
    depends_on: list[str]
    gates: list[GateLine]
    depth: int = 0

    @property
    def light(self) -> str:
        if self.state == "complete":
            return "green"
        if self.state == "failed":
            return "red"
        if self.state == "not_started":
            return "grey"
        lights = {g.light for g in self.gates}
        for worst in ("red", "amber", "grey"):
            if worst in lights:
                return worst
        return "green"


@dataclass
class SourceLast:
    source: str
    last_observed: int | None
    last_known: int | None
    records: int
    silent: bool  # declared by the plan and nothing observed within the indicator's horizon


@dataclass
class Freshness:
    indicator: str
    name: str
    last_observed: int | None
    last_known: int | None
    max_age_us: int | None  # the strictest max_age of the benchmarks that read it
    stale_at: int | None
    stale: bool
    sources: list[SourceLast]
    benchmarks: list[str]


@dataclass
class MissionOverview:
    mission: str
    name: str
    plan: str
    plan_version: str | None
    plan_sha256: str
    newer_plans: list[tuple[str, str | None, int]]  # (sha256, version, created_at) loaded after the running one
    started: bool
    started_by: str | None
    as_of: int
    phases: list[PhaseNode]
    audit: list[AuditEntry]
    freshness: list[Freshness]
    roles: dict[str, list[tuple[str, str | None]]]  # role -> what it may do in this mission's plan
    my_roles: set[str] = field(default_factory=set)  # what the reader holds in this mission now
    register_version: int = 0  # 0: the mission has no role register (roles come with API keys)
    holders: list[Assignment] = field(default_factory=list)  # in force now
    delegations: list[Delegation] = field(default_factory=list)  # in force now


@dataclass
class PortfolioRow:
    mission: str
    name: str
    phase_reached: str | None  # the last phase (plan order) that has started
    phase_reached_name: str | None
    phases: int
    awaiting: int
    oldest_wait_us: int | None  # since when the longest-waiting gate awaits approval
    stale_soon: list[str] = field(default_factory=list)  # benchmarks going stale within 30 days
    last_regression_at: int | None = None
    last_regression: str | None = None  # "gate: reason"


def _light(state: str, status: str | None) -> str:
    if state in ("approved", "awaiting_approval"):
        return "green"
    if status == "fail":
        return "red"
    if status == "unknown":
        return "amber"
    return "grey"


def mission_roles(plan: LoadedPlan) -> dict[str, list[tuple[str, str | None]]]:
    """Each role the plan names and what it may do there, as (act, gate): `coordinate`,
    `approve` and `waive` (per gate). The roles a person can hold in this mission."""
    out: dict[str, list[tuple[str, str | None]]] = {}
    for r in plan.model.coordinators:
        out.setdefault(r, []).append(("coordinate", None))
    for ph in plan.model.phases:
        for g in ph.gates:
            for r in g.approval.roles:
                out.setdefault(r, []).append(("approve", g.id))
            for r in g.approval.waiver_roles or ():
                out.setdefault(r, []).append(("waive", g.id))
    return out


def _escape_like(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _in_payload(key: str, value: str) -> str:
    # Payloads are stored as canonical JSON (no spaces), so a key/value pair is a substring.
    return "%" + _escape_like(json.dumps({key: value}, ensure_ascii=False, separators=(",", ":"))[1:-1]) + "%"


class Reads:
    """The pages' reads over one service (its store and Temporal client)."""

    def __init__(self, service: Service):
        self.service = service
        self.store = service.store
        self._plans: dict[str, LoadedPlan] = {}

    # -- plans and missions -------------------------------------------------------------------

    def _plan(self, sha256: str) -> LoadedPlan:
        plan = self._plans.get(sha256)
        if plan is None:
            plan = self._plans[sha256] = self.store.load_plan(sha256)
        return plan

    async def plan(self, mission: str) -> LoadedPlan:
        """The mission's plan, or Refused(UnknownMission) as every other read says it."""
        plan = await self.service.plan_for_mission(mission)
        if plan is None:
            raise Refused("UnknownMission", f"unknown mission {mission!r}: load its plan first")
        return plan

    def missions(self) -> list[tuple[str, LoadedPlan]]:
        """Every registered mission with its plan. Blocking."""
        with self.store.read() as conn:
            rows = conn.execute(text("SELECT id, plan_sha256 FROM missions ORDER BY id")).all()
        return [(r[0], self._plan(r[1])) for r in rows]

    def roles_in(self, caller: Caller, plan: LoadedPlan, at: int | None = None) -> set[str]:
        """The plan's roles this person holds in the mission at `at` (default now). Blocking."""
        return self.roles_by_mission(caller, [plan], at).get(plan.mission_id, set())

    def roles_by_mission(self, caller: Caller, plans: list[LoadedPlan], at: int | None = None) -> dict[str, set[str]]:
        """Per mission, the plan's roles this person holds at `at` by the mission's role register:
        their assignments and the delegations to them (an operator: every role). Two queries for
        every mission. Blocking."""
        at = now_us() if at is None else at
        args = {"p": caller.name, "at": at}
        if caller.operator:
            return {plan.mission_id: set(mission_roles(plan)) for plan in plans}
        with self.store.read() as conn:
            rows = list(conn.execute(text(
                "SELECT mission, role FROM role_assignments WHERE person = :p AND from_us <= :at"
                " AND (until_us IS NULL OR until_us > :at)"), args).all())
            rows += conn.execute(text(
                "SELECT mission, role FROM role_delegations WHERE delegate = :p AND from_us <= :at"
                " AND until_us > :at"), args).all()
        held: dict[str, set[str]] = {}
        for mission, role in rows:
            held.setdefault(mission, set()).add(role)
        return {plan.mission_id: held.get(plan.mission_id, set()) & set(mission_roles(plan)) for plan in plans}

    def missions_for(self, caller: Caller) -> list[tuple[str, LoadedPlan]]:
        """The missions in which this person holds one of the plan's roles. Blocking."""
        missions = self.missions()
        mine = self.roles_by_mission(caller, [plan for _, plan in missions])
        return [(mid, plan) for mid, plan in missions if mine.get(mid)]

    def plans_of(self, mission: str) -> list[tuple[str, str | None, int]]:
        """Every plan loaded for the mission: (sha256, version, created_at), oldest first. Blocking."""
        out = []
        with self.store.read() as conn:
            rows = conn.execute(text("SELECT sha256, version, created_at FROM plans ORDER BY created_at, sha256")).all()
        for sha, version, created in rows:
            if self._plan(sha).mission_id == mission:
                out.append((sha, version, created))
        return out

    # -- the audit log ------------------------------------------------------------------------

    def audit_latest(self, mission: str, limit: int = AUDIT_LATEST, gate: str | None = None) -> list[AuditEntry]:
        """The mission's newest audit entries, newest first. Blocking."""
        q = "SELECT seq, at, kind, actor, payload, prev_hash, hash FROM audit_log WHERE payload LIKE :m ESCAPE '\\'"
        args: dict[str, Any] = {"m": _in_payload("mission", mission)}
        if gate is not None:
            q += " AND payload LIKE :g ESCAPE '\\'"
            args["g"] = _in_payload("gate", gate)
        out: list[AuditEntry] = []
        with self.store.read() as conn:
            # Read in pages from the newest: a LIKE match can be a false one (checked below).
            before = None
            while len(out) < limit:
                page_q = q + (" AND seq < :before" if before is not None else "") + " ORDER BY seq DESC LIMIT :n"
                rows = conn.execute(text(page_q), {**args, "before": before, "n": limit * 2}).all()
                if not rows:
                    break
                for s, a, k, ac, p, pv, h in rows:
                    payload = json.loads(p)
                    if payload.get("mission") == mission and (gate is None or payload.get("gate") == gate):
                        out.append(AuditEntry(s, a, k, ac, payload, pv, h))
                before = rows[-1][0]
        return out[:limit]

    def audit_of_gate(self, mission: str, gate: str, phase: str, upto: int | None = None) -> list[AuditEntry]:
        """Every audit entry of one gate and of its phase's starts and plan migrations, oldest
        first. Blocking."""
        q = ("SELECT seq, at, kind, actor, payload, prev_hash, hash FROM audit_log WHERE payload LIKE :m ESCAPE '\\'"
             " AND (payload LIKE :g ESCAPE '\\' OR kind IN ('phase_started', 'phase_plan_migrated'))"
             + (" AND seq <= :upto" if upto is not None else "") + " ORDER BY seq")
        out = []
        with self.store.read() as conn:
            rows = conn.execute(text(q), {"m": _in_payload("mission", mission), "g": _in_payload("gate", gate),
                                          "upto": upto}).all()
        for s, a, k, ac, p, pv, h in rows:
            payload = json.loads(p)
            if payload.get("mission") != mission:
                continue
            if payload.get("gate") == gate or (k in ("phase_started", "phase_plan_migrated")
                                               and payload.get("phase") == phase):
                out.append(AuditEntry(s, a, k, ac, payload, pv, h))
        return out

    def audit_head(self) -> tuple[int, str]:
        with self.store.read() as conn:
            row = conn.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).first()
        return (int(row[0]), str(row[1])) if row else (0, "0" * 64)

    def audit_seq_at(self, at: int) -> int:
        """The last entry written at or before `at` (0 when none)."""
        with self.store.read() as conn:
            row = conn.execute(text("SELECT max(seq) FROM audit_log WHERE at <= :at"), {"at": at}).first()
        return int(row[0]) if row and row[0] is not None else 0

    # -- evidence freshness -------------------------------------------------------------------

    def _last_by_source(self, missions: Iterable[str] | None) -> dict[tuple[str, str, str], tuple[int, int, int]]:
        """(mission, indicator, source) -> (newest observed_at, newest known_at, records)."""
        q = ("SELECT mission, indicator, source, max(observed_at), max(known_at), count(*) FROM evidence"
             " GROUP BY mission, indicator, source")
        wanted = set(missions) if missions is not None else None
        with self.store.read() as conn:
            rows = conn.execute(text(q)).all()
        return {(r[0], r[1], r[2]): (int(r[3]), int(r[4]), int(r[5])) for r in rows
                if wanted is None or r[0] in wanted}

    def freshness(self, plan: LoadedPlan, now: int,
                  last: dict[tuple[str, str, str], tuple[int, int, int]] | None = None) -> list[Freshness]:
        """Per indicator: the newest report, when it goes stale (the strictest max_age of the
        benchmarks that read it) and the declared sources that stopped reporting. Blocking."""
        mission = plan.mission_id
        if last is None:
            last = self._last_by_source([mission])
        ages: dict[str, list[int]] = {}
        users: dict[str, list[str]] = {}
        for bid, (_, b, _) in plan.benchmarks.items():
            users.setdefault(b.indicator, []).append(bid)
            if b.max_age:
                ages.setdefault(b.indicator, []).append(parse_duration(b.max_age))
        out = []
        for ind in plan.model.indicators:
            seen = {src: v for (mi, i, src), v in last.items() if mi == mission and i == ind.id}
            newest = max((v[0] for v in seen.values()), default=None)
            known = max((v[1] for v in seen.values()), default=None)
            max_age = min(ages[ind.id]) if ind.id in ages else None
            stale_at = newest + max_age if newest is not None and max_age is not None else None
            horizon = max_age if max_age is not None else STALE_SOON_US
            sources = []
            for src in sorted(set(ind.sources or ()) | set(seen)):
                obs, kn, n = seen.get(src, (None, None, 0))
                silent = src in (ind.sources or ()) and (obs is None or obs + horizon < now)
                sources.append(SourceLast(src, obs, kn, n, silent))
            out.append(Freshness(ind.id, ind.name, newest, known, max_age, stale_at,
                                 stale_at is not None and stale_at <= now, sources, sorted(users.get(ind.id, []))))
        return out

    # -- the overview -------------------------------------------------------------------------

    async def overview(self, mission: str, caller: Caller) -> MissionOverview:
        plan = await self.plan(mission)
        ms = await mission_status(self.service.client, mission)
        records = {p.id: p for p in ms.phases} if ms else {}
        started = [ph.id for ph in plan.model.phases if ph.id in records and records[ph.id].state != "pending"]
        reads = await asyncio.gather(*(phase_read(self.service.client, mission, pid) for pid in started))
        by_phase = dict(zip(started, reads, strict=True))
        now = now_us()
        if ms is not None and ms.plan_sha256 != plan.sha256:
            plan = await asyncio.to_thread(self._plan, ms.plan_sha256)
        phases = [self._phase_node(plan, ph.id, records.get(ph.id), by_phase.get(ph.id)) for ph in plan.model.phases]
        _depths(phases)

        def store_reads() -> tuple[list[AuditEntry], list[Freshness], list[tuple[str, str | None, int]], Any, set[str]]:
            return (self.audit_latest(mission), self.freshness(plan, now), self.plans_of(mission),
                    self.store.role_register(mission), self.roles_in(caller, plan, now))

        audit, fresh, plans, reg, mine = await asyncio.to_thread(store_reads)
        running_at = next((c for s, _, c in plans if s == plan.sha256), None)
        newer = [p for p in plans if p[0] != plan.sha256 and running_at is not None and p[2] > running_at]
        return MissionOverview(
            mission=mission, name=plan.model.mission.name, plan=plan.id, plan_version=plan.model.version,
            plan_sha256=plan.sha256, newer_plans=newer, started=ms is not None,
            started_by=ms.started_by if ms else None, as_of=now, phases=phases, audit=audit, freshness=fresh,
            roles=mission_roles(plan), my_roles=mine, register_version=reg.version,
            holders=[a for a in reg.assignments if a.active(now)],
            delegations=[d for d in reg.delegations if d.active(now)])

    def _phase_node(self, plan: LoadedPlan, pid: str, rec: m.PhaseRecord | None, read: PhaseRead | None) -> PhaseNode:
        ph = plan.phases[pid]
        states = {g.gate: g for g in read.status.gates} if read is not None else {}
        paused = read is not None and read.status.paused
        gates = []
        for g in ph.gates:
            st = states.get(g.id)
            state = "not_started" if st is None else ("paused" if paused and st.state != "approved" else st.state)
            gates.append(GateLine(
                gate=g.id, name=g.name, state=state, status=st.status if st else None,
                digest=st.digest if st else None, evaluated_at=st.evaluated_at if st else None,
                valid_until=st.valid_until if st else None, approvals=list(st.approvals) if st else [],
                rejections=list(st.rejections) if st else [], quorum=g.approval.quorum,
                waivers=list(st.waivers) if st else [], awaiting_since_us=st.awaiting_since_us if st else None,
                escalated=bool(st and st.escalated), reminders_sent=st.reminders_sent if st else 0))
        if rec is None or rec.state == "pending":
            phase_state = "not_started"
        elif rec.state == "running" and rec.paused:
            phase_state = "paused"
        else:
            phase_state = rec.state
        return PhaseNode(pid, ph.name, phase_state, list(ph.depends_on or ()), gates)

    # -- the portfolio ------------------------------------------------------------------------

    async def portfolio(self, caller: Caller) -> list[PortfolioRow]:
        """One row per mission this person holds a role in. Gate states from the visibility
        list (one call for every phase workflow), waits from the phases that await approval."""
        mine = await asyncio.to_thread(self.missions_for, caller)
        if not mine:
            return []
        wanted = {mid for mid, _ in mine}
        phases: dict[tuple[str, str], tuple[Any, list[str]]] = {}
        query = f"WorkflowType = 'Phase' AND TaskQueue = '{self.service.task_queue}'"
        async for wf in self.service.client.list_workflows(query):
            sa = wf.search_attributes
            mission = _first(sa.get(m.SA_MISSION))
            phase = _first(sa.get(m.SA_PHASE))
            if mission not in wanted or phase is None:
                continue
            key = (mission, phase)
            # The newest run of a phase (a reopened phase runs again under the same id) tells.
            if key not in phases or (wf.start_time and phases[key][0].start_time
                                     and wf.start_time > phases[key][0].start_time):
                phases[key] = (wf, [str(s) for s in sa.get(m.SA_GATE_STATES, [])])
        awaiting = {(mid, pid): [st.split(":")[0] for st in states if st.endswith(":awaiting_approval")]
                    for (mid, pid), (wf, states) in phases.items()
                    if "awaiting_approval" in states and wf.status is not None and wf.status.name == "RUNNING"}
        # Since when each gate awaits: its audit entry (one query for every mission); a phase
        # whose entry is not written yet (the phase writes in group commits) is asked.
        since = await asyncio.to_thread(self._awaiting_since, wanted)
        waits: dict[str, list[int]] = {}
        ask = []
        for (mid, pid), gates in awaiting.items():
            if all((mid, g) in since for g in gates):
                waits.setdefault(mid, []).extend(since[(mid, g)] for g in gates)
            else:
                ask.append((mid, pid))
        limit = asyncio.Semaphore(16)

        async def wait_of(mid: str, pid: str) -> tuple[str, list[int]]:
            async with limit:
                read = await phase_read(self.service.client, mid, pid)
            return mid, [g.awaiting_since_us for g in read.status.gates
                         if g.state == "awaiting_approval" and g.awaiting_since_us] if read else []

        for mid, found in await asyncio.gather(*(wait_of(mid, pid) for mid, pid in ask)):
            waits.setdefault(mid, []).extend(found)
        now = now_us()

        def store_reads() -> tuple[dict[tuple[str, str, str], tuple[int, int, int]], dict[str, tuple[int, str]]]:
            return self._last_by_source(wanted), self._last_regressions(wanted)

        last, regressions = await asyncio.to_thread(store_reads)
        rows = []
        for mid, plan in mine:
            reached = [ph for ph in plan.model.phases if (mid, ph.id) in phases]
            n_awaiting = sum(st.startswith(f"{g.id}:awaiting_approval") for ph in plan.model.phases
                             for g in ph.gates for st in phases.get((mid, ph.id), (None, []))[1])
            stale_soon = []
            for f in self.freshness(plan, now, last):
                if f.stale_at is not None and now < f.stale_at <= now + STALE_SOON_US:
                    stale_soon += [b for b in f.benchmarks if plan.benchmarks[b][1].max_age]
            reg = regressions.get(mid)
            rows.append(PortfolioRow(
                mission=mid, name=plan.model.mission.name, phase_reached=reached[-1].id if reached else None,
                phase_reached_name=reached[-1].name if reached else None, phases=len(plan.model.phases),
                awaiting=n_awaiting, oldest_wait_us=min(waits[mid]) if waits.get(mid) else None,
                stale_soon=sorted(stale_soon), last_regression_at=reg[0] if reg else None,
                last_regression=reg[1] if reg else None))
        return rows

    def _awaiting_since(self, missions: set[str]) -> dict[tuple[str, str], int]:
        """(mission, gate) -> when its move to awaiting approval was audited, for gates whose
        newest audited transition is that move. Blocking."""
        q = ("SELECT at, payload FROM audit_log WHERE kind = 'gate_transition'"
             " AND (payload LIKE :t ESCAPE '\\' OR payload LIKE :f ESCAPE '\\') ORDER BY seq")
        out: dict[tuple[str, str], int] = {}
        with self.store.read() as conn:
            rows = conn.execute(text(q), {"t": _in_payload("to", "awaiting_approval"),
                                          "f": _in_payload("from", "awaiting_approval")}).all()
        for at, p in rows:
            payload = json.loads(p)
            if payload.get("mission") not in missions:
                continue
            key = (payload["mission"], str(payload.get("gate")))
            if payload.get("to") == "awaiting_approval":
                out[key] = int(at)
            elif payload.get("from") == "awaiting_approval":
                out.pop(key, None)
        return out

    def _last_regressions(self, missions: set[str]) -> dict[str, tuple[int, str]]:
        """Per mission, the newest gate that fell back from awaiting approval (the rule stopped
        passing): (when, "gate: reason"). Blocking."""
        q = ("SELECT at, payload FROM audit_log WHERE kind = 'gate_transition' AND payload LIKE :f ESCAPE '\\'"
             " AND payload LIKE :t ESCAPE '\\' ORDER BY seq")
        out: dict[str, tuple[int, str]] = {}
        with self.store.read() as conn:
            rows = conn.execute(text(q), {"f": _in_payload("from", "awaiting_approval"),
                                          "t": _in_payload("to", "collecting")}).all()
        for at, p in rows:
            payload = json.loads(p)
            if payload.get("mission") in missions and str(payload.get("reason", "")).startswith("rule stopped"):
                out[payload["mission"]] = (int(at), f"{payload.get('gate')}: {payload.get('reason')}")
        return out

    # -- who may act now ----------------------------------------------------------------------

    async def gate_context(self, mission: str, gate: str) -> tuple[LoadedPlan, lc.GateContext]:
        """The gate as the lifecycle's checks see it now (what the workflow's validators decide
        with), for saying which acts a person may take before offering them."""
        plan = await self.plan(mission)
        ref = plan.gates.get(gate)
        if ref is None:
            raise KeyError(gate)
        spec = next(g for p in plan_spec(plan).phases for g in p.gates if g.id == gate)
        ms = await mission_status(self.service.client, mission)
        read = await phase_read(self.service.client, mission, ref.phase.id) if ms else None
        if ms is None or read is None:
            return plan, lc.GateContext(spec, None, "not_started", ms.started_by if ms else "")
        rec = next((p for p in ms.phases if p.id == ref.phase.id), None)
        st = next((g for g in read.status.gates if g.gate == gate), None)
        phase_state: lc.PhaseState = ("complete" if not read.running
                                      else "paused" if read.status.paused else "running")
        return plan, lc.GateContext(spec, st, phase_state, ms.started_by, rec.reopened_by if rec else None)


def _first(v: Any) -> str | None:
    if isinstance(v, list):
        return str(v[0]) if v else None
    return None if v is None else str(v)


def _depths(phases: list[PhaseNode]) -> None:
    """Each phase's column in the dependency graph: the longest chain of phases before it."""
    by_id = {p.phase: p for p in phases}
    memo: dict[str, int] = {}

    def depth(pid: str) -> int:
        if pid not in memo:
            memo[pid] = 0  # a cycle is refused when the plan loads; this only guards the recursion
            memo[pid] = max((depth(d) + 1 for d in by_id[pid].depends_on if d in by_id), default=0)
        return memo[pid]

    for p in phases:
        p.depth = depth(p.phase)
