"""Gate status, approvals, rejections and waivers through the API, and their refusals."""

from __future__ import annotations

from typing import Any

from .conftest import MISSION, Env, open_gate, record

G1 = f"/v1/missions/{MISSION}/gates/g1"


async def approve(env: Env, who: str, digest: str, role: str, **kw: Any) -> Any:
    return await env.client.post(f"{G1}/approve", json={"digest": digest, "role": role, **kw},
                                 headers=env.auth(who))


async def test_gate_view_has_the_explanation_tree(env: Env) -> None:
    await env.submit(record("inc-1", value=9))
    r = await env.client.get(G1, headers=env.auth("alice"))
    assert r.status_code == 200
    view = r.json()
    assert view["state"] == "collecting"
    tree = view["evaluation"]["explanation"]
    assert tree["node"] == "all" and tree["status"] == "fail"
    inc, cov = tree["children"]
    assert (inc["status"], inc["value"], inc["points"], inc["evidence"]) == ("fail", 9, 1, ["inc-1"])
    assert view["evidence"]["inc-1"] == {"value": 9, "observed_at": "2025-03-31T00:00:00Z", "source": "jmac"}
    assert cov["status"] == "unknown" and cov["reason"]


async def test_quorum_of_two_distinct_roles_approves_and_starts_next_phase(env: Env) -> None:
    digest = await open_gate(env)
    r = await approve(env, "alice", digest, "mission_head", comment="security fine")
    assert r.status_code == 200 and r.json()["state"] == "awaiting_approval"
    r = await approve(env, "bob", digest, "host_nation")
    assert r.status_code == 200 and r.json()["state"] == "approved"
    status = (await env.client.get(f"/v1/missions/{MISSION}/status", headers=env.auth("jmac"))).json()
    assert [(p["phase"], p["state"]) for p in status["phases"]] == [("p1", "complete"), ("p2", "running")]
    assert [e.actor for e in env.audit.of_kind("approval")] == ["alice", "bob"]


async def test_refusals_are_409_or_403_with_reason_and_audited(env: Env) -> None:
    digest = await open_gate(env)
    stale = "0" * 64
    r = await approve(env, "alice", stale, "mission_head")
    assert r.status_code == 409 and "not the current evaluation" in r.json()["detail"]
    r = await approve(env, "alice", digest, "host_nation")
    assert r.status_code == 403 and "does not hold role 'host_nation'" in r.json()["detail"]
    r = await approve(env, "alice", digest, "coordinator")
    assert r.status_code == 403 and "may not approve" in r.json()["detail"]
    r = await approve(env, "dave", digest, "deputy")
    assert r.status_code == 403 and "separation of duties" in r.json()["detail"]
    assert (await approve(env, "alice", digest, "mission_head")).status_code == 200
    r = await approve(env, "alice", digest, "mission_head")
    assert r.status_code == 409 and "already approved" in r.json()["detail"]
    r = await env.client.post(f"{G1}/approve", json={"digest": digest, "role": "x"}, headers=env.auth("jmac"))
    assert r.status_code == 403  # a system key never approves
    refused = env.audit.of_kind("approval.refused")
    assert [(e.actor, e.payload["role"]) for e in refused] == [
        ("person:alice", "mission_head"), ("person:alice", "host_nation"), ("person:alice", "coordinator"),
        ("person:dave", "deputy"), ("person:alice", "mission_head")]
    # Nothing refused was recorded in the gate.
    view = (await env.client.get(G1, headers=env.auth("alice"))).json()
    assert [a["person"] for a in view["approvals"]] == ["alice"]


async def test_approval_when_not_awaiting_is_409(env: Env) -> None:
    await env.submit(record("inc-1", value=50))
    view = (await env.client.get(G1, headers=env.auth("alice"))).json()
    r = await approve(env, "alice", view["evaluation"]["digest"], "mission_head")
    assert r.status_code == 409 and "not awaiting approval" in r.json()["detail"]
    r = await env.client.post(f"/v1/missions/{MISSION}/gates/g2/approve",
                              json={"digest": "a" * 64, "role": "mission_head"}, headers=env.auth("alice"))
    assert r.status_code == 409 and "not_started" in r.json()["detail"]


async def test_new_evidence_changes_digest_but_keeps_approvals_while_passing(env: Env) -> None:
    digest = await open_gate(env)
    assert (await approve(env, "alice", digest, "mission_head")).status_code == 200
    await env.submit(record("inc-2", value=1, observed_at="2025-04-30T00:00:00Z"))
    r = await approve(env, "bob", digest, "host_nation")
    assert r.status_code == 409 and "evidence changed" in r.json()["detail"]
    view = (await env.client.get(G1, headers=env.auth("bob"))).json()
    assert [a["person"] for a in view["approvals"] if not a["void"]] == ["alice"]
    # Evidence that makes the rule fail voids the approvals.
    await env.submit(record("inc-3", value=8, observed_at="2025-05-31T00:00:00Z"))
    view = (await env.client.get(G1, headers=env.auth("bob"))).json()
    assert view["state"] == "collecting"
    assert [(a["person"], a["void"]) for a in view["approvals"]] == [("alice", True)]


