"""Evidence through the HTTP API: shapes of body, per-record results, what is stored."""

from __future__ import annotations

import json

from .conftest import MISSION, Env, record

URL = f"/v1/missions/{MISSION}/evidence"


async def test_single_record_is_stored_then_duplicate(env: Env) -> None:
    r = await env.submit(record("inc-1"))
    assert r.status_code == 200
    assert r.json() == {"mission": MISSION, "stored": 1, "duplicate": 0, "rejected": 0,
                        "results": [{"status": "stored", "id": "inc-1", "line": None, "index": None, "errors": []}]}
    again = await env.submit(record("inc-1", reported_at=None))
    assert again.json()["results"][0]["status"] == "duplicate"
    assert env.record_ids() == ["inc-1"]


async def test_batch_stores_exactly_the_good_records(env: Env) -> None:
    batch = [
        record("good-1", value=2),
        record("bad-kind", value=2.5),                      # integer indicator
        record("good-2", "police.coverage", 70.5),
        {**record("bad-field"), "valeu": 1},               # typo'd field
        "not an object",
        record("bad-range", "police.coverage", 101),
        record("good-3", value=4, observed_at="2025-04-30T00:00:00Z"),
        record("bad-time", observed_at="2999-01-01T00:00:00Z"),
    ]
    r = await env.submit(batch)
    assert r.status_code == 200
    body = r.json()
    assert (body["stored"], body["duplicate"], body["rejected"]) == (3, 0, 5)
    assert [x["index"] for x in body["results"]] == list(range(8))
    assert env.record_ids() == ["good-1", "good-2", "good-3"]
    by_id = {x["id"]: x for x in body["results"] if x["id"]}
    assert by_id["bad-kind"]["errors"][0]["field"] == "value"
    assert by_id["bad-field"]["errors"][0]["field"] == "valeu"
    assert by_id["bad-range"]["errors"][0]["reason"].endswith("above the indicator's maximum 100")
    assert by_id["bad-time"]["errors"][0]["field"] == "observed_at"
    assert body["results"][4] == {"status": "rejected", "id": None, "line": None, "index": 4,
                                  "errors": [{"field": "$", "reason": "a record must be a JSON object"}]}


async def test_json_lines_with_blank_and_broken_lines(env: Env) -> None:
    lines = [json.dumps(record("l1")), "", "{not json", json.dumps(record("l4", value=-1)),
             json.dumps(record("l5", "police.coverage", 55)), ""]
    r = await env.client.post(URL, content="\n".join(lines), headers={
        **env.auth("jmac"), "Content-Type": "application/x-ndjson"})
    assert r.status_code == 200
    res = r.json()["results"]
    assert [(x["line"], x["status"]) for x in res] == [(1, "stored"), (3, "rejected"), (4, "rejected"), (5, "stored")]
    assert res[1]["errors"][0]["field"] == "$"
    assert res[2]["errors"][0]["field"] == "value"
    assert env.record_ids() == ["l1", "l5"]


async def test_body_that_is_not_json_is_422_naming_the_body(env: Env) -> None:
    for content in (b"{oops", b"", b"[1, 2", b'{"id": 1, "id": 2}', b"\xff\xfe", b"NaN"):
        r = await env.client.post(URL, content=content, headers={**env.auth("jmac"), "Content-Type": "application/json"})
        assert r.status_code == 422, content
        assert r.json()["detail"][0]["loc"] == ["body"], content
    assert env.record_ids() == []


async def test_unsupported_content_type_is_415(env: Env) -> None:
    r = await env.client.post(URL, content=b"id,value", headers={**env.auth("jmac"), "Content-Type": "text/csv"})
    assert r.status_code == 415


async def test_reported_at_after_receipt_is_rejected_live(env: Env) -> None:
    r = await env.submit(record("future", reported_at="2999-01-01T00:00:00Z"))
    assert r.json()["results"][0]["errors"][0]["field"] == "reported_at"


async def test_unknown_mission_is_404_and_bad_mission_id_is_422(env: Env) -> None:
    # The system key lists only lakeland, so a person coordinator asks about an unknown mission.
    r = await env.client.post("/v1/missions/nowhere/evidence", json=record("x"), headers=env.auth("dave"))
    assert r.status_code == 404
    r = await env.client.post("/v1/missions/bad%20id/evidence", json=record("x"), headers=env.auth("jmac"))
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["path", "mission"]


async def test_coordinator_backfill_keeps_reported_at_and_is_audited(env: Env) -> None:
    r = await env.client.post(f"{URL}?backfill=true", json=[record("old", reported_at="2025-04-02T00:00:00Z")],
                              headers=env.auth("dave"))
    assert r.status_code == 200 and r.json()["stored"] == 1
    rec = env.store.records_by_id(MISSION, ["old"])["old"]
    assert rec.known_at == rec.reported_at
    assert [e.payload["stored_ids"] for e in env.audit("evidence.backfill")] == [["old"]]
    refused = await env.client.post(f"{URL}?backfill=true", json=record("y"), headers=env.auth("jmac"))
    assert refused.status_code == 403
    not_coord = await env.client.post(URL, json=record("z"), headers=env.auth("alice"))
    assert not_coord.status_code == 403
