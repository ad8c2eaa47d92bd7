"""Gate status, approvals, rejections and waivers through the API, and their refusals: the
codes, types and texts the production stack gives (the workflows' validators decide)."""

from __future__ import annotations

from typing import Any

from .conftest import MISSION, Env, open_gate, record

G1 = f"/v1/missions/{MISSION}/gates/g1"


async def approve(env: Env, who: str, digest: str, role: str, **kw: Any) -> Any:
    return await env.client.post(f"{G1}/approve", json={"digest": digest, "role": role, **kw},
                                 headers=env.auth(who))


async def test_gate_view_has_the_explanation_tree(env: Env) -> None:
    await env.submit(record("inc-1", value=9))
    view = await env.gate("g1", lambda v: v["evaluation"] is not None and "inc-1" in v["evidence"])
    assert view["state"] == "collecting"
    tree = view["evaluation"]["explanation"]
    assert tree["node"] == "all" and tree["status"] == "fail"
    inc, cov = tree["children"]
    assert (inc["status"], inc["value"], inc["points"], inc["evidence"]) == ("fail", 9, 1, ["inc-1"])
    assert view["evidence"]["inc-1"] == {"value": 9, "observed_at": "2025-03-31T00:00:00Z", "source": "jmac"}
    assert cov["status"] == "unknown" and cov["reason"]
    assert "note" not in view["evaluation"]


async def test_reading_writes_nothing(env: Env) -> None:
    await open_gate(env)
    before = len(env.store.audit_entries())
    for path in (G1, f"/v1/missions/{MISSION}/status", "/v1/gates/awaiting", f"{G1}x"):
        await env.client.get(path, headers=env.auth("alice"))
    assert len(env.store.audit_entries()) == before


async def test_quorum_of_two_distinct_roles_approves_and_starts_next_phase(env: Env) -> None:
    digest = await open_gate(env)
    r = await approve(env, "alice", digest, "mission_head", comment="security fine")
    assert r.status_code == 200 and r.json()["state"] == "awaiting_approval"
    r = await approve(env, "bob", digest, "host_nation")
    assert r.status_code == 200 and r.json()["state"] == "approved"
    status = await env.until(f"/v1/missions/{MISSION}/status", lambda s: s["phases"][1]["state"] == "running", "jmac")
    assert [(p["phase"], p["state"]) for p in status["phases"]] == [("p1", "complete"), ("p2", "running")]
    # One actor format for a person: the bare name, in the workflow's entries and the service's.
    assert [e.actor for e in await env.audited("approval", 2)] == ["alice", "bob"]


async def test_refusals_are_typed_audited_and_in_the_contracts_order(env: Env) -> None:
    digest = await open_gate(env)
    stale = "0" * 64
    cases = [  # (who, digest, role) -> status, type, text
        (("alice", stale, "mission_head"), 409, "StaleDigest", "not the current evaluation"),
        (("alice", digest, "host_nation"), 403, "RoleNotHeld", "does not hold role 'host_nation'"),
        (("alice", digest, "coordinator"), 403, "RoleNotAllowed", "may not decide"),
        (("dave", digest, "deputy"), 403, "SeparationOfDuties", "started the mission's exit"),
    ]
    for (who, dig, role), status, kind, text in cases:
        r = await approve(env, who, dig, role)
        assert (r.status_code, r.json()["type"]) == (status, kind) and text in r.json()["detail"], r.text
    assert (await approve(env, "alice", digest, "mission_head")).status_code == 200
    r = await approve(env, "alice", digest, "mission_head")
    assert (r.status_code, r.json()["type"]) == (409, "AlreadyVoted") and "already approved" in r.json()["detail"]
    # distinct_roles: carol's mission_head approval would count the role twice.
    r = await approve(env, "carol", digest, "mission_head")
    assert (r.status_code, r.json()["type"]) == (409, "RoleAlreadyCounted"), r.text
    # A system key holds no role: refused, and audited like any other refusal.
    r = await env.client.post(f"{G1}/approve", json={"digest": digest, "role": "x"}, headers=env.auth("jmac"))
    assert (r.status_code, r.json()["type"]) == (403, "RoleNotHeld")
    refused = env.audit("approval.refused")
    assert [(e.actor, e.payload["role"], e.payload["type"]) for e in refused] == [
        ("alice", "mission_head", "StaleDigest"), ("alice", "host_nation", "RoleNotHeld"),
        ("alice", "coordinator", "RoleNotAllowed"), ("dave", "deputy", "SeparationOfDuties"),
        ("alice", "mission_head", "AlreadyVoted"), ("carol", "mission_head", "RoleAlreadyCounted"),
        ("system:jmac", "x", "RoleNotHeld")]
    # Nothing refused was recorded in the gate.
    view = (await env.client.get(G1, headers=env.auth("alice"))).json()
    assert [a["person"] for a in view["approvals"]] == ["alice"]


