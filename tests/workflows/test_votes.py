"""Votes through the real phase workflow (CONTRACT sections 4 and 5): rejections counted toward
reject_threshold, a veto, withdrawal then the opposite vote, approvals expiring on a durable
timer (and not once the gate is approved)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from schemas.messages import GateState, RejectInput, WithdrawInput

from .helpers import (
    Rig,
    approve,
    audited,
    awaiting,
    gate,
    gate_of,
    phase,
    plan_doc,
    save_history,
    skip_time,
    wait_phase,
)
from .test_lifecycle import refused


def voting_gate(**approval: Any) -> dict[str, Any]:
    g = gate("g1", quorum=2)
    g["approval"].update(approval)
    return g


def rejection(digest: str | None, person: str, role: str) -> RejectInput:
    return RejectInput(gate="g1", person=person, role=role, digest=digest or "", reason=f"{person} says no")


async def test_rejections_count_toward_the_threshold(rig: Rig) -> None:
    plan = rig.load(plan_doc([phase("p1", [voting_gate(reject_threshold=2)])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    h = await rig.start_phase(plan, "p1")
    g = await awaiting(h, "g1")
    await approve(h, "g1", "ana", "head", g.digest)
    st = await h.execute_update("reject", rejection(g.digest, "hal", "host"), result_type=GateState)
    assert st.state == "awaiting_approval" and [r.person for r in st.rejections] == ["hal"]
    await refused(approve(h, "g1", "hal", "host", g.digest), "AlreadyVoted")
    st = await h.execute_update("reject", rejection(g.digest, "dan", "deputy"), result_type=GateState)
    assert st.state == "collecting" and st.rejected_digest == g.digest
    assert st.approvals == [] and st.rejections == []
    [void] = await audited(rig, "approvals_void")
    assert [a["person"] for a in void["payload"]["approvals"]] == ["ana"]
    assert [r["person"] for r in void["payload"]["rejections"]] == ["hal"]
    await save_history(h, "reject_threshold")


async def test_a_veto_sends_the_gate_back_at_once(rig: Rig) -> None:
    plan = rig.load(plan_doc([phase("p1", [voting_gate(reject_threshold=3, veto_roles=["host"])])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    h = await rig.start_phase(plan, "p1")
    g = await awaiting(h, "g1")
    st = await h.execute_update("reject", rejection(g.digest, "dan", "deputy"), result_type=GateState)
    assert st.state == "awaiting_approval"
    st = await h.execute_update("reject", rejection(g.digest, "hal", "host"), result_type=GateState)
    assert st.state == "collecting" and st.rejected_digest == g.digest


async def test_withdraw_then_the_opposite_vote(rig: Rig) -> None:
    plan = rig.load(plan_doc([phase("p1", [voting_gate(reject_threshold=2)])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    h = await rig.start_phase(plan, "p1")
    g = await awaiting(h, "g1")
    await refused(h.execute_update("withdraw", WithdrawInput(gate="g1", person="ana", reason="x")), "NoCountedVote")
    await approve(h, "g1", "ana", "head", g.digest)
    await refused(h.execute_update("reject", rejection(g.digest, "ana", "head")), "AlreadyVoted")
    await refused(h.execute_update("withdraw", WithdrawInput(gate="g1", person="ana", reason="x",
                                                             held_roles=["host"])), "RoleNotHeld")
    st = await h.execute_update("withdraw", WithdrawInput(gate="g1", person="ana", reason="second thoughts"),
                                result_type=GateState)
    assert st.approvals == []
    st = await h.execute_update("reject", rejection(g.digest, "ana", "head"), result_type=GateState)
    assert [r.person for r in st.rejections] == ["ana"] and st.state == "awaiting_approval"
    [w] = await audited(rig, "vote_withdrawn")
    assert (w["actor"], w["payload"]["vote"], w["payload"]["reason"]) == ("ana", "approval", "second thoughts")


async def test_an_approval_expires_while_awaiting_and_may_be_given_again(rig: Rig) -> None:
    plan = rig.load(plan_doc([phase("p1", [voting_gate(approval_valid_for="P10D")])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    h = await rig.start_phase(plan, "p1")
    g = await awaiting(h, "g1")
    st = await approve(h, "g1", "ana", "head", g.digest)
    assert st.approvals[0].expires is not None
    await skip_time(rig.env, timedelta(days=11))
    st = await wait_phase(h, lambda s: gate_of(s, "g1").approvals == [], "approval expired")
    [e] = await audited(rig, "approval_expired")
    assert e["payload"]["person"] == "ana"
    await approve(h, "g1", "ana", "head", gate_of(st, "g1").digest)
    st2 = await approve(h, "g1", "hal", "host", gate_of(st, "g1").digest)
    assert st2.state == "approved"
    await wait_phase(h, lambda s: s.complete, "complete")
    await save_history(h, "approval_expiry")


async def test_nothing_expires_once_the_gate_is_approved(rig: Rig) -> None:
    plan = rig.load(plan_doc([phase("p1", [voting_gate(approval_valid_for="P10D"), gate("g2", quorum=1)])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    h = await rig.start_phase(plan, "p1")
    g = await awaiting(h, "g1")
    await approve(h, "g1", "ana", "head", g.digest)
    await approve(h, "g1", "hal", "host", g.digest)
    await skip_time(rig.env, timedelta(days=11))  # g2 keeps the phase running past the expiry
    st = await wait_phase(h, lambda s: gate_of(s, "g1").state == "approved", "g1 approved")
    assert len(gate_of(st, "g1").approvals) == 2
    assert "approval_expired" not in rig.backend.audit_kinds()
