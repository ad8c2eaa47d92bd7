"""A phase that ends without completing is reported to its mission as failed, with the reason,
and a coordinator can start it again by reopening it."""

from __future__ import annotations

import uuid
from pathlib import Path

from activities import MemoryBackend
from runtime.lifetime import running
from schemas.messages import MissionStatus
from worker import build_worker

from .helpers import Rig, approve, gate_of, save_history, wait_mission, wait_phase
from .test_devserver import start_server
from .test_lifecycle import refused
from .test_mission import approve_when_ready, ph, reopen, state_of, three_phases


def failure_of(st: MissionStatus, pid: str) -> str | None:
    return next(p.failure for p in st.phases if p.id == pid)


async def test_terminated_phase_is_failed_and_reopen_restarts_it(tmp_path: Path) -> None:
    # On the dev server: the time-skipping test server never tells a parent that its child was
    # terminated (no ChildWorkflowExecutionTerminated event reaches the mission's history).
    env = await start_server(tmp_path / "temporal.db")
    try:
        backend, queue = MemoryBackend(), f"exitgate-test-{uuid.uuid4()}"
        async with running(build_worker(env.client, backend, queue)):
            await _terminated(Rig(env, env.client, backend, queue))
    finally:
        await env.shutdown()


async def _terminated(rig: Rig) -> None:
    m = f"mf-{uuid.uuid4().hex[:10]}"
    plan = rig.load(three_phases(m))
    rig.evidence(m, "ind.a", 3, day=1)
    mh = await rig.start_mission(plan, person="cora")
    await wait_mission(mh, lambda s: state_of(s, "p1") == "running", "p1 running")
    # The mission marks p1 running as it asks the server to start it: terminate the run once
    # it exists (under load the terminate could otherwise come first and find nothing).
    await wait_phase(ph(rig, m, "p1"), lambda s: s.generation == 0, "p1's run started")
    await ph(rig, m, "p1").terminate("operator cleared a stuck run")

    st = await wait_mission(mh, lambda s: state_of(s, "p1") == "failed", "p1 failed")
    assert "terminated" in (failure_of(st, "p1") or "").lower(), failure_of(st, "p1")
    assert state_of(st, "p2") == "pending" and not st.complete
    await refused(mh.execute_update("reopen", reopen("p1", role="head")), "RoleNotAllowed")

    st = await mh.execute_update("reopen", reopen("p1"), result_type=MissionStatus)
    assert state_of(st, "p1") == "running" and failure_of(st, "p1") is None
    # Until the new run starts, the phase's id still answers with the terminated run, whose
    # gate was awaiting approval too: wait for generation 1 before approving.
    p1 = await wait_phase(ph(rig, m, "p1"), lambda s: s.generation == 1
                          and gate_of(s, "g1").state == "awaiting_approval", "p1 restarted")
    await approve(ph(rig, m, "p1"), "g1", "ana", "head", gate_of(p1, "g1").digest)
    await wait_mission(mh, lambda s: state_of(s, "p2") == "running", "p2 started after the restarted p1")
    failed = [e for e in rig.backend.audit if e["kind"] == "phase_failed"]
    assert [(e["payload"]["phase"], e["payload"]["generation"]) for e in failed] == [("p1", 0)]


async def test_phase_whose_activity_fails_for_good_reports_why(rig: Rig) -> None:
    m = f"mf-{uuid.uuid4().hex[:10]}"
    plan = rig.load(three_phases(m))
    rig.evidence(m, "ind.a", 3, day=1)
    mh = await rig.start_mission(plan, person="cora")
    await approve_when_ready(rig, m, "p1", "g1")
    await wait_mission(mh, lambda s: state_of(s, "p2") == "running", "p2 running")
    # p2's first evaluation done before the plan goes: otherwise p2 fails too (seen in CI under load).
    await wait_phase(ph(rig, m, "p2"), lambda s: s.evaluations_total >= 1, "p2 evaluated")

    # The plan vanishes from the store: evaluate_gate fails with UnknownPlan, which no retry fixes.
    stored = rig.backend.plans.pop(plan.sha256)
    await mh.execute_update("reopen", reopen("p1"), result_type=MissionStatus)
    st = await wait_mission(mh, lambda s: state_of(s, "p1") == "failed", "p1 failed")
    assert f"no plan with sha256 {plan.sha256}" in (failure_of(st, "p1") or ""), failure_of(st, "p1")
    assert state_of(st, "p2") == "paused"  # its dependency is not complete

    rig.backend.plans[plan.sha256] = stored
    await mh.execute_update("reopen", reopen("p1"), result_type=MissionStatus)
    await approve_when_ready(rig, m, "p1", "g1", person="bea")
    await wait_mission(mh, lambda s: state_of(s, "p1") == "complete" and state_of(s, "p2") == "running",
                       "p1 complete again, p2 resumed")
    reasons = [e["payload"]["reason"] for e in rig.backend.audit if e["kind"] == "phase_failed"]
    assert reasons == [f"Activity task failed: UnknownPlan: no plan with sha256 {plan.sha256}"]
    await save_history(mh, "mission_phase_failed")
