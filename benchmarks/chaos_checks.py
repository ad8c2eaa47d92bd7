"""What the chaos run observes (the phase workflows' `status` queries, the store, the audit log)
and the invariants it checks after each trial.

(a) every acknowledged record is stored exactly once, as sent;
(b) every running gate reflects every stored record of its indicators: its evaluation's store
    position equals the store's, nothing waits in the outbox longer than the settle period;
(c) every acknowledged approval is counted, or void with an audit entry, or its gate approved;
(d) no gate approved below quorum, nor on an evaluation behind evidence that was committed
    before the approving vote was sent;
(e) the audit chain verifies (`exitgate audit verify`);
(f) (in chaos.py) the final gate states equal those of a fault-free run of the same script.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from typing import Any

from chaos_clients import Acks
from chaos_script import GATES, PHASE_DEPS, QUORUM
from chaos_stack import ROOT, Stack
from sqlalchemy import text
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from runtime import connect
from runtime.temporal import TemporalSettings
from schemas import messages as m
from schemas.ids import mission_workflow_id, phase_workflow_id
from schemas.timefmt import parse_timestamp
from store import Store

__all__ = ["INVARIANTS", "Observer"]

INVARIANTS = ("a_stored_once", "b_gates_reflect_store", "c_approvals_accounted", "d_no_bad_approval",
              "e_audit_verifies", "f_same_as_fault_free")
COMMIT_SLACK_US = 1_000_000  # an evidence.import entry is written just before its commit


class Observer:
    def __init__(self, stack: Stack):
        self.stack = stack
        self.store = Store.from_url(stack.db_url)
        self._client: Client | None = None

    async def client(self) -> Client:
        if self._client is None:
            self._client = await asyncio.wait_for(connect(TemporalSettings(
                temporal_address=f"127.0.0.1:{self.stack.temporal_port}")), timeout=20)
        return self._client

    def close(self) -> None:
        self.store.close()

    async def mission(self, mission: str) -> m.MissionStatus | None:
        handle = (await self.client()).get_workflow_handle(mission_workflow_id(mission))
        try:
            st: m.MissionStatus = await handle.query("status", result_type=m.MissionStatus,
                                                     rpc_timeout=timedelta(seconds=15))
            return st
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    async def phase(self, mission: str, phase: str) -> m.PhaseStatus | None:
        handle = (await self.client()).get_workflow_handle(phase_workflow_id(mission, phase),
                                                           result_type=m.PhaseResult)
        try:
            desc = await handle.describe(rpc_timeout=timedelta(seconds=15))
            if desc.status == WorkflowExecutionStatus.COMPLETED:
                res: m.PhaseResult = await handle.result(rpc_timeout=timedelta(seconds=15))
                return m.PhaseStatus(mission=mission, phase=phase, plan_sha256=res.plan_sha256,
                                     generation=res.generation, paused=False, complete=True, started_by="",
                                     reopened_by=None, gates=res.gates, signals_total=0, updates_total=0,
                                     evaluations_total=0, runs=0)
            st: m.PhaseStatus = await handle.query("status", result_type=m.PhaseStatus,
                                                   rpc_timeout=timedelta(seconds=15))
            return st
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    def position(self, mission: str, gate: str) -> int:
        return self.store.evidence_position(mission, GATES[gate][1])

    # --- settling ---

    async def unsettled(self, mission: str, settle_s: float) -> list[str]:
        """Why the mission's gates do not (yet) reflect the store; empty when they do."""
        why: list[str] = []
        now = time.time_ns() // 1000
        with self.store.read() as conn:
            pending = conn.execute(text("SELECT id, indicator, stored_at FROM evidence_changes WHERE mission = :m "
                                        "AND delivered_at IS NULL"), {"m": mission}).all()
        for row in pending:
            age = (now - row[2]) / 1e6
            why.append(f"outbox row {row[0]} ({row[1]}) pending for {age:.0f} s"
                       + (" (older than the settle period)" if age > settle_s else ""))
        ms = await self.mission(mission)
        if ms is None:
            return [*why, "the mission workflow is not visible"]
        states = {p.id: p for p in ms.phases}
        for phase, deps in PHASE_DEPS.items():
            rec = states.get(phase)
            state = rec.state if rec is not None else "pending"
            if state == "failed":
                why.append(f"phase {phase} failed: {rec.failure if rec else ''}")
            if state == "pending" and all(states[d].state == "complete" for d in deps if d in states):
                why.append(f"phase {phase} has not started though its dependencies are complete")
            if state != "running":
                continue
            ps = await self.phase(mission, phase)
            if ps is None:
                why.append(f"phase {phase} runs but its workflow is not visible")
                continue
            if ps.complete:
                why.append(f"phase {phase} is complete; the mission has not recorded it yet")
                continue
            if all(g.state == "approved" for g in ps.gates):
                why.append(f"phase {phase}: every gate approved, the phase not complete yet")
                continue
            if ps.pending_evaluation:
                why.append(f"phase {phase}: gates {', '.join(ps.pending_evaluation)} wait to be evaluated")
            for g in ps.gates:
                if g.state == "approved":
                    continue
                want = self.position(mission, g.gate)
                if g.evaluations == 0 or (g.evidence_position or 0) != want:
                    why.append(f"gate {g.gate}: evaluated at store position {g.evidence_position}, the store is "
                               f"at {want}")
        return why

    async def wait_settled(self, mission: str, settle_s: float) -> list[str]:
        """Wait (on the condition, polling) up to settle_s; what is still unsettled then."""
        deadline = time.monotonic() + settle_s
        why = ["not checked yet"]
        while time.monotonic() < deadline:
            try:
                why = await self.unsettled(mission, settle_s)
            except (RPCError, TimeoutError, OSError) as exc:
                self._client = None  # reconnect: the server may have been restarted under it
                why = [f"cannot ask Temporal: {exc}"]
            if not why:
                return []
            await asyncio.sleep(0.3)
        return why

    async def final_states(self, mission: str) -> dict[str, Any]:
        """Phase states and each gate's (state, rule status, digest unless approved)."""
        out: dict[str, Any] = {}
        ms = await self.mission(mission)
        recs = {p.id: p.state for p in ms.phases} if ms else {}
        for phase in PHASE_DEPS:
            out[phase] = recs.get(phase, "pending")
            ps = await self.phase(mission, phase) if out[phase] != "pending" else None
            gates = {g.gate: g for g in ps.gates} if ps else {}
            for gid, (ph, _) in GATES.items():
                if ph != phase:
                    continue
                g = gates.get(gid)
                out[gid] = ("not_started", None, None) if g is None else (
                    g.state, g.status, None if g.state == "approved" else g.digest)
        return out

    async def gate_states(self, mission: str) -> dict[str, m.GateState]:
        out: dict[str, m.GateState] = {}
        for phase in PHASE_DEPS:
            ps = await self.phase(mission, phase)
            if ps is not None:
                out.update({g.gate: g for g in ps.gates})
        return out

    # --- the invariants ---

    def audit_of(self, mission: str, kinds: tuple[str, ...]) -> list[tuple[int, str, dict[str, Any]]]:
        """(at, kind, payload) of the mission's entries of these kinds, in chain order."""
        with self.store.read() as conn:
            rows = conn.execute(text("SELECT at, kind, payload FROM audit_log WHERE kind = ANY(:k) AND payload LIKE :m "
                                     "ORDER BY seq"), {"k": list(kinds), "m": f'%"mission":"{mission}"%'}).all()
        return [(r[0], r[1], p) for r in rows if (p := json.loads(r[2])).get("mission") == mission]

    def check_a(self, mission: str, acks: Acks) -> list[str]:
        bad: list[str] = []
        rows = self.store.records_by_id(mission, acks.records)
        times = Counter(rid for _, _, p in self.audit_of(mission, ("evidence.import",))
                        for rid in p.get("stored_ids", []))
        for rid, sent in acks.records.items():
            row = rows.get(rid)
            if row is None:
                bad.append(f"acknowledged record {rid} is not stored")
            elif row.indicator != sent["indicator"] or row.value != sent["value"] or type(row.value) is not type(sent["value"]):
                bad.append(f"record {rid} stored as {row.indicator}={row.value!r}, sent {sent['indicator']}={sent['value']!r}")
            elif times[rid] != 1:
                bad.append(f"record {rid} stored {times[rid]} times by the audit log")
        return bad

    async def check_c(self, mission: str, acks: Acks, wait_s: float) -> list[str]:
        """Void entries are the engine's own, written up to the group-commit lag late: wait."""
        deadline = time.monotonic() + wait_s
        while True:
            gates = await self.gate_states(mission)
            entries = self.audit_of(mission, ("approvals_void", "approval_expired"))
            voided = {(p.get("gate"), a.get("person"), a.get("digest"))
                      for _, kind, p in entries if kind == "approvals_void" for a in p.get("approvals", [])}
            voided |= {(p.get("gate"), p.get("person"), p.get("digest"))
                       for _, kind, p in entries if kind == "approval_expired"}
            bad = []
            for ack in acks.approvals:
                g = gates.get(ack.gate)
                if g is not None and g.state == "approved":
                    continue
                if g is not None and any(a.person == ack.person and a.digest == ack.digest for a in g.approvals):
                    continue
                if (ack.gate, ack.person, ack.digest) in voided:
                    continue
                bad.append(f"approval of {ack.gate} by {ack.person} on {ack.digest[:12]} acknowledged, but "
                           "neither counted nor void in the audit log, and the gate is not approved")
            if not bad or time.monotonic() > deadline:
                return bad
            await asyncio.sleep(0.5)

    async def check_d(self, mission: str, acks: Acks) -> tuple[list[str], int]:
        """(violations, approved gates whose approving vote the client log does not know)."""
        bad: list[str] = []
        unknown = 0
        gates = await self.gate_states(mission)
        with self.store.read() as conn:
            changes = conn.execute(text("SELECT id, indicator, stored_at FROM evidence_changes WHERE mission = :m"),
                                   {"m": mission}).all()
        # When each change was surely committed: its audit entry's time plus the slack, or the
        # first acknowledgement of one of its records, whichever came first.
        committed: dict[int, int] = {}
        for at, _, p in self.audit_of(mission, ("evidence.import",)):
            acked = [acks.acked_us[r] for r in p.get("stored_ids", []) if r in acks.acked_us]
            committed[int(p["received_at"])] = min([at + COMMIT_SLACK_US, *acked])
        for gid, g in gates.items():
            if g.state != "approved":
                continue
            people = {a.person for a in g.approvals}
            roles = {a.role for a in g.approvals}
            if len(people) < QUORUM or len(roles) < len(g.approvals):
                bad.append(f"gate {gid} approved with {len(people)} people under roles {sorted(roles)}, "
                           f"quorum {QUORUM} of distinct roles")
            last = max(g.approvals, key=lambda a: parse_timestamp(a.at), default=None)
            sent = acks.attempts.get((last.person, gid, last.digest)) if last is not None else None
            if last is None or sent is None or g.evaluated_at is None:
                unknown += 1
                continue
            as_of = parse_timestamp(g.evaluated_at)
            seen = g.evidence_position if g.evidence_position is not None else 0
            missed = [c for c in changes if c[1] in GATES[gid][1] and (c[0] > seen or c[2] > as_of)
                      and committed.get(c[2], sent) < sent]
            if missed:
                bad.append(f"gate {gid} approved (vote by {last.person} sent {(sent - as_of) / 1e6:.2f} s after its "
                           f"evaluation) on store position {g.evidence_position}, behind {len(missed)} change(s) "
                           f"committed before the vote was sent: ids {[c[0] for c in missed][:5]}")
        return bad, unknown

    def check_e(self) -> list[str]:
        proc = subprocess.run([sys.executable, "-m", "cli", "audit", "verify"], capture_output=True, text=True,
                              timeout=120, cwd=ROOT, env={**os.environ, **self.stack.env, "COLUMNS": "200"})
        if proc.returncode == 0 and "OK" in proc.stdout:
            return []
        return [f"exitgate audit verify exited {proc.returncode}: {(proc.stdout + proc.stderr).strip()[:500]}"]
