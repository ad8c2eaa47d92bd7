"""Authority over time through the real workflows (CONTRACT section 5): each act resolved with
the role register at the workflow's own instant, in the same step as the decision; the register
kept current by `set_register` updates, handed to phases the mission starts later and carried
across continue-as-new."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle

from lifecycle import Refusal
from lifecycle import authority as au
from schemas.messages import (
    ApproveInput,
    GateState,
    Limits,
    MissionStatus,
    RejectInput,
    ReopenInput,
    WithdrawInput,
)
from schemas.register import Assignment, Delegation, Register
from schemas.timefmt import DAY, HOUR
from workflows import phase_workflow_id

from .helpers import (
    Rig,
    audited,
    awaiting,
    gate,
    gate_of,
    phase,
    plan_doc,
    save_history,
    skip_time,
    wait_mission,
    wait_phase,
)
from .test_lifecycle import refused


async def server_now(rig: Rig) -> int:
    return int((await rig.env.get_current_time()).timestamp() * 1_000_000)


class Reg:
    """A register the test writes, versions rising as the service's would."""

    def __init__(self, mission: str = "m1"):
        self.reg = Register(mission=mission)
        self.seq = 0

    def grant(self, person: str, role: str, frm: int, until: int | None = None) -> Reg:
        self.seq += 1
        self.reg.assignments.append(Assignment(seq=self.seq, person=person, role=role, from_us=frm, until_us=until,
                                               granted_by="op"))
        return self._bump()

    def delegate(self, delegator: str, role: str, to: str, frm: int, until: int,
                 gates: list[str] | None = None) -> Reg:
        self.seq += 1
        self.reg.delegations.append(Delegation(seq=self.seq, delegator=delegator, role=role, delegate=to, from_us=frm,
                                               until_us=until, gates=gates, made_by=delegator))
        return self._bump()

    def end(self, person: str, role: str, at: int) -> Reg:
        for a in self.reg.assignments:
            if a.person == person and a.role == role and a.active(at):
                a.until_us = at
        return self._bump()

    def _bump(self) -> Reg:
        self.reg = self.reg.model_copy(deep=True, update={"version": self.reg.version + 1})
        return self

    def copy(self) -> Register:
        return self.reg.model_copy(deep=True)


def voting_plan(**approval: Any) -> dict[str, Any]:
    g = gate("g1", quorum=2)
    g["approval"].update(approval)
    return plan_doc([phase("p1", [g, gate("g2", quorum=1)])])


async def vote(h: WorkflowHandle[Any, Any], person: str, role: str, digest: str | None,
               on_behalf_of: str | None = None, gid: str = "g1") -> GateState:
    return await h.execute_update("approve", ApproveInput(gate=gid, person=person, role=role, digest=digest or "",
                                                          on_behalf_of=on_behalf_of), result_type=GateState)


async def start(rig: Rig, reg: Reg, started_by: str = "starter", **approval: Any) -> tuple[WorkflowHandle[Any, Any], str]:
    plan = rig.load(voting_plan(**approval))
    rig.evidence("m1", "ind.a", 3, day=1)
    h = await rig.start_phase(plan, "p1", register=reg.copy(), started_by=started_by)
    g = await awaiting(h, "g1")
    assert g.digest is not None
    return h, g.digest


async def test_held_not_held_ended_yesterday_starting_tomorrow(rig: Rig) -> None:
    now = await server_now(rig)
    reg = (Reg().grant("ana", "head", now - 10 * DAY).grant("hal", "host", now - 10 * DAY, now - DAY)
           .grant("dan", "deputy", now + DAY))
    h, d = await start(rig, reg)
    assert "ended at" in await refused(vote(h, "hal", "host", d), "RoleNotHeld")  # ended yesterday
    assert "only from" in await refused(vote(h, "dan", "deputy", d), "RoleNotHeld")  # starts tomorrow
    assert "does not hold" in await refused(vote(h, "zoe", "head", d), "RoleNotHeld")  # never held
    await refused(vote(h, "ana", "coordinator", d), "RoleNotAllowed")  # before RoleNotHeld
    st = await vote(h, "ana", "head", d)
    assert [(a.person, a.role, a.principal) for a in st.approvals] == [("ana", "head", None)]
    await skip_time(rig.env, timedelta(days=2))  # dan's assignment has begun
    st = await vote(h, "dan", "deputy", d)
    assert st.state == "approved"
    [approval, _] = await audited(rig, "approval")
    assert "principal" not in approval["payload"]  # the shape audit entries had before delegation


async def test_an_assignment_ended_after_the_service_looked_is_refused_by_the_workflow(rig: Rig) -> None:
    now = await server_now(rig)
    reg = Reg().grant("ana", "head", now - DAY)
    h, d = await start(rig, reg)
    seen = reg.copy()
    assert au.resolve(seen, "ana", "head", now).held == {"head"}  # the service's check passes
    reg.end("ana", "head", now)
    assert await h.execute_update("set_register", reg.copy(), result_type=int) == 2
    # A late copy of the old register (a slow push) changes nothing.
    assert await h.execute_update("set_register", seen, result_type=int) == 2
    assert "ended at" in await refused(vote(h, "ana", "head", d), "RoleNotHeld")
    st = await wait_phase(h, lambda s: True)
    assert gate_of(st, "g1").approvals == [] and st.register_version == 2
    await save_history(h, "register_ended_before_update")


