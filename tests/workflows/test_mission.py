"""The mission: phases start on their dependencies, reopen pauses dependants, migration."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from temporalio.client import WorkflowHandle

from schemas.messages import MigrateInput, MissionStatus, PhaseStatus, ReopenInput
from workflows import phase_workflow_id

from .helpers import (
    Rig,
    approve,
    awaiting,
    gate,
    phase,
    plan_doc,
    save_history,
    wait_mission,
    wait_phase,
)
from .test_lifecycle import refused


def three_phases(mission: str, threshold: float = 5, quorum: int = 1) -> dict[str, Any]:
    return plan_doc([
        phase("p1", [gate("g1")]),
        phase("p2", [gate("g2", threshold=threshold, quorum=quorum)], depends_on=["p1"]),
        phase("p3", [gate("g3")], depends_on=["p2"]),
    ], mission=mission)


def state_of(st: MissionStatus, pid: str) -> str:
    rec = next((p for p in st.phases if p.id == pid), None)
    if rec is None:
        return "unknown"
    return "paused" if rec.paused else rec.state


def ph(rig: Rig, mission: str, pid: str) -> WorkflowHandle[Any, Any]:
    return rig.client.get_workflow_handle(phase_workflow_id(mission, pid))


async def approve_when_ready(rig: Rig, mission: str, pid: str, gid: str, person: str = "ana",
                             role: str = "head") -> None:
    h = ph(rig, mission, pid)
    g = await awaiting(h, gid)
    await approve(h, gid, person, role, g.digest)


async def wait_audit(rig: Rig, pred: Callable[[list[str]], bool], what: str, timeout_s: float = 10.0) -> None:
    for _ in range(int(timeout_s / 0.025)):
        if pred(rig.backend.audit_kinds()):
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"timed out waiting for {what}; audit kinds: {rig.backend.audit_kinds()}")


def reopen(pid: str, person: str = "cole", role: str = "coordinator") -> ReopenInput:
    return ReopenInput(phase=pid, person=person, role=role, reason="evaluation and adjustment after elections")


async def test_phases_follow_dependencies_and_reopen_pauses_dependants(rig: Rig) -> None:
    m = f"mr-{uuid.uuid4().hex[:10]}"
    plan = rig.load(three_phases(m))
    rig.evidence(m, "ind.a", 3, day=1)
    mh = await rig.start_mission(plan, person="cora")
    st = await wait_mission(mh, lambda s: state_of(s, "p1") == "running", "p1 running")
    assert state_of(st, "p2") == state_of(st, "p3") == "pending"
    await approve_when_ready(rig, m, "p1", "g1")
    await wait_mission(mh, lambda s: state_of(s, "p2") == "running", "p2 running")
    await approve_when_ready(rig, m, "p2", "g2")
    await wait_mission(mh, lambda s: state_of(s, "p3") == "running", "p3 running")
    await awaiting(ph(rig, m, "p3"), "g3")

    await refused(mh.execute_update("reopen", reopen("p1", role="head")), "RoleNotAllowed")
    await refused(mh.execute_update("reopen", reopen("p3")), "PhaseNotComplete")
    await mh.execute_update("reopen", reopen("p1"), result_type=MissionStatus)
    st = await wait_mission(mh, lambda s: state_of(s, "p3") == "paused", "p3 paused")
    assert state_of(st, "p2") == "complete"  # completed dependants stay complete
    assert state_of(st, "p1") == "running"
    p3 = ph(rig, m, "p3")
    await wait_phase(p3, lambda s: s.paused, "p3 told it is paused")
    g3 = await awaiting(p3, "g3")  # still collecting and evaluating, but no approvals
    await refused(approve(p3, "g3", "ana", "head", g3.digest), "PhasePaused")

    p1 = ph(rig, m, "p1")
    g1 = await awaiting(p1, "g1")
    s1 = await p1.query("status", result_type=PhaseStatus)
    assert s1.generation == 1 and s1.reopened_by == "cole" and g1.approvals == []
    await refused(approve(p1, "g1", "cole", "head", g1.digest), "SeparationOfDuties")
    await refused(approve(p1, "g1", "cora", "head", g1.digest), "SeparationOfDuties")
    await approve(p1, "g1", "ana", "head", g1.digest)
    await wait_mission(mh, lambda s: state_of(s, "p3") == "running", "p3 resumed")
    await wait_phase(p3, lambda s: not s.paused, "p3 told it resumed")
    await approve(p3, "g3", "ana", "head", g3.digest)
    st = await wait_mission(mh, lambda s: s.complete, "mission complete")
    assert [p.id for p in st.phases] == ["p1", "p2", "p3"]
    await wait_audit(rig, lambda kinds: "mission_completed" in kinds, "mission_completed written")
    kinds = rig.backend.audit_kinds()
    for k in ("mission_started", "phase_reopened", "phase_paused", "phase_resumed", "mission_completed"):
        assert k in kinds
    await save_history(mh, "mission_reopen_open")


async def test_a_complete_mission_stays_open_for_a_reopen(rig: Rig) -> None:
    # CONTRACT 4: "a coordinator may reopen a completed phase", also once every phase is
    # complete (the mission workflow used to end then, and the reopen found no exit).
    m = f"mc-{uuid.uuid4().hex[:10]}"
    plan = rig.load(three_phases(m))
    rig.evidence(m, "ind.a", 3, day=1)
    mh = await rig.start_mission(plan, person="cora")
    for pid, gid in (("p1", "g1"), ("p2", "g2"), ("p3", "g3")):
        await wait_mission(mh, lambda s, pid=pid: state_of(s, pid) == "running", f"{pid} running")
        await approve_when_ready(rig, m, pid, gid)
    await wait_mission(mh, lambda s: s.complete, "mission complete")
    await wait_audit(rig, lambda kinds: kinds.count("mission_completed") == 1, "mission_completed written")

    st = await mh.execute_update("reopen", reopen("p2"), result_type=MissionStatus)
    assert not st.complete and state_of(st, "p2") == "running"
    assert state_of(st, "p3") == "complete"  # completed dependants stay complete
    p2 = ph(rig, m, "p2")
    g2 = await awaiting(p2, "g2")
    await refused(approve(p2, "g2", "cole", "head", g2.digest), "SeparationOfDuties")
    await approve(p2, "g2", "ana", "head", g2.digest)
    await wait_mission(mh, lambda s: s.complete, "complete again")
    await wait_audit(rig, lambda kinds: kinds.count("mission_completed") == 2, "a second mission_completed")
    await save_history(mh, "mission_reopen_after_complete")


async def test_migration_re_evaluates_and_voids_pending_approvals(rig: Rig) -> None:
    m = f"mm-{uuid.uuid4().hex[:10]}"
    v1 = rig.load(three_phases(m, quorum=2))
    v2 = rig.load(three_phases(m, threshold=4, quorum=2))
    rig.evidence(m, "ind.a", 3, day=1)
    mh = await rig.start_mission(v1, person="cora")
    await approve_when_ready(rig, m, "p1", "g1")
    await wait_mission(mh, lambda s: state_of(s, "p2") == "running", "p2 running")
    p2 = ph(rig, m, "p2")
    old = await awaiting(p2, "g2")
    await approve(p2, "g2", "ana", "head", old.digest)
    await refused(mh.execute_update("migrate", MigrateInput(plan_sha256=v1.sha256, person="cole",
                                                            role="coordinator")), "SamePlan")
    await refused(mh.execute_update("migrate", MigrateInput(plan_sha256=v2.sha256, person="cole",
                                                            role="deputy")), "RoleNotAllowed")
    st = await mh.execute_update("migrate", MigrateInput(plan_sha256=v2.sha256, person="cole", role="coordinator"),
                                 result_type=MissionStatus)
    assert st.plan_sha256 == v2.sha256 and state_of(st, "p1") == "complete"
    new = await wait_phase(p2, lambda s: s.plan_sha256 == v2.sha256 and s.gates[0].state == "awaiting_approval"
                           and s.gates[0].digest != old.digest, "re-evaluated under v2")
    assert new.gates[0].approvals == []
    await refused(approve(p2, "g2", "hal", "host", old.digest), "StaleDigest")
    await approve(p2, "g2", "ana", "head", new.gates[0].digest)
    await approve(p2, "g2", "hal", "host", new.gates[0].digest)
    await approve_when_ready(rig, m, "p3", "g3")
    st = await wait_mission(mh, lambda s: s.complete, "mission complete")
    assert st.plan_sha256 == v2.sha256
    assert "plan_migrated" in rig.backend.audit_kinds()
    await save_history(mh, "mission_migrate_open")
