"""The real app over the real parts: the store (SQLite in a tmp dir), the mission and phase
workflows on a Temporal dev server (one per test process) with a real worker, each test on its
own task queue with its own store; a small plan, started by dave, and one key per kind of user.

Evaluation is asynchronous (the phase workflow hears of evidence by a signal): tests wait on a
condition (`Env.until`), never on time.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.settings import ApiSettings
from rules.plan import load_plan
from schemas.ids import mission_workflow_id, phase_workflow_id
from service import Caller, Service
from service.keys import KeyRegistry
from store import AuditEntry, Store
from tests.workflows.conftest import _binary
from worker import build_worker
from workflows.common import GATE_STATES_KEY, MISSION_KEY, PHASE_KEY

MISSION = "lakeland"

PLAN: dict[str, Any] = {
    "plan": "lakeland-exit", "version": "1",
    "mission": {"id": MISSION, "name": "Lakeland Stabilisation Mission"},
    "indicators": [
        {"id": "security.incidents", "name": "Security incidents", "unit": "incidents", "kind": "integer",
         "min": 0, "sources": ["jmac"]},
        {"id": "police.coverage", "name": "Police coverage", "unit": "percent", "kind": "number",
         "min": 0, "max": 100, "sources": ["unpol"]},
    ],
    "phases": [
        {"id": "p1", "name": "Preparation", "depends_on": [], "gates": [{
            "id": "g1", "name": "Security handed over",
            "rule": {"all": [
                {"benchmark": {"id": "incidents-low", "indicator": "security.incidents",
                               "aggregate": "latest", "op": "<=", "threshold": 5}},
                {"benchmark": {"id": "coverage-ok", "indicator": "police.coverage",
                               "aggregate": "mean", "op": ">=", "threshold": 50}},
            ]},
            "approval": {"roles": ["mission_head", "host_nation", "deputy"], "quorum": 2,
                         "distinct_roles": True, "waiver_roles": ["mission_head"]},
        }]},
        {"id": "p2", "name": "Drawdown", "depends_on": ["p1"], "gates": [{
            "id": "g2", "name": "No incidents",
            "rule": {"benchmark": {"id": "incidents-none", "indicator": "security.incidents",
                                   "aggregate": "latest", "op": "==", "threshold": 0}},
            "approval": {"roles": ["mission_head"], "quorum": 1},
        }]},
    ],
}


def record(rid: str, indicator: str = "security.incidents", value: Any = 3, source: str | None = None,
           observed_at: str = "2025-03-31T00:00:00Z", **extra: Any) -> dict[str, Any]:
    src = source or ("jmac" if indicator == "security.incidents" else "unpol")
    return {"id": rid, "mission": MISSION, "indicator": indicator, "value": value,
            "observed_at": observed_at, "source": src, **extra}


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"), data_converter=pydantic_data_converter,
        search_attributes=[MISSION_KEY, PHASE_KEY, GATE_STATES_KEY])
    try:
        yield env
    finally:
        await env.shutdown()


@dataclass
class Env:
    client: httpx.AsyncClient
    app: Any
    keys: dict[str, str]
    store: Store
    service: Service
    registry: KeyRegistry

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    async def submit(self, records: Any, who: str = "jmac") -> httpx.Response:
        return await self.client.post(f"/v1/missions/{MISSION}/evidence", json=records, headers=self.auth(who))

    def audit(self, kind: str) -> list[AuditEntry]:
        return [e for e in self.store.audit_entries() if e.kind == kind]

    async def audited(self, kind: str, n: int = 1, timeout_s: float = 30.0) -> list[AuditEntry]:
        """The entries of `kind` once there are `n` (workflows write theirs in group commits)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(found := self.audit(kind)) < n:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{n} audit entries {kind!r} not written in {timeout_s} s: {found}")
            await asyncio.sleep(0.05)
        return found

    def record_ids(self) -> list[str]:
        return sorted(i for s in self.store.evidence_index(MISSION).series.values() for i in s.ids)

    async def until(self, path: str, pred: Callable[[Any], bool], who: str = "alice",
                    timeout_s: float = 30.0) -> Any:
        """GET `path` until `pred` holds of its JSON (the workflows evaluate asynchronously)."""
        body: Any = None
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            r = await self.client.get(path, headers=self.auth(who))
            if r.status_code == 200:
                body = r.json()
                if pred(body):
                    return body
            await asyncio.sleep(0.05)
        raise AssertionError(f"{path}: condition not met in {timeout_s} s; last: {body}")

    async def gate(self, gate: str, pred: Callable[[Any], bool], who: str = "alice") -> Any:
        return await self.until(f"/v1/missions/{MISSION}/gates/{gate}", pred, who)

    async def evaluated(self, gate: str = "g1", who: str = "alice") -> Any:
        """The gate once the workflow has evaluated everything it was told of."""
        return await self.gate(gate, lambda v: v["evaluation"] is not None and not v["evaluation_pending"], who)