async def test_who_acts_is_answered_before_the_gates_state(env: Env) -> None:
    # A wrong role on a collecting gate is 403, not 409: nobody learns a gate's state by being refused.
    await env.submit(record("inc-1", value=50))
    view = await env.evaluated()
    assert view["state"] == "collecting"
    r = await approve(env, "alice", view["evaluation"]["digest"], "host_nation")
    assert (r.status_code, r.json()["type"]) == (403, "RoleNotHeld")
    r = await approve(env, "alice", view["evaluation"]["digest"], "mission_head")
    assert (r.status_code, r.json()["type"]) == (409, "NotAwaitingApproval") and "not awaiting approval" in r.text
    # p2 has not started: the service asks the same lifecycle checks, in the same order.
    g2 = f"/v1/missions/{MISSION}/gates/g2/approve"
    r = await env.client.post(g2, json={"digest": "a" * 64, "role": "deputy"}, headers=env.auth("carol"))
    assert (r.status_code, r.json()["type"]) == (403, "RoleNotAllowed"), r.text
    r = await env.client.post(g2, json={"digest": "a" * 64, "role": "mission_head"}, headers=env.auth("alice"))
    assert (r.status_code, r.json()["type"]) == (409, "PhaseNotStarted") and "has not started" in r.text
    assert [e.payload["type"] for e in env.audit("approval.refused")] == [
        "RoleNotHeld", "NotAwaitingApproval", "RoleNotAllowed", "PhaseNotStarted"]


async def test_new_evidence_changes_digest_but_keeps_approvals_while_passing(env: Env) -> None:
    digest = await open_gate(env)
    assert (await approve(env, "alice", digest, "mission_head")).status_code == 200
    await env.submit(record("inc-2", value=1, observed_at="2025-04-30T00:00:00Z"))
    view = await env.gate("g1", lambda v: v["evaluation"]["digest"] != digest)
    r = await approve(env, "bob", digest, "host_nation")
    assert (r.status_code, r.json()["type"]) == (409, "StaleDigest")
    assert [a["person"] for a in view["approvals"]] == ["alice"]
    # Evidence that makes the rule fail voids the approvals: no longer listed, in the audit log.
    await env.submit(record("inc-3", value=8, observed_at="2025-05-31T00:00:00Z"))
    view = await env.gate("g1", lambda v: v["state"] == "collecting")
    assert view["approvals"] == []
    void = await env.audited("approvals_void")
    assert [[a["person"] for a in e.payload["approvals"]] for e in void] == [["alice"]]


async def test_reject_then_same_digest_stays_collecting(env: Env) -> None:
    digest = await open_gate(env)
    r = await env.client.post(f"{G1}/reject", json={"digest": digest, "role": "host_nation", "reason": "no"},
                              headers=env.auth("bob"))
    assert r.status_code == 200 and r.json()["state"] == "collecting"
    assert r.json()["rejected_digest"] == digest
    r = await approve(env, "alice", digest, "mission_head")
    assert (r.status_code, r.json()["type"]) == (409, "NotAwaitingApproval")
    await env.submit(record("inc-2", value=2, observed_at="2025-04-30T00:00:00Z"))
    view = await env.gate("g1", lambda v: v["state"] == "awaiting_approval")
    assert view["evaluation"]["digest"] != digest and view["rejected_digest"] is None


