"""A worker that will not stop fails its block with what it waits on, instead of hanging the
test run (one hung 35 minutes in a worker's shutdown)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from runtime.lifetime import WorkerStuck, running

started = asyncio.Event()


@activity.defn(name="deaf")
async def deaf() -> None:
    """Ignores the cancel a worker's shutdown sends, for a while."""
    started.set()
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        await asyncio.sleep(3)


@workflow.defn(name="CallsDeaf")
class CallsDeaf:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity("deaf", start_to_close_timeout=timedelta(seconds=60))


async def test_a_worker_that_will_not_stop_fails_with_what_it_waits_on(env: WorkflowEnvironment) -> None:
    queue = f"stop-{uuid.uuid4()}"
    started.clear()
    worker = Worker(env.client, task_queue=queue, workflows=[CallsDeaf], activities=[deaf],
                    workflow_runner=UnsandboxedWorkflowRunner())
    h = None
    with pytest.raises(WorkerStuck, match=f"{queue!r} did not stop within 1 s") as caught:
        async with running(worker, patience_s=1):
            h = await env.client.start_workflow("CallsDeaf", id=f"deaf/{uuid.uuid4()}", task_queue=queue)
            await asyncio.wait_for(started.wait(), timeout=30)
    assert "deaf (test_worker_stop.py" in str(caught.value), str(caught.value)
    assert h is not None
    await h.terminate("test over")
    await asyncio.wait_for(worker.shutdown(), timeout=30)  # it does stop once the activity ends


async def test_a_worker_stops_within_its_bound(env: WorkflowEnvironment) -> None:
    worker = Worker(env.client, task_queue=f"stop-{uuid.uuid4()}", workflows=[CallsDeaf],
                    workflow_runner=UnsandboxedWorkflowRunner())
    async with running(worker, patience_s=30):
        pass
    assert worker.is_shutdown
