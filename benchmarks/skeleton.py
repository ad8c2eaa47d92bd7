"""The baseline for workflow_bench: the gate workflow's shape with nothing of ours in it."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="skeleton_step")
async def skeleton_step(n: int) -> int:
    return n + 1


@workflow.defn(name="Skeleton")
class Skeleton:
    def __init__(self) -> None:
        self.signalled = False
        self.done = False
        self.value = 0

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.signalled)
        self.value = await workflow.execute_activity(skeleton_step, 1, start_to_close_timeout=timedelta(seconds=30))
        await workflow.wait_condition(lambda: self.done)
        return self.value

    @workflow.signal
    def poke(self) -> None:
        self.signalled = True

    @workflow.update
    def finish(self) -> int:
        self.done = True
        return self.value

    @workflow.query
    def value_now(self) -> int:
        return self.value
