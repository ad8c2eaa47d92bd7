"""Stored evidence reaches the running phases through the store's outbox, whatever failed
between the commit and the signal: with Temporal unreachable the change stays pending, and the
next relay pass delivers it (the real store, the real workflows)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities import plan_spec
from rules.plan import load_plan
from runtime import relay_once
from runtime.lifetime import running
from schemas.ids import phase_workflow_id
from schemas.messages import Limits, PhaseInput, PhaseResult
from store import Store
from worker import build_worker

from .conftest import _binary
from .helpers import awaiting, gate, gate_of, phase, plan_doc, wait_phase


def record(rid: str, value: float) -> dict[str, object]:
    return {"id": rid, "mission": "m1", "indicator": "ind.a", "value": value,
            "observed_at": "2020-01-02T00:00:00Z", "reported_at": "2020-01-02T00:00:00Z", "source": "test"}


async def test_evidence_stored_while_temporal_is_unreachable_reaches_the_phase(
        env: WorkflowEnvironment, tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'store.db'}")
    plan = load_plan(plan_doc([phase("p1", [gate("g1")])]))
    store.register_mission(plan, "cora")
    queue = f"exitgate-test-{uuid.uuid4()}"
    try:
        async with running(build_worker(env.client, store, queue)):
            store.ingest(plan, [record("r1", 3)], backfill=True, actor="test")
            # No phase runs yet: nothing to tell, and the change is done with.
            assert await relay_once(store, env.client) == 1 and store.pending_changes() == []

            spec = plan_spec(plan).phases[0]
            h = await env.client.start_workflow(
                "Phase", PhaseInput(mission="m1", plan_sha256=plan.sha256, phase=spec, started_by="cora",
                                    limits=Limits()),
                id=phase_workflow_id("m1", "p1"), task_queue=queue, result_type=PhaseResult)
            await awaiting(h, "g1")

            # A record that makes the rule fail is committed, and Temporal cannot be reached.
            store.ingest(plan, [record("r2", 9)], backfill=True, actor="test")
            down = await WorkflowEnvironment.start_time_skipping(
                test_server_existing_path=_binary("temporal-test-server"), data_converter=pydantic_data_converter)
            await down.shutdown()
            with pytest.raises(RPCError):
                await relay_once(store, down.client, patience_s=1)
            [pending] = store.pending_changes()
            assert gate_of(await wait_phase(h, lambda s: True), "g1").state == "awaiting_approval"

            assert await relay_once(store, env.client) == 1 and store.pending_changes() == []
            st = await wait_phase(h, lambda s: gate_of(s, "g1").state == "collecting", "the stored record seen")
            assert gate_of(st, "g1").evidence_position == pending.id
            await h.terminate("test over")
    finally:
        store.close()
