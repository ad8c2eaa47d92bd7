"""A workflow task in hand, read from the history: the time-skipping server never reports one in
describe, and events that arrive while a task is scheduled are written after it, so neither
describe nor the history's last event can say (a rehearsal moved on with a task in hand)."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from rehearsal.watch import history_in_hand

from .helpers import Rig, gate, open_work, phase, plan_doc, wait_phase


async def test_a_task_scheduled_before_a_signal_is_in_hand(env: WorkflowEnvironment) -> None:
    # No worker polls this queue: the first workflow task stays scheduled.
    h = await env.client.start_workflow("Phase", id=f"in-hand/{uuid.uuid4()}", task_queue=f"nobody-{uuid.uuid4()}")
    try:
        await h.signal("evidence_changed", {"indicators": ["ind.a"]})
        events = (await h.fetch_history()).events
        assert events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        assert not (await h.describe()).raw_description.HasField("pending_workflow_task")
        assert await history_in_hand(env.client, h.id) == (["a workflow task"], len(events))
        [line] = [w for w in await open_work(env.client) if w.startswith(h.id)]
        assert "in hand: a workflow task;" in line, line
    finally:
        await h.terminate("test over")


async def test_an_idle_phase_has_no_task_in_hand(rig: Rig) -> None:
    plan = rig.load(plan_doc([phase("p1", [gate("g1")])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    h = await rig.start_phase(plan, "p1")
    await wait_phase(h, lambda s: s.gates[0].evaluations >= 1, "first evaluation")
    for _ in range(400):
        held, _ = await history_in_hand(rig.client, h.id)
        if not held:
            break
        await asyncio.sleep(0.025)
    assert not held, f"the phase kept {held} in hand for 10 s"
    [line] = [w for w in await open_work(rig.client) if w.startswith(h.id)]
    assert "no workflow task" in line, line
