"""On a real dev server with a database file and the real store on PostgreSQL: kill -9 the
worker mid-phase and start another; stop and restart the server; the mission finishes correctly
with its state intact and the audit chain valid.
Visibility lists the gates awaiting approval through the registered search attributes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from rules.plan import load_plan
from schemas.messages import EvidenceChanged, MissionInput, MissionResult, PhaseStatus
from store import Store
from workflows import mission_workflow_id, phase_workflow_id
from workflows.common import GATE_STATES_KEY, MISSION_KEY, PHASE_KEY

from .conftest import _binary
from .helpers import approve, awaiting, gate, phase, plan_doc, wait_mission, wait_phase

ROOT = Path(__file__).resolve().parents[2]


PG_ADMIN = os.environ.get("EXITGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def pg_url() -> Iterator[str]:
    name = f"exitgate_wf_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def spawn_worker(address: str, queue: str, database_url: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("worker_proc.py")), address, queue,
                             database_url], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "worker ready" in line, line
    return proc


def kill9(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


async def start_server(db: Path, port: int | None = None) -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"), dev_server_database_filename=str(db), port=port,
        data_converter=pydantic_data_converter, search_attributes=[MISSION_KEY, PHASE_KEY, GATE_STATES_KEY])


def evidence(mission: str, rid: str, value: float, day: str) -> dict[str, object]:
    return {"id": rid, "mission": mission, "indicator": "ind.a", "value": value,
            "observed_at": f"2020-01-{day}T00:00:00Z", "reported_at": f"2020-01-{day}T00:00:00Z", "source": "test"}


async def listed_awaiting(client: Client, mission: str) -> list[str]:
    query = f"ExitgateMission = '{mission}' AND ExitgateGateStates = 'awaiting_approval'"
    return [w.id async for w in client.list_workflows(query)]


async def test_worker_killed_and_server_restarted_mid_phase(tmp_path: Path, pg_url: str) -> None:
    m = f"dv-{uuid.uuid4().hex[:8]}"
    doc = plan_doc([phase("p1", [gate("g1")]), phase("p2", [gate("g2", quorum=2)], depends_on=["p1"])], mission=m)
    plan = load_plan(doc)
    store = Store.from_url(pg_url)
    store.register_mission(plan, "cora")
    assert [o.status for o in store.ingest(plan, [evidence(m, "e1", 3, "02")], backfill=True, actor="cora")] == ["stored"]
    queue = f"exitgate-dev-{uuid.uuid4()}"
    db = tmp_path / "temporal.db"
    procs: list[subprocess.Popen[str]] = []
    env = await start_server(db)
    port = int(env.client.service_client.config.target_host.rsplit(":", 1)[1])
    try:
        address = env.client.service_client.config.target_host
        procs.append(spawn_worker(address, queue, pg_url))
        mh = await env.client.start_workflow(
            "Mission", MissionInput(plan_sha256=plan.sha256, person="cora", role="coordinator"),
            id=mission_workflow_id(m), task_queue=queue, result_type=MissionResult)
        p1 = env.client.get_workflow_handle(phase_workflow_id(m, "p1"))
        g1 = await awaiting(p1, "g1")
        await approve(p1, "g1", "ana", "head", g1.digest)
        p2 = env.client.get_workflow_handle(phase_workflow_id(m, "p2"))
        g2 = await awaiting(p2, "g2")
        await approve(p2, "g2", "ana", "head", g2.digest)
        for _ in range(100):  # visibility is eventually consistent
            if phase_workflow_id(m, "p2") in await listed_awaiting(env.client, m):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("p2 never listed as awaiting approval")

        kill9(procs[-1])  # mid-phase: one approval of two given
        # Still passes, with a new digest.
        assert store.ingest(plan, [evidence(m, "e2", 4, "03")], backfill=True, actor="cora")[0].status == "stored"
        await p2.signal("evidence_changed", EvidenceChanged(indicators=["ind.a"]))
        procs.append(spawn_worker(address, queue, pg_url))
        # An activity the killed worker held is retried only after its start-to-close timeout
        # (2 minutes), so the new worker may need that long.
        st = await wait_phase(p2, lambda s: s.gates[0].digest != g2.digest, "re-evaluated by the new worker",
                              timeout_s=150)
        assert [a.person for a in st.gates[0].approvals] == ["ana"]

        kill9(procs[-1])
        await env.shutdown()
        env = await start_server(db, port)  # same database file: the state must be intact
        procs.append(spawn_worker(address, queue, pg_url))
        p2 = env.client.get_workflow_handle(phase_workflow_id(m, "p2"))
        again = await p2.query("status", result_type=PhaseStatus)
        assert again.gates[0].digest == st.gates[0].digest
        assert [a.person for a in again.gates[0].approvals] == ["ana"]
        await approve(p2, "g2", "hal", "host", again.gates[0].digest)
        # A complete mission stays open for reopens (docs/workflows.md): read its status.
        mstatus = await wait_mission(env.client.get_workflow_handle(mh.id), lambda s: s.complete, "mission complete")
        assert [p.id for p in mstatus.phases] == ["p1", "p2"]
        for _ in range(400):  # the status is complete before the audit activity has written it
            kinds = [e.kind for e in store.audit_entries() if not e.kind.startswith("evidence.")]
            if kinds[-1] == "mission_completed":
                break
            await asyncio.sleep(0.025)
        assert kinds.count("approval") == 3 and kinds[-1] == "mission_completed"
        assert store.audit_verify().ok
    finally:
        store.close()
        for p in procs:
            if p.poll() is None:
                kill9(p)
        await env.shutdown()
