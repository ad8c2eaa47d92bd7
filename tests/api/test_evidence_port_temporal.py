"""Evidence sent through the service reaches the store and the running phase
workflow, whose worker evaluates from that same store: the gate opens for approval."""

from __future__ import annotations

import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from rules.plan import load_plan
from schemas.ids import phase_workflow_id
from schemas.messages import PhaseInput
from schemas.timefmt import DAY, format_timestamp
from service import Service
from store import Store
from store.spec import plan_spec
from tests.workflows.helpers import T0, gate, phase, plan_doc, wait_phase
from worker import build_worker


def record(mission: str, rid: str, value: float, day: int) -> dict[str, object]:
    at = format_timestamp(T0 + day * DAY)
    return {"id": rid, "mission": mission, "indicator": "ind.a", "value": value, "observed_at": at,
            "reported_at": at, "source": "test"}


async def test_ingest_through_the_service_opens_the_gate(temporal: WorkflowEnvironment, tmp_path: Path) -> None:
    # The API tests' dev server: this is integration, and it must not share (and hold up)
    # the time-skipping server the timer tests rely on.
    await _ingest_opens_gate(temporal, tmp_path)


async def _ingest_opens_gate(env: WorkflowEnvironment, tmp_path: Path) -> None:
    m = f"api-{uuid.uuid4().hex[:8]}"
    plan = load_plan(plan_doc([phase("p1", [gate("g1")]), phase("p2", [gate("g2")], depends_on=["p1"])], mission=m))
    queue = f"exitgate-api-{uuid.uuid4()}"
    with Store.from_url(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        store.register_mission(plan, "cora")
        port = Service(store, env.client, queue)
        async with build_worker(env.client, store, queue):
            spec = next(p for p in plan_spec(plan).phases if p.id == "p1")
            h = await env.client.start_workflow(
                "Phase", PhaseInput(mission=m, plan_sha256=plan.sha256, phase=spec, started_by="cora"),
                id=phase_workflow_id(m, "p1"), task_queue=queue)
            try:
                before = await wait_phase(h, lambda s: not s.pending_evaluation, "first evaluation")
                assert before.gates[0].state == "collecting"
                out = await port.ingest(m, [record(m, "e1", 3, 1), {"id": "bad"}], actor="system:test", backfill=True)
                assert [o.status for o in out] == ["stored", "rejected"]
                st = await wait_phase(h, lambda s: s.gates[0].state == "awaiting_approval", "gate opened")
                assert st.gates[0].digest
                # p2 has not started: nothing to tell, and no error.
                assert await port.tell_phases(plan, {"ind.a"}) == ["p1"]
            finally:
                await h.terminate("test over")
        await port.audit("approval.refused", {"gate": "g1", "reason": "stale digest"}, "bob")
        kinds = [e.kind for e in store.audit_entries()]
        assert "evidence.backfill" in kinds and "approval.refused" in kinds and store.audit_verify().ok