async def test_a_delegation_used_after_its_end_and_after_the_delegator_lost_the_role(rig: Rig) -> None:
    now = await server_now(rig)
    reg = (Reg().grant("bruno", "deputy", now - DAY).grant("hal", "host", now - DAY)
           .delegate("bruno", "deputy", "dana", now, now + HOUR, gates=["g1"]))
    h, d = await start(rig, reg)
    st = await vote(h, "dana", "deputy", d)  # dana for bruno
    assert [(a.person, a.principal) for a in st.approvals] == [("dana", "bruno")]
    [a] = await audited(rig, "approval")
    assert (a["actor"], a["payload"]["principal"], a["payload"]["role"]) == ("dana", "bruno", "deputy")
    # the gate-limited delegation covers g1 only
    g2 = gate_of(await wait_phase(h, lambda s: gate_of(s, "g2").state == "awaiting_approval"), "g2")
    await refused(vote(h, "dana", "deputy", g2.digest, gid="g2"), "RoleNotHeld")
    st = await h.execute_update("withdraw", WithdrawInput(gate="g1", person="dana", reason="asked by bruno"),
                                result_type=GateState)
    assert st.approvals == []
    await skip_time(rig.env, timedelta(hours=2))  # the delegation has ended
    assert "not at" in await refused(vote(h, "dana", "deputy", d, on_behalf_of="bruno"), "RoleNotHeld")
    later = await server_now(rig)
    reg.delegate("bruno", "deputy", "dana", later, later + DAY).end("bruno", "deputy", later + 1)
    await h.execute_update("set_register", reg.copy(), result_type=int)
    await refused(vote(h, "dana", "deputy", d), "RoleNotHeld")  # bruno no longer holds it
    await save_history(h, "register_delegation")


async def test_redelegation_is_refused(rig: Rig) -> None:
    now = await server_now(rig)
    reg = (Reg().grant("bruno", "deputy", now - DAY).delegate("bruno", "deputy", "dana", now - 1, now + DAY)
           .delegate("dana", "deputy", "eve", now - 1, now + DAY))  # written past the checks
    with pytest.raises(Refusal) as info:
        au.delegate(reg.copy(), ["g1"], by="dana", role="deputy", to="eve", until_us=now + DAY, now=now)
    assert info.value.type == "CannotRedelegate"
    h, d = await start(rig, reg)
    await refused(vote(h, "eve", "deputy", d), "RoleNotHeld")  # the chain does not pass it on
    await refused(vote(h, "eve", "deputy", d, on_behalf_of="dana"), "RoleNotHeld")


async def test_delegate_and_principal_both_voting_the_second_is_refused(rig: Rig) -> None:
    now = await server_now(rig)
    reg = (Reg().grant("bruno", "deputy", now - DAY).grant("dana", "head", now - DAY).grant("hal", "host", now - DAY)
           .delegate("bruno", "deputy", "dana", now - 1, now + DAY))
    h, d = await start(rig, reg)
    await vote(h, "bruno", "deputy", d)
    msg = await refused(vote(h, "dana", "deputy", d, on_behalf_of="bruno"), "AlreadyVoted")
    assert "bruno" in msg
    # dana's own vote is another principal's: it counts, and makes the quorum of two
    st = await vote(h, "dana", "head", d)
    assert st.state == "approved" and {a.principal or a.person for a in st.approvals} == {"bruno", "dana"}


async def test_a_delegate_first_then_the_principal_is_refused(rig: Rig) -> None:
    now = await server_now(rig)
    reg = Reg().grant("bruno", "deputy", now - DAY).delegate("bruno", "deputy", "dana", now - 1, now + DAY)
    h, d = await start(rig, reg, reject_threshold=2)
    await h.execute_update("reject", RejectInput(gate="g1", person="dana", role="deputy", digest=d, reason="no"),
                           result_type=GateState)
    await refused(vote(h, "bruno", "deputy", d), "AlreadyVoted")


async def test_separation_of_duties_through_a_delegate(rig: Rig) -> None:
    now = await server_now(rig)
    reg = (Reg().grant("cora", "head", now - DAY).grant("eve", "host", now - DAY)
           .delegate("cora", "head", "dana", now - 1, now + DAY).delegate("eve", "host", "cora", now - 1, now + DAY))
    h, d = await start(rig, reg, started_by="cora")
    assert "for whom dana acts" in await refused(vote(h, "dana", "head", d), "SeparationOfDuties")
    await refused(vote(h, "cora", "host", d), "SeparationOfDuties")  # the starter as a delegate


