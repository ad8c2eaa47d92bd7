"""The transcript's parts (CONTRACT section 6), in the scenario's own times.

Instants the scenario wrote are echoed as written; instants computed from the server's are
moved back to the scenario's clock and written in UTC with `Z`. Nothing here reads the wall
clock or the server's milliseconds, so two runs of a scenario give the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rules.evidence import Outcome
from schemas import messages as m
from schemas.timefmt import parse_timestamp

from .clock import Windows

__all__ = ["evidence_summary", "gate_doc", "phase_state"]


def phase_state(rec: m.PhaseRecord | None) -> str:
    if rec is None or rec.state == "pending":
        return "not_started"
    if rec.state == "running" and rec.paused:
        return "paused"
    return rec.state


def _vote(v: m.ApprovalRecord, w: Windows, echo: Callable[[int], str]) -> dict[str, Any]:
    at = parse_timestamp(v.at)
    scn = w.scenario(at)
    return {"person": v.person, "role": v.role, "principal": v.principal or v.person, "at": echo(scn), "digest": v.digest,
            "expires": echo(scn + parse_timestamp(v.expires) - at) if v.expires else None}


def gate_doc(phase: str, st: m.GateState | None, w: Windows, echo: Callable[[int], str]) -> dict[str, Any]:
    if st is None:
        return {"phase": phase, "state": "not_started", "rule_status": None, "digest": None, "valid_until": None,
                "rejected": False, "approvals": [], "rejections": [], "waivers": [], "reminders_sent": 0,
                "escalated": False}
    return {
        "phase": phase, "state": st.state, "rule_status": st.status, "digest": st.digest,
        "valid_until": echo(parse_timestamp(st.valid_until) - w.shift) if st.valid_until else None,
        "rejected": st.rejected_digest is not None,
        "approvals": [_vote(a, w, echo) for a in st.approvals],
        "rejections": [{**_vote(r, w, echo), "reason": r.comment} for r in st.rejections],
        "waivers": [{"benchmark": x.benchmark, "person": x.by, "role": x.role,
                     "until": echo(parse_timestamp(x.until) - w.shift) if x.until else None}
                    for x in st.waivers],
        "reminders_sent": st.reminders_sent, "escalated": st.escalated,
    }


def evidence_summary(checked: list[Outcome], fed: list[tuple[Any, Outcome]]) -> dict[str, Any]:
    """What became of the records: the service's outcome for each record fed to it, and the
    evidence rules' reason for each the rehearsal did not feed (rejected in arrival order, as
    the service would have)."""
    stored = sum(1 for _, o in fed if o.status == "stored")
    duplicates = sum(1 for _, o in fed if o.status == "duplicate")
    rejected = [{"line": o.line, "id": o.id, "reason": "; ".join(f"{e.field}: {e.reason}" for e in o.errors)}
                for o in checked if o.status == "rejected"]
    rejected += [{"line": a.line, "id": o.id, "reason": "; ".join(f"{e.field}: {e.reason}" for e in o.errors)}
                 for a, o in fed if o.status == "rejected"]
    rejected.sort(key=lambda r: (r["line"] or 0))
    return {"records": len(checked), "stored": stored, "duplicates": duplicates, "rejected": rejected}
