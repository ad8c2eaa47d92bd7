"""The role register's routes: read it now and as it stood, grant, end, import (all or nothing),
delegate, end a delegation; approving for a principal; refusals as 403 / 409 / 422."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from schemas.timefmt import format_timestamp
from service import Caller
from store import now_us

from .conftest import MISSION, Env, open_gate, stack

BASE = f"/v1/missions/{MISSION}"
HOUR = 3_600_000_000


async def post(env: Env, path: str, body: Any, who: str) -> httpx.Response:
    return await env.client.post(BASE + path, json=body, headers=env.auth(who))


async def test_the_register_over_http(temporal: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(temporal, tmp_path, start=False, roster={}) as env:
        await env.service.roles.grant(MISSION, Caller("root", operator=True), None, "dave", "coordinator")
        r = await post(env, "/roles", {"person": "alice", "role": "mission_head", "by_role": "coordinator"}, "dave")
        assert r.status_code == 200, r.text
        assert [(a["person"], a["role"]) for a in r.json()["held"]] == [("dave", "coordinator"), ("alice", "mission_head")]
        first = r.json()["held"][0]
        assert first["granted_by_role"] is None and first["until"] is None and first["from"].endswith("Z"), first
        before = format_timestamp(now_us())
        for who, role in (("bob", "host_nation"), ("carol", "deputy")):
            assert (await post(env, "/roles", {"person": who, "role": role, "by_role": "coordinator"},
                               "dave")).status_code == 200
        # Who may change it, and bad input naming the field.
        r = await post(env, "/roles", {"person": "x", "role": "deputy", "by_role": "mission_head"}, "alice")
        assert r.status_code == 403 and r.json()["type"] == "RoleNotAllowed"
        r = await post(env, "/roles", {"person": "x", "role": "deputy", "by_role": "coordinator",
                                       "from": "2020-01-01T00:00:00Z"}, "dave")
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "from"], r.text
        r = await post(env, "/roles/import", {"by_role": "coordinator", "assignments": [
            {"person": "x", "role": "deputy"}, {"person": "y", "role": "chef"}, {"role": "deputy"}]}, "dave")
        assert r.status_code == 422, r.text
        assert [d["loc"] for d in r.json()["detail"]] == [["body", "items", "[1].role"], ["body", "items", "[2].person"]]
        r = await post(env, "/roles/end", {"person": "zed", "role": "deputy", "by_role": "coordinator"}, "dave")
        assert r.status_code == 409 and r.json()["type"] == "NoActiveAssignment"

        r = await post(env, "/roles/end", {"person": "bob", "role": "host_nation", "by_role": "coordinator"}, "dave")
        assert "bob" not in [a["person"] for a in r.json()["held"]]
        then = await env.client.get(f"{BASE}/roles", params={"at": before}, headers=env.auth("bob"))
        assert [a["person"] for a in then.json()["held"]] == ["dave", "alice"]  # bob was granted after
        now = await env.client.get(f"{BASE}/roles", headers=env.auth("jmac"))  # a system of the mission reads it
        assert now.status_code == 200 and [a["person"] for a in now.json()["held"]] == ["dave", "alice", "carol"]
        assert (await env.client.get(f"{BASE}/roles", params={"at": "yesterday"},
                                     headers=env.auth("dave"))).status_code == 422

        until = format_timestamp(now_us() + HOUR)
        r = await post(env, "/delegations", {"role": "deputy", "to": "bob", "until": until, "gates": ["g1"]}, "carol")
        assert r.status_code == 200, r.text
        [d] = r.json()["delegations_in_force"]
        assert (d["delegator"], d["delegate"], d["gates"]) == ("carol", "bob", ["g1"])
        r = await post(env, "/delegations", {"role": "deputy", "to": "fay", "until": until}, "alice")
        assert r.status_code == 403 and r.json()["type"] == "RoleNotHeld"
        r = await post(env, "/delegations", {"role": "deputy", "to": "fay", "until": until}, "bob")
        assert r.status_code == 409 and r.json()["type"] == "CannotRedelegate"

        assert (await post(env, "/start", {"role": "coordinator"}, "dave")).status_code == 200
        digest = await open_gate(env)
        r = await post(env, "/gates/g1/approve", {"role": "deputy", "digest": digest, "on_behalf_of": "carol"},
                       "alice")
        assert r.status_code == 403 and r.json()["type"] == "RoleNotHeld"  # alice holds no delegation from carol
        r = await post(env, "/gates/g1/approve", {"role": "deputy", "digest": digest, "on_behalf_of": "carol"}, "bob")
        assert r.status_code == 200, r.text
        [a] = r.json()["approvals"]
        assert (a["person"], a["principal"], a["signed"]) == ("bob", "carol", "bob for carol (deputy)")
        r = await post(env, "/gates/g1/approve", {"role": "deputy", "digest": digest}, "carol")
        assert r.status_code == 409 and r.json()["type"] == "AlreadyVoted"

        listed = await env.client.get(f"{BASE}/delegations", headers=env.auth("dave"))
        assert [x["seq"] for x in listed.json()] == [1]
        r = await post(env, "/delegations/1/end", {"reason": "back from leave"}, "bob")
        assert r.status_code == 403  # the delegate does not end it: its delegator or a coordinator
        r = await post(env, "/delegations/1/end", {"reason": "back from leave"}, "carol")
        assert r.status_code == 200 and r.json()["delegations_in_force"] == []
        r = await post(env, "/delegations/1/end", {"by_role": "coordinator"}, "dave")
        assert r.status_code == 409 and r.json()["type"] == "NoActiveAssignment"
        # The counted vote stays counted after the delegation ends (a valid signature stays valid).
        r = await post(env, "/gates/g1/approve", {"role": "mission_head", "digest": digest}, "alice")
        assert r.status_code == 200 and r.json()["state"] == "approved", r.text
