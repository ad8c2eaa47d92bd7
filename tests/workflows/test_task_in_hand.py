"""A workflow task in hand, read from the history: the time-skipping server never reports one in
describe, and events that arrive while a task is scheduled are written after it, so neither
describe nor the history's last event can say (a rehearsal moved on with a task in hand)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import timedelta
from typing import Any, cast

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from rehearsal.watch import Watch, history_in_hand
from runtime.lifetime import running

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


@workflow.defn(name="WakesOnPoke", sandboxed=False)
class WakesOnPoke:
    def __init__(self) -> None:
        self.poked = False

    @workflow.run
    async def run(self) -> None:
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self.poked, timeout=timedelta(seconds=2))
        await workflow.wait_condition(lambda: False)

    @workflow.signal
    def poke(self) -> None:
        self.poked = True
        time.sleep(1.5)  # the task that cancels the timer is still in flight when it fires


async def test_the_test_server_loses_a_task_whose_timer_fired_meanwhile_and_the_watch_says_so(
        env: WorkflowEnvironment) -> None:
    """The wedge the rehearsal plays again for (rehearsal/runner.py, rehearse). If this fails
    because the task completed or timed out, the test server is fixed and the replay can go."""
    queue = f"lost-{uuid.uuid4()}"
    async with running(Worker(env.client, task_queue=queue, workflows=[WakesOnPoke],
                              workflow_runner=UnsandboxedWorkflowRunner())):
        h = await env.client.start_workflow("WakesOnPoke", id=f"lost/{uuid.uuid4()}", task_queue=queue)
        try:
            await asyncio.sleep(1)  # the server's clock runs in real time while a client holds it
            await h.signal("poke")
            await asyncio.sleep(13)  # past the task's 10 s timeout
            last = (await h.fetch_history()).events[-1]
            assert last.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED, last
            watch = Watch(env.client, cast(Any, None), "m1", [h.id])
            assert await watch.lost_tasks(await env.get_current_time()) == []  # one timeout, not two
            later = await env.get_current_time() + timedelta(seconds=10)
            [lost] = await watch.lost_tasks(later)
            assert lost.startswith(f"{h.id}: workflow task started at ") and "neither completed nor timed out" in lost
        finally:
            await h.terminate("test over")
