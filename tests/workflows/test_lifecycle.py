"""Gate lifecycle on the time-skipping server: pass, approve, regress, reject, refuse."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from schemas.messages import ApproveInput, EvidenceChanged, GateState, RejectInput

from .helpers import (
    Rig,
    approve,
    audited,
    awaiting,
    gate,
    gate_of,
    phase,
    phase_status,
    plan_doc,
    save_history,
    wait_phase,
)


async def refused(coro: object, kind: str) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await coro  # type: ignore[misc]
    cause = info.value.cause
    assert isinstance(cause, ApplicationError), cause
    assert cause.type == kind, f"{cause.type}: {cause.message}"
    return cause.message


async def update_events(handle: WorkflowHandle) -> int:
    history = await handle.fetch_history()
    return sum(1 for e in history.events
               if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)


async def test_pass_then_approve(rig: Rig) -> None:
    plan = rig.load(plan_doc([phase("p1", [gate("g1")])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    h = await rig.start_phase(plan, "p1")
    g = await awaiting(h, "g1")
    assert g.status == "pass" and g.digest
    attrs = {p.key.name: p.value for p in (await h.describe()).typed_search_attributes}
    assert attrs["ExitgateMission"] == "m1" and attrs["ExitgatePhase"] == "p1"
    assert "g1:awaiting_approval" in attrs["ExitgateGateStates"]  # listable: all gates awaiting approval
    done = await approve(h, "g1", "ana", "head", g.digest)
    assert done.state == "approved"
    result = await h.result()
    assert [x.state for x in result.gates] == ["approved"]
    kinds = rig.backend.audit_kinds()
    for k in ("phase_started", "evaluation", "gate_transition", "approval", "phase_completed"):
        assert k in kinds
    signed = next(e for e in rig.backend.audit if e["kind"] == "approval")
    assert signed["actor"] == "ana" and signed["payload"]["digest"] == g.digest
    await save_history(h, "pass_then_approve")


async def test_regression_voids_approvals(rig: Rig) -> None:
    plan = rig.load(plan_doc([phase("p1", [gate("g1", quorum=2)])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    h = await rig.start_phase(plan, "p1")
    g = await awaiting(h, "g1")
    await approve(h, "g1", "ana", "head", g.digest)
    rig.evidence("m1", "ind.a", 9, day=2)  # latest now fails
    await h.signal("evidence_changed", EvidenceChanged(indicators=["ind.a"]))
    st = await wait_phase(h, lambda s: gate_of(s, "g1").state == "collecting", "regression")
    assert gate_of(st, "g1").approvals == [] and gate_of(st, "g1").status == "fail"
    void = await audited(rig, "approvals_void")
    assert len(void) == 1 and void[0]["payload"]["approvals"][0]["person"] == "ana"
    await refused(approve(h, "g1", "bob", "host", gate_of(st, "g1").digest), "NotAwaitingApproval")
    rig.evidence("m1", "ind.a", 2, day=3)
    await h.signal("evidence_changed", EvidenceChanged(indicators=["ind.a"]))
    g = await awaiting(h, "g1")
    assert g.approvals == []  # the void approval does not come back
    await approve(h, "g1", "ana", "head", g.digest)
    await approve(h, "g1", "bob", "host", g.digest)
    await h.result()
    await save_history(h, "regression")


async def test_approvals_survive_digest_change_and_stale_digest_is_refused(rig: Rig) -> None:
    plan = rig.load(plan_doc([phase("p1", [gate("g1", quorum=2)])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    h = await rig.start_phase(plan, "p1")
    first = await awaiting(h, "g1")
    await approve(h, "g1", "ana", "head", first.digest)
    rig.evidence("m1", "ind.a", 4, day=2)  # still passes, different evidence: new digest
    await h.signal("evidence_changed", EvidenceChanged(indicators=["ind.a"]))
    st = await wait_phase(h, lambda s: gate_of(s, "g1").digest != first.digest, "new digest")
    now = gate_of(st, "g1")
    assert now.state == "awaiting_approval" and [a.person for a in now.approvals] == ["ana"]
    before = await update_events(h)
    msg = await refused(approve(h, "g1", "bob", "host", first.digest), "StaleDigest")
    assert first.digest in msg and now.digest in msg  # type: ignore[operator]
    assert await update_events(h) == before  # a refusal writes nothing to history
    done = await approve(h, "g1", "bob", "host", now.digest)
    assert done.state == "approved"
    assert [a.digest for a in done.approvals] == [first.digest, now.digest]
    await h.result()
    await save_history(h, "digest_change")


async def test_refusals(rig: Rig) -> None:
    plan = rig.load(plan_doc([phase("p1", [gate("g1", quorum=2)])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    h = await rig.start_phase(plan, "p1", started_by="sam")
    g = await awaiting(h, "g1")
    await refused(approve(h, "g1", "sam", "head", g.digest), "SeparationOfDuties")
    await refused(approve(h, "g1", "ana", "janitor", g.digest), "RoleNotAllowed")
    await refused(approve(h, "nope", "ana", "head", g.digest), "UnknownGate")
    await approve(h, "g1", "ana", "head", g.digest)
    await refused(approve(h, "g1", "ana", "host", g.digest), "AlreadyVoted")
    assert await update_events(h) == 1
    st = await phase_status(h)
    assert [a.person for a in gate_of(st, "g1").approvals] == ["ana"]
    await h.terminate("test over")


async def test_quorum_distinct_and_required_roles(rig: Rig) -> None:
    plan = rig.load(plan_doc([phase("p1", [gate("g1", quorum=2, distinct_roles=True, required_roles=["host"])])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    h = await rig.start_phase(plan, "p1")
    g = await awaiting(h, "g1")
    await approve(h, "g1", "ana", "head", g.digest)
    await refused(approve(h, "g1", "abe", "head", g.digest), "RoleAlreadyCounted")
    after = await approve(h, "g1", "dan", "deputy", g.digest)
    assert after.state == "awaiting_approval"  # two roles, but not the required host
    done = await approve(h, "g1", "hal", "host", g.digest)
    assert done.state == "approved" and len(done.approvals) == 3
    await h.result()
    await save_history(h, "quorum")


async def test_rejection_holds_until_the_digest_changes(rig: Rig) -> None:
    plan = rig.load(plan_doc([phase("p1", [gate("g1", quorum=2)])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    h = await rig.start_phase(plan, "p1")
    g = await awaiting(h, "g1")
    await approve(h, "g1", "ana", "head", g.digest)
    rej = await h.execute_update("reject", RejectInput(gate="g1", person="hal", role="host", digest=g.digest,
                                                       reason="numbers look too good"), result_type=GateState)
    assert rej.state == "collecting" and rej.approvals == [] and rej.rejected_digest == g.digest
    await refused(h.execute_update("reject", RejectInput(gate="g1", person="hal", role="host", digest=g.digest,
                                                         reason="again")), "NotAwaitingApproval")
    with pytest.raises(ValueError, match="reason"):
        RejectInput(gate="g1", person="hal", role="host", digest=g.digest, reason="")
    # Same evidence: the same digest comes back and the rejection holds.
    await h.signal("evidence_changed", EvidenceChanged(indicators=[]))
    st = await wait_phase(h, lambda s: gate_of(s, "g1").evaluations >= 2, "re-evaluation")
    assert gate_of(st, "g1").state == "collecting" and gate_of(st, "g1").digest == g.digest
    rig.evidence("m1", "ind.a", 2, day=2)
    await h.signal("evidence_changed", EvidenceChanged(indicators=["ind.a"]))
    g2 = await awaiting(h, "g1")
    assert g2.digest != g.digest and g2.rejected_digest is None
    await approve(h, "g1", "ana", "head", g2.digest)
    await approve(h, "g1", "hal", "host", g2.digest)
    await h.result()
    kinds = rig.backend.audit_kinds()
    assert "rejection" in kinds and "approvals_void" in kinds
    await save_history(h, "rejection")


async def test_a_vote_on_an_evaluation_behind_stored_evidence_is_refused(rig: Rig) -> None:
    plan = rig.load(plan_doc([phase("p1", [gate("g1")])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    h = await rig.start_phase(plan, "p1")
    g = await awaiting(h, "g1")
    seen = rig.backend.evidence_position("m1", frozenset({"ind.a"}))
    assert g.evidence_position == seen > 0
    # A record that makes the rule fail is stored, and its signal has not arrived yet.
    rig.evidence("m1", "ind.a", 9, day=2)
    now = rig.backend.evidence_position("m1", frozenset({"ind.a"}))
    for name, inp in (("approve", ApproveInput(gate="g1", person="ana", role="head", digest=g.digest or "",
                                               evidence_position=now)),
                      ("reject", RejectInput(gate="g1", person="ana", role="head", digest=g.digest or "",
                                             reason="no", evidence_position=now))):
        msg = await refused(h.execute_update(name, inp), "StaleDigest")
        assert "stored after its evaluation" in msg
    await h.signal("evidence_changed", EvidenceChanged(indicators=["ind.a"]))
    st = await wait_phase(h, lambda s: gate_of(s, "g1").evidence_position == now, "re-evaluated")
    assert gate_of(st, "g1").state == "collecting"  # the stored record made it fail
