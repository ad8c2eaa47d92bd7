"""A gate's decision dossier: the gate as its audit log tells it up to one entry, with the
explanation recomputed from the store for the evaluation it then held.

The audit log is the record a board or an auditor can check offline (README, "checking an
excerpt"): the dossier folds the gate's entries (evaluations, votes, voids, withdrawals,
waivers, transitions, phase starts) up to entry `upto`, so a dossier "as of" an instant or
"as of an approval" is the same fold stopped earlier. The explanation is recomputed as of the
evaluation's instant with the waivers it was made with; its digest is compared with the one
the workflow recorded, and a difference is shown, never hidden.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, text

from rules.evaluate import Waiver
from schemas.timefmt import parse_timestamp
from store import AuditEntry
from store.queries import explain_gate

from .reads import Reads

__all__ = ["Dossier", "EvidenceProvenance", "Vote", "build_dossier", "fold"]


@dataclass
class Vote:
    kind: str  # approval | rejection
    person: str
    role: str
    digest: str
    comment: str | None
    seq: int
    at: int


@dataclass
class Folded:
    """The gate after its entries up to some seq."""

    state: str = "not_started"
    plan_sha256: str | None = None
    evaluation: dict[str, Any] | None = None  # the entry's payload: status, digest, as_of, valid_until
    evaluation_seq: int | None = None
    evaluation_waivers: list[dict[str, Any]] = field(default_factory=list)
    votes: list[Vote] = field(default_factory=list)
    waivers: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[Vote] = field(default_factory=list)  # every vote cast, counted or not


def fold(entries: list[AuditEntry]) -> Folded:
    f = Folded()
    for e in entries:
        p, k = e.payload, e.kind
        f.plan_sha256 = p.get("plan_sha256", f.plan_sha256)
        if k == "phase_started":
            f.state, f.evaluation, f.votes, f.waivers = "collecting", None, [], []
        elif k == "evaluation":
            f.evaluation, f.evaluation_seq = dict(p), e.seq
            f.evaluation_waivers = [dict(w) for w in f.waivers]
            if f.state == "not_started":
                f.state = "collecting"
        elif k in ("approval", "rejection"):
            v = Vote(k, e.actor or "", p.get("role", ""), p.get("digest", ""),
                     p.get("comment") if k == "approval" else p.get("reason"), e.seq, e.at)
            f.decisions.append(v)
            f.votes.append(v)
        elif k == "approvals_void":
            f.votes = []
        elif k == "vote_withdrawn":
            f.votes = [v for v in f.votes if v.person != e.actor]
        elif k == "approval_expired":
            f.votes = [v for v in f.votes if not (v.kind == "approval" and v.person == p.get("person"))]
        elif k == "waiver":
            f.waivers = [w for w in f.waivers if w["benchmark"] != p.get("benchmark")]
            f.waivers.append({"benchmark": p.get("benchmark"), "by": e.actor, "role": p.get("role"),
                              "justification": p.get("justification"), "until": p.get("until"), "seq": e.seq})
        elif k in ("waiver_revoked", "waiver_expired"):
            f.waivers = [w for w in f.waivers if w["benchmark"] != p.get("benchmark")]
        elif k == "gate_transition":
            f.state = p.get("to", f.state)
        elif k == "phase_plan_migrated":
            f.evaluation = None
    return f


@dataclass
class EvidenceProvenance:
    id: str
    indicator: str
    value: Any
    observed_at: int
    reported_at: int
    known_at: int
    source: str
    supersedes: str | None
    provenance: dict[str, Any] | None


@dataclass
class Dossier:
    mission: str
    mission_name: str
    gate: str
    name: str
    phase: str
    upto: int
    upto_at: int | None
    head: tuple[int, str]
    plan_sha256: str | None
    plan_version: str | None
    folded: Folded
    explanation: dict[str, Any] | None  # recomputed: status, digest, explanation, as_of
    digest_matches: bool | None
    evidence: list[EvidenceProvenance]
    entries: list[AuditEntry]  # the gate's entries up to `upto`
    head_entry: AuditEntry | None  # the newest entry of the whole log, for the chain head


def _provenance(reads: Reads, mission: str, ids: list[str]) -> list[EvidenceProvenance]:
    if not ids:
        return []
    q = text("SELECT id, indicator, value, observed_at, reported_at, known_at, source, supersedes, provenance "
             "FROM evidence WHERE mission = :m AND id IN :ids").bindparams(bindparam("ids", expanding=True))
    out = []
    with reads.store.read() as conn:
        for i in range(0, len(ids), 500):
            for r in conn.execute(q, {"m": mission, "ids": ids[i:i + 500]}).all():
                out.append(EvidenceProvenance(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], r[6], r[7],
                                              json.loads(r[8]) if r[8] else None))
    return sorted(out, key=lambda e: (e.indicator, e.observed_at, e.id))


def _entry(reads: Reads, seq: int) -> AuditEntry | None:
    with reads.store.read() as conn:
        r = conn.execute(text("SELECT seq, at, kind, actor, payload, prev_hash, hash FROM audit_log WHERE seq = :s"),
                         {"s": seq}).first()
    return AuditEntry(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6]) if r else None


def _evidence_ids(node: dict[str, Any]) -> list[str]:
    ids: list[str] = []
    stack = [node]
    while stack:
        n = stack.pop()
        stack.extend(n.get("children", ()))
        ids.extend(n.get("evidence", ()))
    return sorted(set(ids))


def dossier_sync(reads: Reads, mission: str, gate: str, upto: int | None) -> Dossier:
    head = reads.audit_head()
    stop = head[0] if upto is None else min(upto, head[0])
    current = reads.store.plan_for_mission(mission)
    if current is None or gate not in current.gates:
        raise KeyError(gate)
    phase = current.gates[gate].phase.id
    merged = reads.audit_of_gate(mission, gate, phase, stop)
    f = fold(merged)
    plan = reads._plan(f.plan_sha256) if f.plan_sha256 else current
    explanation = None
    matches = None
    ev_ids: list[str] = []
    if f.evaluation is not None and f.evaluation.get("as_of"):
        waivers = [Waiver(w["benchmark"], w["by"] or "", w["justification"] or "",
                          parse_timestamp(w["until"]) if w.get("until") else None) for w in f.evaluation_waivers]
        ev, _ = explain_gate(reads.store, plan, gate, parse_timestamp(f.evaluation["as_of"]), waivers)
        ev["as_of"] = f.evaluation["as_of"]
        explanation = ev
        matches = ev["digest"] == f.evaluation.get("digest")
        ev_ids = _evidence_ids(ev["explanation"])
    upto_entry = _entry(reads, stop) if stop else None
    return Dossier(
        mission=mission, mission_name=plan.model.mission.name, gate=gate, name=plan.gates[gate].gate.name,
        phase=phase, upto=stop, upto_at=upto_entry.at if upto_entry else None, head=head,
        plan_sha256=f.plan_sha256 or plan.sha256, plan_version=plan.model.version, folded=f,
        explanation=explanation, digest_matches=matches, evidence=_provenance(reads, mission, ev_ids),
        entries=merged, head_entry=_entry(reads, head[0]) if head[0] else None)


async def build_dossier(reads: Reads, mission: str, gate: str, upto: int | None = None,
                        at: int | None = None) -> Dossier:
    """The dossier as of audit entry `upto`, or as of the instant `at`, or now."""
    if at is not None:
        upto = await asyncio.to_thread(reads.audit_seq_at, at)
    return await asyncio.to_thread(dossier_sync, reads, mission, gate, upto)


def excerpt_lines(d: Dossier) -> list[dict[str, Any]]:
    """The entries a reader checks offline: the gate's, then the log's newest (the chain head)."""
    out = [e.to_json() for e in d.entries]
    if d.head_entry is not None and all(e.seq != d.head_entry.seq for e in d.entries):
        out.append(d.head_entry.to_json())
    return out