# Each person's roles in the mission's register (their keys say only who they are).
KEYS = {"alice": ["mission_head"], "bob": ["host_nation"], "carol": ["deputy", "mission_head"],
        "dave": ["coordinator", "deputy"]}
OPERATOR = Caller("operator", operator=True)


async def grant_all(service: Service, mission: str, roles: dict[str, list[str]]) -> None:
    """Grant `roles` in the mission's register, as an operator with store access would."""
    for person, held in roles.items():
        for role in held:
            await service.roles.grant(mission, OPERATOR, None, person, role, reason="test roster")
SYSTEMS = {"jmac": ([MISSION], ["jmac", "unpol"]), "rogue": ([MISSION], ["rogue"]),
           "elsewhere": (["other-mission"], ["jmac"])}


async def forget_workflows(client: Client, plan: dict[str, Any], timeout_s: float = 60.0) -> bool:
    """Delete the mission's and phases' workflows (running ones are terminated first), every
    run, so a test on this server starts the same ids afresh. False if one is still there
    after `timeout_s` (the server deletes in the background; under load it can lag)."""
    mission = plan["mission"]["id"]
    ids = [mission_workflow_id(mission)] + [phase_workflow_id(mission, p["id"]) for p in plan["phases"]]
    for wid in ids:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            try:
                await client.workflow_service.delete_workflow_execution(DeleteWorkflowExecutionRequest(
                    namespace=client.namespace, workflow_execution=WorkflowExecution(workflow_id=wid)))
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
                break  # gone, every run of it
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.025)
    return True


@asynccontextmanager
async def stack(temporal: WorkflowEnvironment, tmp: Path, plan: dict[str, Any] | None = None,
                settings: ApiSettings | None = None, start: bool = True,
                roster: dict[str, list[str]] | None = None, client: Client | None = None) -> AsyncIterator[Env]:
    """The whole app on its own task queue and store; the register granted (`roster`, default
    KEYS), the plan loaded and (by dave) started. `client`: the Temporal client of the service
    and the worker (the dev server's by default)."""
    plan = plan or PLAN
    client = client or temporal.client
    queue = f"exitgate-api-{uuid.uuid4()}"
    store = Store.from_url(f"sqlite:///{tmp / f'store-{uuid.uuid4().hex[:8]}.sqlite'}")
    service = Service(store, client, queue)
    reg = KeyRegistry()
    keys = {p: reg.create_person(p)[0] for p in KEYS}
    keys |= {s: reg.create_system(s, ms, srcs)[0] for s, (ms, srcs) in SYSTEMS.items()}
    app = create_app(settings or ApiSettings(max_body_bytes=64 * 1024, data_dir=tmp), service, reg)
    try:
        async with build_worker(client, store, queue), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            # What an earlier test left (its teardown gave up waiting) goes first.
            assert await forget_workflows(temporal.client, plan), "an earlier test's workflows are still there"
            # Before the plan, an operator names the mission's people (no plan yet: any role).
            await grant_all(service, plan["mission"]["id"], KEYS if roster is None else roster)
            await service.load_plan(load_plan(plan), OPERATOR)
            if start:
                await service.start_mission(plan["mission"]["id"], Caller("dave"), "coordinator")
            try:
                yield Env(client, app, keys, store, service, reg)
            finally:
                await forget_workflows(temporal.client, plan, timeout_s=30)
    finally:
        store.close()


@pytest_asyncio.fixture
async def env(temporal: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Env]:
    async with stack(temporal, tmp_path) as e:
        yield e


async def open_gate(env: Env) -> str:
    """Evidence that makes g1 pass; returns its digest once the workflow awaits approval."""
    r = await env.submit([record("inc-1", value=3), record("cov-1", "police.coverage", 60.0)])
    assert r.json()["stored"] == 2, r.json()
    view = await env.gate("g1", lambda v: v["state"] == "awaiting_approval")
    digest: str = view["evaluation"]["digest"]
    return digest
