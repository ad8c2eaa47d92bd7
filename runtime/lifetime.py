"""Running a worker for the length of a block, and stopping it within a bound.

`async with Worker(...)` waits for the worker's shutdown however long it takes: the SDK's
shutdown waits for every poll in flight to return and every activity to finish, and an
activity that ignores its cancel, or a poll the SDK's core never resolves, holds it for good.
A test once sat 35 minutes in a worker's shutdown with an idle event loop (what it waited on
was never seen). Here the stop is bounded: past `patience_s` the block fails with
`WorkerStuck`, naming the tasks still waiting and where, instead of hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
from collections.abc import AsyncIterator
from types import FrameType
from typing import Any

from temporalio.worker import Worker

__all__ = ["WORKER_STOP_PATIENCE_S", "WorkerStuck", "pending_tasks", "running"]

# Real seconds a worker may take to stop (its long polls answered, its activities cancelled).
WORKER_STOP_PATIENCE_S = 90.0


class WorkerStuck(RuntimeError):
    """A worker that would not stop: a diagnosis, not a hang."""


def pending_tasks(limit: int = 4, loop: asyncio.AbstractEventLoop | None = None) -> str:
    """Every other pending asyncio task of this loop (or `loop`, from another thread) with the
    innermost frames it waits in (followed down its chain of awaits: `Task.get_stack` gives a
    suspended task's outer frame only)."""
    out = io.StringIO()
    me = asyncio.current_task(loop)
    for task in sorted(asyncio.all_tasks(loop), key=lambda t: t.get_name()):
        if task is me or task.done():
            continue
        frames = _awaiting(task.get_coro())
        where = " > ".join(f"{f.f_code.co_name} ({f.f_code.co_filename.rsplit('/', 2)[-1]}:{f.f_lineno})"
                           for f in frames[-limit:])
        print(f"  {task.get_name()}: {where or task.get_coro()}", file=out)
    return out.getvalue()


def _awaiting(coro: Any) -> list[FrameType]:
    frames: list[FrameType] = []
    while coro is not None and len(frames) < 100:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None) or getattr(coro, "ag_frame", None)
        if frame is not None:
            frames.append(frame)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None) or getattr(coro, "ag_await", None)
    return frames


@contextlib.asynccontextmanager
async def running(worker: Worker, patience_s: float = WORKER_STOP_PATIENCE_S) -> AsyncIterator[Worker]:
    """The worker runs for the block (as `async with worker`); its stop is bounded."""
    await worker.__aenter__()
    try:
        yield worker
    except BaseException:
        await _stop(worker, patience_s, sys.exc_info())
        raise
    await _stop(worker, patience_s, (None, None, None))


async def _stop(worker: Worker, patience_s: float, exc_info: tuple[object, object, object]) -> None:
    try:
        await asyncio.wait_for(worker.__aexit__(*exc_info), timeout=patience_s)  # type: ignore[arg-type]
    except TimeoutError:
        raise WorkerStuck(f"the worker on task queue {worker.task_queue!r} did not stop within "
                          f"{patience_s:.0f} s; still pending:\n{pending_tasks()}") from None