async def test_waive_opens_the_gate_and_shows_in_the_explanation(env: Env) -> None:
    await env.submit(record("inc-1", value=1))
    await env.gate("g1", lambda v: v["evaluation"] is not None and "inc-1" in v["evidence"])
    body = {"benchmark": "coverage-ok", "role": "mission_head", "justification": "data pending"}
    r = await env.client.post(f"{G1}/waive", json=body, headers=env.auth("bob"))
    assert (r.status_code, r.json()["type"]) == (403, "RoleNotHeld")  # bob does not hold mission_head
    r = await env.client.post(f"{G1}/waive", json=body, headers=env.auth("alice"))
    assert r.status_code == 200, r.text
    view = r.json()  # the answer waits for the workflow's re-evaluation with the waiver
    assert view["state"] == "awaiting_approval" and not view["evaluation_pending"]
    assert view["evaluation"]["explanation"]["children"][1]["waived"]["by"] == "alice"
    assert "note" not in view["evaluation"]
    r = await env.client.post(f"{G1}/waive", json=body, headers=env.auth("carol"))
    assert (r.status_code, r.json()["type"]) == (409, "AlreadyWaived")
    r = await env.client.post(f"{G1}/waive", json={**body, "benchmark": "incidents-none"}, headers=env.auth("alice"))
    assert (r.status_code, r.json()["type"]) == (404, "UnknownBenchmark") and "has no benchmark" in r.text
    r = await env.client.post(f"{G1}/waive", json={**body, "until": "2020-01-01T00:00:00Z"}, headers=env.auth("carol"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "until"], r.text
    assert "waiver.refused" in {e.kind for e in env.store.audit_entries()}


async def test_revoking_a_waiver_answers_with_the_re_evaluated_gate(env: Env) -> None:
    await env.submit(record("inc-1", value=1))
    await env.gate("g1", lambda v: v["evaluation"] is not None and "inc-1" in v["evidence"])
    r = await env.client.post(f"{G1}/waive", json={"benchmark": "coverage-ok", "role": "mission_head",
                                                   "justification": "data pending"}, headers=env.auth("alice"))
    waived = r.json()
    assert waived["state"] == "awaiting_approval"
    r = await env.client.post(f"{G1}/waivers/coverage-ok/revoke", json={"role": "mission_head"},
                              headers=env.auth("alice"))
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["waivers"] == [] and view["state"] == "collecting" and not view["evaluation_pending"]
    assert view["evaluation"]["digest"] != waived["evaluation"]["digest"] and "note" not in view["evaluation"]
    r = await env.client.post(f"{G1}/waivers/coverage-ok/revoke", json={"role": "mission_head"},
                              headers=env.auth("alice"))
    assert (r.status_code, r.json()["type"]) == (409, "NoActiveWaiver")


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
    assert env.audit("approval.refused") == []  # invalid input is not a refusal


async def test_unknown_gate_or_mission_is_404(env: Env) -> None:
    r = await env.client.get(f"/v1/missions/{MISSION}/gates/nope", headers=env.auth("alice"))
    assert (r.status_code, r.json()["type"]) == (404, "UnknownGate")
    r = await env.client.get("/v1/missions/nope/status", headers=env.auth("alice"))
    assert (r.status_code, r.json()["type"]) == (404, "UnknownMission")


async def test_awaiting_lists_gates_the_person_may_approve_now(env: Env) -> None:
    digest = await open_gate(env)
    r = await env.client.get("/v1/gates/awaiting", headers=env.auth("bob"))
    assert [(g["gate"], g["roles"]) for g in r.json()] == [("g1", ["host_nation"])]
    await approve(env, "bob", digest, "host_nation")
    assert (await env.client.get("/v1/gates/awaiting", headers=env.auth("bob"))).json() == []
    assert (await env.client.get("/v1/gates/awaiting", headers=env.auth("dave"))).json() == []  # started the exit
    # carol holds deputy and mission_head; with host_nation counted she may still approve under either.
    r = await env.client.get("/v1/gates/awaiting", headers=env.auth("carol"))
    assert [(g["gate"], g["roles"]) for g in r.json()] == [("g1", ["mission_head", "deputy"])]


async def test_withdrawing_a_vote_and_nothing_to_withdraw(env: Env) -> None:
    digest = await open_gate(env)
    assert (await approve(env, "alice", digest, "mission_head")).status_code == 200
    r = await env.client.post(f"{G1}/withdraw", json={"reason": "misread the coverage"}, headers=env.auth("alice"))
    assert r.status_code == 200 and r.json()["approvals"] == [], r.text
    r = await env.client.post(f"{G1}/withdraw", json={"reason": "again"}, headers=env.auth("alice"))
    assert (r.status_code, r.json()["type"]) == (409, "NoCountedVote")
    # A gate of a phase not started: the same check, from the service.
    r = await env.client.post(f"/v1/missions/{MISSION}/gates/g2/withdraw", json={"reason": "x"},
                              headers=env.auth("alice"))
    assert (r.status_code, r.json()["type"]) == (409, "NoCountedVote")
    assert [e.payload["type"] for e in env.audit("withdrawal.refused")] == ["NoCountedVote", "NoCountedVote"]
    r = await env.client.post(f"{G1}/withdraw", json={"reason": ""}, headers=env.auth("alice"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "reason"]