async def test_the_mission_hands_its_register_to_phases_it_starts_later(rig: Rig) -> None:
    m = f"ma-{uuid.uuid4().hex[:10]}"
    now = await server_now(rig)
    plan = rig.load(plan_doc([phase("p1", [gate("g1")]), phase("p2", [gate("g2")], depends_on=["p1"])], mission=m))
    rig.evidence(m, "ind.a", 3, day=1)
    reg = Reg(m).grant("cora", "coordinator", now - DAY).grant("ana", "head", now - DAY)
    mh = await rig.start_mission(plan, person="cora", register=reg.copy())
    p1 = rig.client.get_workflow_handle(phase_workflow_id(m, "p1"))
    g = await awaiting(p1, "g1")
    assert (await wait_phase(p1, lambda s: True)).register_version == 2
    reg.grant("bo", "head", now - 1)
    assert await mh.execute_update("set_register", reg.copy(), result_type=int) == 3
    await refused(vote(p1, "bo", "head", g.digest), "RoleNotHeld")  # the service pushes to p1 itself
    await vote(p1, "ana", "head", g.digest)
    await wait_mission(mh, lambda s: any(p.id == "p2" and p.state == "running" for p in s.phases), "p2 running")
    p2 = rig.client.get_workflow_handle(phase_workflow_id(m, "p2"))
    g2 = await awaiting(p2, "g2")
    assert (await wait_phase(p2, lambda s: True)).register_version == 3
    await vote(p2, "bo", "head", g2.digest, gid="g2")
    st: MissionStatus = await mh.query("status", result_type=MissionStatus)
    assert st.register_version == 3
    await save_history(mh, "register_mission")


async def test_continue_as_new_carries_the_register(rig: Rig) -> None:
    now = await server_now(rig)
    reg = Reg().grant("ana", "head", now - DAY).grant("hal", "host", now - DAY)
    plan = rig.load(voting_plan())
    rig.evidence("m1", "ind.a", 3, day=1)
    h = await rig.start_phase(plan, "p1", register=reg.copy(), limits=Limits(updates=3))
    for n in range(3):
        reg.grant(f"p{n}", "deputy", now - 1)
        await h.execute_update("set_register", reg.copy(), result_type=int)
    st = await wait_phase(h, lambda s: s.runs > 1, "continued as new")
    assert st.register_version == 5
    g = await awaiting(h, "g1")
    await vote(h, "p2", "deputy", g.digest)
    await refused(vote(h, "zed", "deputy", g.digest), "RoleNotHeld")


async def test_a_delegate_starts_and_reopens_and_their_principal_decides_no_gate(rig: Rig) -> None:
    m = f"md-{uuid.uuid4().hex[:10]}"
    now = await server_now(rig)
    plan = rig.load(plan_doc([phase("p1", [gate("g1")]), phase("p2", [gate("g2", quorum=2)], depends_on=["p1"])],
                             mission=m))
    rig.evidence(m, "ind.a", 3, day=1)
    reg = (Reg(m).grant("cora", "coordinator", now - DAY).grant("cole", "coordinator", now - DAY)
           .grant("cora", "head", now - DAY).grant("cole", "host", now - DAY).grant("ana", "head", now - DAY)
           .grant("hal", "host", now - DAY).delegate("cora", "coordinator", "dana", now - 1, now + DAY)
           .delegate("cole", "coordinator", "dan", now - 1, now + DAY, gates=["g1"])
           .delegate("cole", "coordinator", "eve", now - 1, now + DAY))
    mh = await rig.start_mission(plan, person="dana", register=reg.copy())  # dana for cora
    st: MissionStatus = await wait_mission(mh, lambda s: s.started_for == "cora", "started for cora")
    assert st.started_by == "dana"
    p1 = rig.client.get_workflow_handle(phase_workflow_id(m, "p1"))
    g = await awaiting(p1, "g1")
    assert "through dana" in await refused(vote(p1, "cora", "head", g.digest), "SeparationOfDuties")
    await vote(p1, "ana", "head", g.digest)
    await wait_mission(mh, lambda s: any(p.id == "p1" and p.state == "complete" for p in s.phases), "p1 complete")
    # A gate-limited delegation never covers a reopen; a mission-wide one does.
    reopen = ReopenInput(phase="p1", person="dan", role="coordinator", reason="recount")
    await refused(mh.execute_update("reopen", reopen), "RoleNotHeld")
    await mh.execute_update("reopen", reopen.model_copy(update={"person": "eve"}), result_type=MissionStatus)
    st = await wait_mission(mh, lambda s: any(p.id == "p1" and p.reopened_for == "cole" for p in s.phases), "reopened")
    g = await awaiting(p1, "g1")
    await refused(vote(p1, "eve", "host", g.digest), "RoleNotHeld")  # eve holds no host role
    assert "reopened this phase through eve" in await refused(vote(p1, "cole", "host", g.digest),
                                                              "SeparationOfDuties")
    await vote(p1, "hal", "host", g.digest)
    await save_history(mh, "register_mission_delegate")
