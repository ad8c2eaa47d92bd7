"""What the service answers: views of missions, phases and gates (the API's response models).

A gate's view joins the workflow's `GateState` (state, votes, waivers, the digest it holds)
with the explanation tree re-computed from the store as of the instant the workflow evaluated
and with the waivers it evaluated with: the same inputs, so the same digest
(tests/api/test_explanation_digest.py shows it); the workflow's history keeps no tree.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from rules.evaluate import Waiver
from rules.plan import LoadedPlan
from schemas import messages as m
from schemas.timefmt import format_timestamp, parse_timestamp
from store import Store
from store.queries import explain_gate

__all__ = ["ApprovalView", "AwaitingGate", "EvidenceBrief", "GateView", "MissionView", "PhaseView", "PlanLoaded",
           "WaiverView", "gate_view"]


class ApprovalView(BaseModel):
    """A counted vote: an approval, or a rejection below the threshold (its reason in comment)."""

    person: str
    role: str
    digest: str
    comment: str | None = None
    at: str
    expires: str | None = Field(None, description="under approval_valid_for: when the approval stops counting")
    principal: str | None = Field(None, description="the person a delegate voted for (null: the signer's own vote)")
    signed: str = Field("", description='who signed, for people: "dana (deputy)" or "dana for bruno (deputy)"')


class WaiverView(BaseModel):
    benchmark: str
    by: str
    justification: str
    until: str | None = None


class EvidenceBrief(BaseModel):
    value: bool | int | float | None
    observed_at: str
    source: str


class GateView(BaseModel):
    mission: str
    phase: str
    gate: str
    name: str
    state: str = Field(description="not_started | collecting | awaiting_approval | approved | paused")
    roles: list[str]
    quorum: int
    waiver_roles: list[str]
    as_of: str
    evaluation: dict[str, Any] | None = Field(
        None, description="CONTRACT section 3 gate evaluation (status, digest, valid_until, explanation) as of the "
                          "instant the workflow last evaluated the gate; null while the phase has not started")
    evaluation_pending: bool = Field(
        False, description="the workflow has evidence or a waiver change it has not evaluated yet: the evaluation "
                           "shown is its last one")
    approvals: list[ApprovalView] = Field([], description="the counted approvals; approvals made void (by a "
                                                          "regression, a rejection, a reopen or a migration) are "
                                                          "in the audit log as approvals_void")
    rejections: list[ApprovalView] = Field([], description="counted rejections below reject_threshold")
    waivers: list[WaiverView] = []
    rejected_digest: str | None = None
    evaluation_error: str | None = Field(None, description="why the latest evaluation failed for good, until one "
                                                           "succeeds")
    evidence: dict[str, EvidenceBrief] = Field(
        {}, description="the records the explanation names, by id: value, observed_at, source")


class PhaseView(BaseModel):
    phase: str
    name: str
    state: str = Field(description="not_started | running | paused | complete | failed")
    gates: list[GateView]
    failure: str | None = Field(None, description="why its last run failed, when state is failed")


class MissionView(BaseModel):
    mission: str
    plan: str
    plan_sha256: str
    as_of: str
    phases: list[PhaseView]


class AwaitingGate(BaseModel):
    mission: str
    phase: str
    gate: str
    name: str
    digest: str
    approvals: int
    quorum: int
    roles: list[str] = Field(description="the gate's roles under which this person may approve it now")


class PlanLoaded(BaseModel):
    plan: str
    version: str | None
    mission: str
    sha256: str
    registered: bool = Field(description="true when the mission now runs on (or will start on) this plan; "
                                         "false when it already runs on another and needs a migration")
    running_plan_sha256: str | None = None


def gate_view(store: Store, plan: LoadedPlan, gate: str, st: m.GateState | None, *, paused: bool,
              pending: bool, now: int) -> GateView:
    """A gate as the workflow holds it (None: not in play), with its explanation. Blocking
    (reads the store): call it in a thread."""
    ref = plan.gates[gate]
    rule = ref.gate.approval
    base: dict[str, Any] = dict(
        mission=plan.mission_id, phase=ref.phase.id, gate=gate, name=ref.gate.name, roles=list(rule.roles),
        quorum=rule.quorum, waiver_roles=list(rule.waiver_roles or ()), as_of=format_timestamp(now))
    if st is None:
        return GateView(state="not_started", **base)
    evaluation, evidence = (_explanation(store, plan, st, pending) if st.evaluated_at is not None
                            else (None, {}))
    return GateView(
        state="paused" if paused and st.state != "approved" else st.state, evaluation=evaluation,
        evaluation_pending=pending, rejected_digest=st.rejected_digest, evidence=evidence,
        approvals=[_vote(a) for a in st.approvals], rejections=[_vote(r) for r in st.rejections],
        evaluation_error=st.evaluation_error,
        waivers=[WaiverView(benchmark=w.benchmark, by=w.by, justification=w.justification, until=w.until)
                 for w in st.waivers],
        **base)


def _vote(v: m.ApprovalRecord) -> ApprovalView:
    who = f"{v.person} for {v.principal}" if v.principal else v.person
    return ApprovalView(person=v.person, role=v.role, digest=v.digest, comment=v.comment, at=v.at, expires=v.expires,
                        principal=v.principal, signed=f"{who} ({v.role})")


def _explanation(store: Store, plan: LoadedPlan, st: m.GateState,
                 pending: bool) -> tuple[dict[str, Any], dict[str, EvidenceBrief]]:
    assert st.evaluated_at is not None
    waivers = [Waiver(w.benchmark, w.by, w.justification, parse_timestamp(w.until) if w.until else None)
               for w in st.waivers]
    ev, records = explain_gate(store, plan, st.gate, parse_timestamp(st.evaluated_at), waivers)
    ev["as_of"] = st.evaluated_at
    if ev["digest"] != st.digest:
        # The same instant and waivers give the same digest; it differs only when the inputs
        # did: waivers changed and the workflow has not re-evaluated yet, or a backfill made
        # records known as of that instant since. Show the digest an approver can sign.
        ev["note"] = (f"recomputed digest {ev['digest']} differs from the workflow's {st.digest}: "
                      + ("the workflow has not yet re-evaluated the gate" if pending else
                         "records known as of that instant changed since (a backfill)")
                      + "; it re-evaluates on its next update")
        ev["digest"] = st.digest
    briefs = {rid: EvidenceBrief(value=r.value, observed_at=format_timestamp(r.observed_at), source=r.source)
              for rid, r in records.items()}
    return ev, briefs
