"""The role register through the service, on the real parts (store, Temporal dev server, worker):
every change checked on the register as stored, audited, and pushed to the running workflows
before it returns, so the next act is decided with it, by the workflow, at its own instant."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from schemas import messages as m
from schemas.ids import mission_workflow_id, phase_workflow_id
from service import Caller, Refused, Service
from service.temporal import query_status
from store import now_us

from .conftest import MISSION, open_gate, stack

OPERATOR = Caller("root", operator=True)
HOUR = 3_600_000_000


async def refusal(coro: object) -> Refused:
    with pytest.raises(Refused) as info:
        await coro  # type: ignore[misc]
    return info.value


async def test_grants_ends_and_delegations_reach_the_running_workflows(temporal: WorkflowEnvironment,
                                                                       tmp_path: Path) -> None:
    async with stack(temporal, tmp_path, start=False, roster={}) as env:
        svc: Service = env.service
        dave, alice, bob, carol, erin = (Caller(n) for n in ("dave", "alice", "bob", "carol", "erin"))
        # Only an operator changes the register without a role; that is how the first coordinator is named.
        assert (await refusal(svc.roles.grant(MISSION, dave, None, "dave", "coordinator"))).type == "RoleNotHeld"
        await svc.roles.grant(MISSION, OPERATOR, None, "dave", "coordinator", reason="first coordinator")
        for who, role in (("alice", "mission_head"), ("bob", "host_nation"), ("carol", "deputy")):
            await svc.roles.grant(MISSION, dave, "coordinator", who, role)
        bad = await refusal(svc.roles.import_assignments(MISSION, dave, "coordinator", [
            {"person": "x", "role": "chef"}, {"person": "y", "role": "deputy", "until": "soon"}]))
        assert bad.type == "InvalidInput" and [p for p, _ in bad.problems] == ["[0].role", "[1].until"]
        assert "roles_import.refused" not in [e.kind for e in env.store.audit_entries()]  # bad input, not a refusal
        await svc.start_mission(MISSION, dave, "coordinator")
        digest = await open_gate(env)

        await svc.roles.end_role(MISSION, dave, "coordinator", "bob", "host_nation", reason="rotated out")
        # The phase runs: the service does not check, the workflow refuses with its pushed copy.
        r = await refusal(svc.reject(MISSION, "g1", bob, "host_nation", digest, "no"))
        assert r.type == "RoleNotHeld" and "ended at" in r.message, r.message
        assert (await refusal(svc.roles.end_role(MISSION, dave, "coordinator", "bob", "host_nation"))).type \
            == "NoActiveAssignment"

        await svc.roles.delegate(MISSION, carol, "deputy", "erin", until_us=now_us() + HOUR, gates=["g1"],
                                 reason="leave")
        assert (await refusal(svc.roles.delegate(MISSION, erin, "deputy", "fay", until_us=now_us() + HOUR))).type \
            == "CannotRedelegate"
        view = await svc.approve(MISSION, "g1", erin, "deputy", digest, on_behalf_of="carol")
        assert [(a.person, a.role) for a in view.approvals] == [("erin", "deputy")]
        assert (await refusal(svc.approve(MISSION, "g1", carol, "deputy", digest))).type == "AlreadyVoted"
        view = await svc.approve(MISSION, "g1", alice, "mission_head", digest)
        assert view.state == "approved"

        kinds = [e.kind for e in env.store.audit_entries()]
        for kind in ("role_granted", "role_ended", "delegation_made", "rejection.refused", "grant.refused",
                     "end_role.refused", "delegate.refused"):
            assert kind in kinds, kind
        [refused_vote] = env.audit("rejection.refused")
        assert refused_vote.payload["type"] == "RoleNotHeld"
        assert [e.payload["type"] for e in env.audit("end_role.refused")] == ["NoActiveAssignment"]
        assert [e.payload["type"] for e in env.audit("delegate.refused")] == ["CannotRedelegate"]
        [made] = env.audit("delegation_made")
        assert (made.payload["delegator"], made.payload["delegate"]) == ("carol", "erin")
        [first] = env.audit("role_granted")[:1]
        assert (first.actor, first.payload["operator"]) == ("root", True)
        [approval, _] = await env.audited("approval", 2)
        assert (approval.actor, approval.payload["principal"]) == ("erin", "carol")
        assert env.store.audit_verify().ok


async def test_a_mission_started_before_the_register_adopts_it_at_its_first_act(temporal: WorkflowEnvironment,
                                                                                tmp_path: Path) -> None:
    async with stack(temporal, tmp_path, start=False, roster={"alice": ["mission_head"], "carol": ["deputy"]}) as env:
        svc: Service = env.service
        plan = await svc.plan_for_mission(MISSION)
        assert plan is not None
        # As a run started by an earlier version: no register in its input.
        await temporal.client.start_workflow(
            "Mission", m.MissionInput(plan_sha256=plan.sha256, person="dave", role="coordinator"),
            id=mission_workflow_id(MISSION), task_queue=svc.task_queue)
        digest = await open_gate(env)
        r = await refusal(svc.approve(MISSION, "g1", Caller("bob"), "host_nation", digest))
        assert r.type == "RoleNotHeld", r.message  # bob holds nothing in the register
        status = await query_status(temporal.client.get_workflow_handle(phase_workflow_id(MISSION, "p1")),
                                    m.PhaseStatus)
        assert status.register_version == 2
        await svc.approve(MISSION, "g1", Caller("alice"), "mission_head", digest)
        view = await svc.approve(MISSION, "g1", Caller("carol"), "deputy", digest)
        assert view.state == "approved"
