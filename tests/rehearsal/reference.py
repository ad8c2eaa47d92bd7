"""A small reference simulator of CONTRACT sections 4 and 5, written from the contract alone.

Plain Python: nothing of lifecycle/, workflows/, rules/ or the service. It knows only the
plans the property test generates: each gate's rule is one benchmark, `latest <indicator> <= 5`
with no window and no max_age (so nothing happens between instants), no timers and no expiry.
The register is section 5's: assignments over time, grants and role ends by coordinators,
delegations (mission-wide or for named gates) whose votes count for their principal. A rule
passes when the latest known value is at most 5 (or its benchmark is waived), is unknown with no value, and fails otherwise. The digest is what the
explanation depends on: the records known for the indicator, and the waiver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Reference"]


@dataclass
class Gate:
    id: str
    phase: str
    indicator: str
    benchmark: str
    roles: list[str]
    quorum: int
    distinct_roles: bool
    waiver_roles: list[str]
    state: str = "not_started"
    status: str | None = None
    digest: Any = None
    approvals: list[tuple[str, str, str]] = field(default_factory=list)  # (signer, role, principal)
    rejections: list[tuple[str, str, str]] = field(default_factory=list)
    waived: bool = False
    rejected_digest: Any = None


class Refused(Exception):
    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


class Reference:
    def __init__(self, plan: dict[str, Any], register: list[dict[str, Any]], parse: Any):
        self.parse = parse  # RFC 3339 -> microseconds (schemas.timefmt, a format, not a rule)
        self.coordinators = plan["coordinator_roles"]
        self.depends = {p["id"]: p["depends_on"] for p in plan["phases"]}
        self.phase = {p["id"]: "not_started" for p in plan["phases"]}
        self.reopened_by: dict[str, str | None] = {p: None for p in self.phase}
        self.gates: dict[str, Gate] = {}
        for p in plan["phases"]:
            for g in p["gates"]:
                b = g["rule"]["benchmark"]
                a = g["approval"]
                self.gates[g["id"]] = Gate(g["id"], p["id"], b["indicator"], b["id"], a["roles"], a["quorum"],
                                           a.get("distinct_roles", False), a.get("waiver_roles", []))
        # [person, role, from, until]; delegations: [delegator, role, delegate, from, until, gates]
        self.assignments: list[list[Any]] = [[a["person"], a["role"], parse(a["from"]),
                                             parse(a["until"]) if a.get("until") else None] for a in register]
        self.delegations: list[list[Any]] = []
        self.known: dict[str, list[tuple[int, str, float]]] = {}  # indicator -> (observed, id, value)
        self.started_by: str | None = None

    # -- who holds what ---------------------------------------------------------------------

    def holds(self, person: str, role: str, t: int) -> bool:
        return any(p == person and r == role and f <= t and (u is None or t < u) for p, r, f, u in self.assignments)

    def principal(self, person: str, role: str, t: int, gate: str | None, behalf: str | None) -> str:
        """Whose act this is: the person's own assignment first (unless they name someone
        else), else the first delegation, in the order made, that covers it now."""
        if behalf in (None, person) and self.holds(person, role, t):
            return person
        for d, r, to, f, u, gates in self.delegations:
            if (to == person and r == role and f <= t < u and (behalf is None or behalf == d)
                    and (gates is None or (gate is not None and gate in gates)) and self.holds(d, role, t)):
                return d
        raise Refused("RoleNotHeld")

    # -- evaluation -------------------------------------------------------------------------

    def evaluate(self, g: Gate) -> None:
        if g.state in ("approved", "not_started"):
            return
        points = sorted(self.known.get(g.indicator, []))
        if g.waived:
            status = "pass"
        elif not points:
            status = "unknown"
        else:
            status = "pass" if points[-1][2] <= 5 else "fail"
        g.status = status
        g.digest = (tuple(sorted(p[1] for p in points)), g.waived)
        if g.rejected_digest is not None and g.digest != g.rejected_digest:
            g.rejected_digest = None
        if g.state == "collecting" and status == "pass" and g.rejected_digest is None:
            g.state = "awaiting_approval"
        elif g.state == "awaiting_approval" and status != "pass":
            g.approvals, g.rejections = [], []
            g.state = "collecting"

    def evidence(self, rec: dict[str, Any]) -> None:
        self.known.setdefault(rec["indicator"], []).append((self.parse(rec["observed_at"]), rec["id"], rec["value"]))
        for g in self.gates.values():
            if g.indicator == rec["indicator"] and self.phase[g.phase] in ("running", "paused"):
                self.evaluate(g)

    # -- phases -----------------------------------------------------------------------------

    def _ancestors(self, pid: str) -> set[str]:
        out: set[str] = set()
        todo = list(self.depends[pid])
        while todo:
            p = todo.pop()
            if p not in out:
                out.add(p)
                todo += self.depends[p]
        return out

    def _start_phase(self, pid: str) -> None:
        self.phase[pid] = "running"
        for g in self.gates.values():
            if g.phase == pid:
                g.state = "collecting"
                self.evaluate(g)

    def _settle_phases(self) -> None:
        changed = True
        while changed:
            changed = False
            for pid, state in self.phase.items():
                gates = [g for g in self.gates.values() if g.phase == pid]
                if state == "running" and all(g.state == "approved" for g in gates):
                    self.phase[pid] = "complete"
                    self.reopened_by[pid] = None
                    changed = True
                elif state == "not_started" and self.started_by is not None and all(
                        self.phase[d] == "complete" for d in self.depends[pid]):
                    self._start_phase(pid)
                    changed = True
                elif state == "paused" and all(self.phase[a] == "complete" for a in self._ancestors(pid)):
                    self.phase[pid] = "running"
                    changed = True

    # -- acts -------------------------------------------------------------------------------

    def act(self, a: dict[str, Any]) -> str | None:
        """Apply one action; returns the refusal type, or None when accepted."""
        try:
            getattr(self, "_" + a.get("do", "start"))(a, self.parse(a["at"]))
        except Refused as exc:
            return exc.kind
        self._settle_phases()
        return None

    def _who(self, a: dict[str, Any], t: int, allowed: list[str], gate: str | None = None,
             role_key: str = "role", person_key: str = "person") -> str:
        if a[role_key] not in allowed:
            raise Refused("RoleNotAllowed")
        return self.principal(a[person_key], a[role_key], t, gate, a.get("on_behalf_of"))

    def _start(self, a: dict[str, Any], t: int) -> None:
        self._who(a, t, self.coordinators)
        self.started_by = a["person"]

    def _open_for_votes(self, g: Gate) -> None:
        if self.phase[g.phase] == "not_started":
            raise Refused("PhaseNotStarted")
        if self.phase[g.phase] == "paused":
            raise Refused("PhasePaused")
        if g.state != "awaiting_approval":
            raise Refused("NotAwaitingApproval")

    def _vote(self, a: dict[str, Any], t: int, approving: bool) -> tuple[Gate, str]:
        g = self.gates[a["gate"]]
        principal = self._who(a, t, g.roles, g.id)
        if {a["person"], principal} & {self.started_by, self.reopened_by[g.phase]}:
            raise Refused("SeparationOfDuties")
        self._open_for_votes(g)
        if any(v[2] == principal for v in g.approvals + g.rejections):
            raise Refused("AlreadyVoted")
        if approving and g.distinct_roles and any(v[1] == a["role"] for v in g.approvals):
            raise Refused("RoleAlreadyCounted")
        return g, principal

    def _approve(self, a: dict[str, Any], t: int) -> None:
        g, principal = self._vote(a, t, True)
        g.approvals.append((a["person"], a["role"], principal))
        if len({v[2] for v in g.approvals}) >= g.quorum:
            g.state = "approved"

    def _reject(self, a: dict[str, Any], t: int) -> None:
        g, _ = self._vote(a, t, False)
        # reject_threshold 1: rejected at once.
        g.approvals, g.rejections = [], []
        g.rejected_digest = g.digest
        g.state = "collecting"

    def _withdraw(self, a: dict[str, Any], t: int) -> None:
        g = self.gates[a["gate"]]
        person, behalf = a["person"], a.get("on_behalf_of")
        votes = g.approvals + g.rejections
        if behalf is not None:
            vote = next((v for v in votes if v[2] == behalf and person in (behalf, v[0])), None)
        else:
            # The person's own vote, else the first they cast for a principal.
            vote = next((v for v in votes if v[2] == person), None) or next((v for v in votes if v[0] == person), None)
        if vote is None:
            raise Refused("NoCountedVote")
        if self.principal(person, vote[1], t, g.id, vote[2]) != vote[2]:
            raise Refused("RoleNotHeld")
        self._open_for_votes(g)
        g.approvals = [v for v in g.approvals if v is not vote]
        g.rejections = [v for v in g.rejections if v is not vote]

    def _waiver_target(self, a: dict[str, Any], t: int) -> Gate:
        g = self.gates[a["gate"]]
        if not g.waiver_roles:
            raise Refused("RoleNotAllowed")
        self._who(a, t, g.waiver_roles, g.id)
        if self.phase[g.phase] == "not_started":
            raise Refused("PhaseNotStarted")
        if g.state == "approved":
            raise Refused("GateDecided")
        return g

    def _waive(self, a: dict[str, Any], t: int) -> None:
        g = self._waiver_target(a, t)
        if g.waived:
            raise Refused("AlreadyWaived")
        g.waived = True
        self.evaluate(g)

    def _revoke_waiver(self, a: dict[str, Any], t: int) -> None:
        g = self._waiver_target(a, t)
        if not g.waived:
            raise Refused("NoActiveWaiver")
        g.waived = False
        self.evaluate(g)

    def _reopen(self, a: dict[str, Any], t: int) -> None:
        self._who(a, t, self.coordinators)  # a delegation for named gates never covers it
        if self.started_by is None:
            raise Refused("MissionNotStarted")
        if all(s == "complete" for s in self.phase.values()):
            # The contract is silent on reopening once every phase is complete. The product's
            # mission workflow has ended by then and the service answers as if the exit had
            # never started: written down here so the check goes on; reported, not endorsed.
            raise Refused("MissionNotStarted")
        pid = a["phase"]
        if self.phase[pid] != "complete":
            raise Refused("PhaseNotComplete")
        self.phase[pid] = "paused" if any(self.phase[x] != "complete" for x in self._ancestors(pid)) else "running"
        self.reopened_by[pid] = a["person"]
        for g in self.gates.values():
            if g.phase == pid:
                g.state, g.approvals, g.rejections, g.rejected_digest = "collecting", [], [], None
                self.evaluate(g)
        for other in self.phase:
            if pid in self._ancestors(other) and self.phase[other] == "running":
                self.phase[other] = "paused"

    def _grant(self, a: dict[str, Any], t: int) -> None:
        self._who(a, t, self.coordinators, role_key="by_role", person_key="by")
        self.assignments.append([a["person"], a["role"], t, self.parse(a["until"]) if a.get("until") else None])

    def _end_role(self, a: dict[str, Any], t: int) -> None:
        self._who(a, t, self.coordinators, role_key="by_role", person_key="by")
        ending = [x for x in self.assignments if x[0] == a["person"] and x[1] == a["role"] and x[2] <= t
                  and (x[3] is None or t < x[3])]
        if not ending:
            raise Refused("NoActiveAssignment")
        for x in ending:
            x[3] = t

    def _delegate(self, a: dict[str, Any], t: int) -> None:
        if not self.holds(a["person"], a["role"], t):
            by_delegation = any(to == a["person"] and r == a["role"] and f <= t < u
                                for _, r, to, f, u, _ in self.delegations)
            raise Refused("CannotRedelegate" if by_delegation else "RoleNotHeld")
        start = self.parse(a["from"]) if a.get("from") else t
        self.delegations.append([a["person"], a["role"], a["to"], start, self.parse(a["until"]), a.get("gates")])

    # -- what the transcript shows ------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {"phases": dict(self.phase),
                "gates": {g.id: {"state": g.state, "rule_status": g.status if g.state != "not_started" else None,
                                 "approvals": [list(v) for v in g.approvals],
                                 "rejections": [list(v) for v in g.rejections],
                                 "waivers": [g.benchmark] if g.waived else [],
                                 "rejected": g.rejected_digest is not None}
                          for g in self.gates.values()}}