async def test_reject_then_same_digest_stays_collecting(env: Env) -> None:
    digest = await open_gate(env)
    r = await env.client.post(f"{G1}/reject", json={"digest": digest, "role": "host_nation", "reason": "no"},
                              headers=env.auth("bob"))
    assert r.status_code == 200 and r.json()["state"] == "collecting"
    assert r.json()["rejected_digest"] == digest
    r = await approve(env, "alice", digest, "mission_head")
    assert r.status_code == 409
    await env.submit(record("inc-2", value=2, observed_at="2025-04-30T00:00:00Z"))
    view = (await env.client.get(G1, headers=env.auth("alice"))).json()
    assert view["state"] == "awaiting_approval" and view["evaluation"]["digest"] != digest


async def test_waive_opens_the_gate_and_shows_in_the_explanation(env: Env) -> None:
    await env.submit(record("inc-1", value=1))
    body = {"benchmark": "coverage-ok", "role": "mission_head", "justification": "data pending"}
    r = await env.client.post(f"{G1}/waive", json=body, headers=env.auth("bob"))
    assert r.status_code == 403  # host_nation is not a waiver role
    r = await env.client.post(f"{G1}/waive", json=body, headers=env.auth("alice"))
    assert r.status_code == 200
    view = r.json()
    assert view["state"] == "awaiting_approval"
    assert view["evaluation"]["explanation"]["children"][1]["waived"]["by"] == "alice"
    r = await env.client.post(f"{G1}/waive", json={**body, "benchmark": "incidents-none"}, headers=env.auth("alice"))
    assert r.status_code == 409 and "has no benchmark" in r.json()["detail"]


async def test_bodies_are_validated_naming_the_field(env: Env) -> None:
    cases = [
        ({"digest": "abc", "role": "mission_head"}, ["body", "digest"]),
        ({"digest": "a" * 64}, ["body", "role"]),
        ({"digest": "a" * 64, "role": "mission_head", "comentt": "x"}, ["body", "comentt"]),
    ]
    for body, loc in cases:
        r = await env.client.post(f"{G1}/approve", json=body, headers=env.auth("alice"))
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == loc
    r = await env.client.post(f"{G1}/waive", json={"benchmark": "coverage-ok", "role": "mission_head",
                                                   "justification": "j", "until": "2025-13-01T00:00:00Z"},
                              headers=env.auth("alice"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "until"]
    r = await env.client.post(f"{G1}/reject", json={"digest": "a" * 64, "role": "mission_head", "reason": ""},
                              headers=env.auth("alice"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "reason"]


async def test_unknown_gate_or_mission_is_404(env: Env) -> None:
    assert (await env.client.get(f"/v1/missions/{MISSION}/gates/nope", headers=env.auth("alice"))).status_code == 404
    assert (await env.client.get("/v1/missions/nope/status", headers=env.auth("alice"))).status_code == 404


async def test_awaiting_lists_gates_for_the_persons_roles(env: Env) -> None:
    digest = await open_gate(env)
    r = await env.client.get("/v1/gates/awaiting", headers=env.auth("bob"))
    assert [(g["gate"], g["roles"]) for g in r.json()] == [("g1", ["host_nation"])]
    await approve(env, "bob", digest, "host_nation")
    assert (await env.client.get("/v1/gates/awaiting", headers=env.auth("bob"))).json() == []
    assert (await env.client.get("/v1/gates/awaiting", headers=env.auth("dave"))).json() == []


async def test_coordinator_routes_on_the_in_process_port(env: Env) -> None:
    """Plan load, start, migrate, reopen: the in-process port answers as the Temporal one does
    (tests/api/test_temporal_api.py runs the same routes on a real stack)."""
    import copy

    from .conftest import PLAN

    dave = env.auth("dave")
    r = await env.client.post(f"/v1/missions/{MISSION}/start", json={"role": "coordinator"}, headers=dave)
    assert r.status_code == 409 and "already been started" in r.json()["detail"]
    v2 = copy.deepcopy(PLAN)
    v2["version"] = "2"
    r = await env.client.post("/v1/plans", json=v2, headers=dave)
    assert r.status_code == 200 and r.json()["registered"] is False
    r = await env.client.post(f"/v1/missions/{MISSION}/migrate", json={"role": "deputy", "plan_sha256": r.json()["sha256"]},
                              headers=dave)
    assert r.status_code == 403
    sha2 = (await env.client.post("/v1/plans", json=v2, headers=dave)).json()["sha256"]
    r = await env.client.post(f"/v1/missions/{MISSION}/migrate", json={"role": "coordinator", "plan_sha256": sha2},
                              headers=dave)
    assert r.status_code == 200 and r.json()["plan_sha256"] == sha2
    r = await env.client.post(f"/v1/missions/{MISSION}/phases/p1/reopen", json={"role": "coordinator", "reason": "x"},
                              headers=dave)
    assert r.status_code == 409 and "not complete" in r.json()["detail"]
    assert [e.kind for e in env.audit.entries][-3:] == ["plan_loaded", "plan_migrated", "reopen.refused"]
