"""The real app over the in-process ports, with a small plan and one key per kind of user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.inprocess import InMemoryAudit, InProcessEvidence, InProcessGates
from api.keys import KeyRegistry
from api.settings import ApiSettings
from rules.plan import load_plan

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


@dataclass
class Env:
    client: httpx.AsyncClient
    app: Any
    keys: dict[str, str]
    audit: InMemoryAudit
    evidence: InProcessEvidence
    gates: InProcessGates
    registry: KeyRegistry

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    async def submit(self, records: Any, who: str = "jmac") -> httpx.Response:
        return await self.client.post(f"/v1/missions/{MISSION}/evidence", json=records, headers=self.auth(who))


def build(settings: ApiSettings | None = None) -> tuple[Any, dict[str, str], InMemoryAudit, InProcessEvidence,
                                                       InProcessGates, KeyRegistry]:
    audit = InMemoryAudit()
    evidence = InProcessEvidence(audit)
    evidence.add_plan(load_plan(PLAN))
    gates = InProcessGates(evidence, audit)
    gates.start_mission_as(MISSION, "dave")
    reg = KeyRegistry()
    keys = {
        "alice": reg.create_person("alice", ["mission_head"])[0],
        "bob": reg.create_person("bob", ["host_nation"])[0],
        "carol": reg.create_person("carol", ["deputy", "mission_head"])[0],
        "dave": reg.create_person("dave", ["coordinator", "deputy"])[0],
        "jmac": reg.create_system("jmac", [MISSION], ["jmac", "unpol"])[0],
        "rogue": reg.create_system("rogue", [MISSION], ["rogue"])[0],
        "elsewhere": reg.create_system("elsewhere", ["other-mission"], ["jmac"])[0],
    }
    app = create_app(settings or ApiSettings(max_body_bytes=64 * 1024), evidence, gates, reg, audit)
    return app, keys, audit, evidence, gates, reg


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    app, keys, audit, evidence, gates, reg = build()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield Env(client, app, keys, audit, evidence, gates, reg)


async def open_gate(env: Env) -> str:
    """Evidence that makes g1 pass; returns its digest."""
    r = await env.submit([record("inc-1", value=3), record("cov-1", "police.coverage", 60.0)])
    assert r.json()["stored"] == 2, r.json()
    view = (await env.client.get(f"/v1/missions/{MISSION}/gates/g1", headers=env.auth("alice"))).json()
    assert view["state"] == "awaiting_approval", view
    digest: str = view["evaluation"]["digest"]
    return digest
