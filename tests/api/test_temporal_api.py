"""The real app over the production ports: a real dev server, a real worker, the real store.

One mission's life through the HTTP API: plan load, evidence batches, start, approvals and
every refusal (each audited, none recorded in the workflow), quorum, the next phase starting,
reopen, waivers. The store runs on SQLite here; tests/store covers PostgreSQL.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.settings import ApiSettings
from schemas.timefmt import format_timestamp
from service import Service
from service.keys import KeyRegistry
from store import Store, now_us
from worker import build_worker

from .conftest import MISSION, forget_workflows, grant_all
from .conftest import PLAN as BASE_PLAN

PLAN = copy.deepcopy(BASE_PLAN)
PLAN["phases"][1]["gates"][0]["approval"]["waiver_roles"] = ["mission_head"]


@dataclass
class Live:
    client: httpx.AsyncClient
    keys: dict[str, str]
    store: Store
    dep: Service

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    async def get(self, path: str, who: str = "alice") -> httpx.Response:
        return await self.client.get(path, headers=self.auth(who))

    async def post(self, path: str, body: Any, who: str) -> httpx.Response:
        return await self.client.post(path, json=body, headers=self.auth(who))

    async def until(self, path: str, pred: Callable[[dict[str, Any]], bool], who: str = "alice",
                    timeout_s: float = 20.0) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for _ in range(int(timeout_s / 0.1)):
            r = await self.get(path, who)
            if r.status_code == 200:
                body = r.json()
                if pred(body):
                    return body
            await asyncio.sleep(0.1)
        raise AssertionError(f"{path}: condition not met; last: {body}")


def rec(rid: str, indicator: str = "security.incidents", value: Any = 3, days_ago: float = 1) -> dict[str, Any]:
    at = format_timestamp(now_us() - int(days_ago * 86_400_000_000))
    return {"id": rid, "mission": MISSION, "indicator": indicator, "value": value, "observed_at": at,
            "source": "jmac" if indicator == "security.incidents" else "unpol"}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def live(temporal: WorkflowEnvironment, tmp_path_factory: Any) -> AsyncIterator[Live]:
    tmp: Path = tmp_path_factory.mktemp("live")
    env = temporal
    queue = f"exitgate-api-{uuid.uuid4()}"
    store = Store.from_url(f"sqlite:///{tmp / 'store.sqlite'}")
    dep = Service(store, env.client, queue)
    reg = KeyRegistry(tmp / "keys.json")
    roster = {"cora": ["coordinator"], "rhea": ["coordinator", "mission_head"], "alice": ["mission_head"],
              "bob": ["host_nation"], "carol": ["deputy", "mission_head"]}
    keys = {p: reg.create_person(p)[0] for p in roster}
    keys |= {
        "jmac": reg.create_system("jmac", [MISSION], ["jmac", "unpol"])[0],
        "rogue": reg.create_system("rogue", [MISSION], ["rogue"])[0],
        "elsewhere": reg.create_system("elsewhere", ["other-mission"], ["jmac"])[0],
    }
    await grant_all(dep, MISSION, roster)  # before the plan: an operator names the mission's people
    app = create_app(ApiSettings(max_body_bytes=64 * 1024, data_dir=tmp), dep, reg)
    try:
        async with build_worker(env.client, store, queue), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            assert await forget_workflows(env.client, PLAN), "an earlier test's workflows are still there"
            try:
                yield Live(client, keys, store, dep)
            finally:
                await forget_workflows(env.client, PLAN, timeout_s=30)
    finally:
        store.close()


def audit_kinds(live: Live) -> list[str]:
    return [e.kind for e in live.store.audit_entries()]


async def test_a_mission_through_the_api(live: Live) -> None:
    base = f"/v1/missions/{MISSION}"
    # No key, a bad plan, a non-coordinator loading it.
    assert (await live.client.post("/v1/plans", json=PLAN)).status_code == 401
    bad = copy.deepcopy(PLAN)
    bad["phases"][1]["depends_on"] = ["nope"]
    r = await live.post("/v1/plans", bad, "cora")
    assert r.status_code == 422 and "nope" in r.text and "depends_on" in r.text, r.text
    assert (await live.post("/v1/plans", PLAN, "alice")).status_code == 403
    r = await live.post("/v1/plans", PLAN, "cora")
    assert r.status_code == 200 and r.json()["registered"] is True, r.text

    # Before the start: evidence is accepted, gates are not started.
    r = await live.post(f"{base}/evidence", [rec("inc-1", value=3), {"id": "broken"},
                                              rec("cov-1", "police.coverage", 40.0)], "jmac")
    body = r.json()
    assert r.status_code == 200 and (body["stored"], body["rejected"]) == (2, 1), body
    assert live.store.evidence_count(MISSION) == 2
    # A system reporting a source it is not allowed: that record is refused (and audited); a
    # system of another mission: the whole request is.
    r = await live.post(f"{base}/evidence", [rec("rogue-1", value=1)], "rogue")
    assert r.status_code == 200 and r.json()["rejected"] == 1
    assert "source" in r.json()["results"][0]["errors"][0]["field"]
    r = await live.post(f"{base}/evidence", [rec("else-1", value=1)], "elsewhere")
    assert r.status_code == 403 and live.store.evidence_count(MISSION) == 2
    assert {"evidence.unauthorised", "evidence.refused"} <= set(audit_kinds(live))
    g1 = await live.get(f"{base}/gates/g1")
    assert g1.status_code == 200 and g1.json()["state"] == "not_started"

    # Start: a role outside coordinator_roles, then for real, then again.
    assert (await live.post(f"{base}/start", {"role": "mission_head"}, "alice")).status_code == 403
    r = await live.post(f"{base}/start", {"role": "coordinator"}, "cora")
    assert r.status_code == 200, r.text
    assert (await live.post(f"{base}/start", {"role": "coordinator"}, "cora")).status_code == 409

    # Coverage 40 < 50: the gate collects; more evidence opens it (the workflow hears of it).
    view = await live.until(f"{base}/gates/g1", lambda v: v["evaluation"] is not None)
    assert view["state"] == "collecting" and view["evaluation"]["status"] == "fail"
    assert (await live.post(f"{base}/evidence", [rec("cov-2", "police.coverage", 80.0, 0.5)], "jmac")).json()["stored"] == 1
    view = await live.until(f"{base}/gates/g1", lambda v: v["state"] == "awaiting_approval")
    digest = view["evaluation"]["digest"]
    tree = view["evaluation"]["explanation"]
    assert tree["status"] == "pass" and {"inc-1", "cov-1", "cov-2"} <= set(view["evidence"])

    awaiting = await live.until("/v1/gates/awaiting", lambda a: bool(a))
    assert [(a["gate"], a["digest"]) for a in awaiting] == [("g1", digest)]
    assert (await live.get("/v1/gates/awaiting", "cora")).json() == []  # cora started the exit

    # Refusals: separation of duties (cora holds no gate role, and she started the exit), a
    # role not held, a stale digest, the wrong role. Each is audited; none reaches the gate.
    r = await live.post(f"{base}/gates/g1/approve", {"digest": digest, "role": "host_nation"}, "alice")
    assert r.status_code == 403 and "does not hold" in r.json()["detail"]
    stale = "0" * 64
    r = await live.post(f"{base}/gates/g1/approve", {"digest": stale, "role": "mission_head"}, "alice")
    assert r.status_code == 409 and "not the current evaluation" in r.json()["detail"]
    r = await live.post(f"{base}/gates/g1/approve", {"digest": digest, "role": "mission_head"}, "alice")
    assert r.status_code == 200 and [a["person"] for a in r.json()["approvals"]] == ["alice"], r.text
    r = await live.post(f"{base}/gates/g1/approve", {"digest": digest, "role": "mission_head"}, "alice")
    assert r.status_code == 409 and "already approved" in r.json()["detail"]
    # distinct_roles: carol's mission_head approval would count the same role twice.
    r = await live.post(f"{base}/gates/g1/approve", {"digest": digest, "role": "mission_head"}, "carol")
    assert r.status_code == 409 and "distinct roles" in r.json()["detail"]
    assert audit_kinds(live).count("approval.refused") == 4
    assert (await live.get(f"{base}/gates/nope")).status_code == 404
    r = await live.post(f"{base}/gates/g1/approve", {"digest": "abc", "role": "mission_head"}, "alice")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "digest", r.text
    big = [rec(f"big-{i}", value=1) for i in range(1000)]  # over the 64 KiB limit of this app
    r = await live.post(f"{base}/evidence", big, "jmac")
    assert r.status_code == 413 and live.store.evidence_count(MISSION) == 3
    r = await live.post(f"{base}/gates/g1/approve", {"digest": digest, "role": "mission_head"}, "jmac")
    assert r.status_code == 403  # a system key may not act on gates

    # Quorum (2 distinct roles): carol as deputy completes it; p2 starts.
    r = await live.post(f"{base}/gates/g1/approve", {"digest": digest, "role": "deputy", "comment": "ok"}, "carol")
    assert r.status_code == 200, r.text
    status = await live.until(f"{base}/status", lambda s: s["phases"][1]["state"] == "running")
    assert status["phases"][0]["state"] == "complete"
    assert status["phases"][0]["gates"][0]["state"] == "approved"

    # p2's gate needs 0 incidents: it collects. A waiver by a mission head opens it...
    g2 = await live.until(f"{base}/gates/g2", lambda v: v["evaluation"] is not None)
    assert g2["state"] == "collecting"
    r = await live.post(f"{base}/gates/g2/waive", {"benchmark": "incidents-none", "role": "mission_head",
                                                   "justification": "count under review"}, "bob")
    assert r.status_code == 403 and "does not hold" in r.json()["detail"]
    r = await live.post(f"{base}/gates/g2/waive", {"benchmark": "incidents-none", "role": "mission_head",
                                                   "justification": "count under review"}, "alice")
    assert r.status_code == 200 and r.json()["waivers"][0]["by"] == "alice", r.text
    await live.until(f"{base}/gates/g2", lambda v: v["state"] == "awaiting_approval")
    # ... and revoking it closes the gate again.
    r = await live.post(f"{base}/gates/g2/waivers/incidents-none/revoke", {"role": "mission_head"}, "alice")
    assert r.status_code == 200 and r.json()["waivers"] == [], r.text
    await live.until(f"{base}/gates/g2", lambda v: v["state"] == "collecting")

    # Reopen p1: only a coordinator, with a reason; p2 pauses until p1 completes again.
    r = await live.post(f"{base}/phases/p1/reopen", {"role": "mission_head", "reason": "recount"}, "alice")
    assert (r.status_code, r.json()["type"]) == (403, "RoleNotAllowed")
    r = await live.post(f"{base}/phases/p2/reopen", {"role": "coordinator", "reason": "recount"}, "cora")
    assert (r.status_code, r.json()["type"]) == (409, "PhaseNotComplete")
    assert "only a complete or failed phase" in r.json()["detail"]
    # rhea (a coordinator who also holds mission_head) reopens p1.
    r = await live.post(f"{base}/phases/p1/reopen", {"role": "coordinator", "reason": "recount"}, "rhea")
    assert r.status_code == 200, r.text
    status = await live.until(f"{base}/status", lambda s: s["phases"][1]["state"] == "paused"
                              and s["phases"][0]["state"] == "running")
    reopened = await live.until(f"{base}/gates/g1", lambda v: v["state"] == "awaiting_approval")
    assert reopened["approvals"] == []  # void, in the audit log (approvals_void), not listed
    # Who reopened a phase decides none of its gates until it completes again...
    r = await live.post(f"{base}/gates/g1/approve", {"digest": reopened["evaluation"]["digest"],
                                                     "role": "mission_head"}, "rhea")
    assert (r.status_code, r.json()["type"]) == (403, "SeparationOfDuties") and "reopened" in r.json()["detail"]
    # ... and the paused dependant takes no votes (its gate collects: paused comes first).
    g2 = (await live.get(f"{base}/gates/g2")).json()
    assert g2["state"] == "paused", g2
    r = await live.post(f"{base}/gates/g2/approve", {"digest": g2["evaluation"]["digest"], "role": "mission_head"},
                        "alice")
    assert (r.status_code, r.json()["type"]) == (409, "PhasePaused"), r.text

    # A new version of the plan: stored, not registered (the exit runs on v1) until migrated.
    v2 = copy.deepcopy(PLAN)
    v2["version"] = "2"
    v2["phases"][1]["gates"][0]["rule"]["benchmark"]["threshold"] = 3
    r = await live.post("/v1/plans", v2, "cora")
    assert r.status_code == 200 and r.json()["registered"] is False, r.text
    sha2 = r.json()["sha256"]
    assert r.json()["running_plan_sha256"] != sha2
    assert (await live.post(f"{base}/migrate", {"role": "mission_head", "plan_sha256": sha2}, "alice")).status_code == 403
    r = await live.post(f"{base}/migrate", {"role": "coordinator", "plan_sha256": "1" * 64}, "cora")
    assert r.status_code == 404 and "load it first" in r.json()["detail"]
    r = await live.post(f"{base}/migrate", {"role": "coordinator", "plan_sha256": sha2}, "cora")
    assert r.status_code == 200 and r.json()["plan_sha256"] == sha2, r.text
    r = await live.post(f"{base}/migrate", {"role": "coordinator", "plan_sha256": sha2}, "cora")
    assert r.status_code == 409 and "already runs" in r.json()["detail"]
    assert live.store.plan_for_mission(MISSION).sha256 == sha2  # evidence is checked against v2 now

    # An operator terminates p2's run: the status says failed, and why; a coordinator restarts it.
    await live.dep.client.get_workflow_handle(f"exitgate/phase/{MISSION}/p2").terminate("stuck run cleared")
    status = await live.until(f"{base}/status", lambda s: s["phases"][1]["state"] == "failed")
    assert "terminated" in status["phases"][1]["failure"], status["phases"][1]  # the reason stays with the phase
    r = await live.post(f"{base}/phases/p2/reopen", {"role": "coordinator", "reason": "restart"}, "cora")
    assert r.status_code == 200, r.text
    status = await live.until(f"{base}/status", lambda s: s["phases"][1]["state"] in ("running", "paused"))
    assert status["phases"][1]["failure"] is None

    kinds = audit_kinds(live)
    for kind in ("phase_failed", "plan_loaded", "plan_migrated", "migrate.refused", "mission_started", "approval", "waiver", "waiver_revoked",
                 "phase_reopened", "phase_paused", "mission_start.refused", "reopen.refused", "waiver.refused"):
        assert kind in kinds, (kind, sorted(set(kinds)))
    assert live.store.audit_verify().ok

