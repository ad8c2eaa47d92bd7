"""Hostile input through the HTTP API: answered 4xx naming the field, never 500, and a bad
record never stops the good ones of its batch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from api.settings import ApiSettings

from .conftest import MISSION, PLAN, Env, record, stack

URL = f"/v1/missions/{MISSION}/evidence"
# A JSON text may escape a lone surrogate; httpx cannot encode one, so bodies are written by hand.
LONE = "\\ud800"


def _with_surrogate(rid: str, where: str) -> str:
    raw = record(rid)
    if where == "provenance":
        raw["provenance"] = {"uri": "@LONE@"}
    elif where == "key":
        raw["provenance"] = {"k@LONE@": 1}
    else:
        raw[where] = raw[where] + "@LONE@"
    return json.dumps(raw).replace("@LONE@", LONE)


async def test_lone_surrogate_in_a_json_array_rejects_that_record_only(env: Env) -> None:
    # (a surrogate in `source` meets the key's source check first: see the test after next)
    for where, field in [("provenance", "provenance.uri"), ("key", "provenance.k\\ud800"), ("id", "id")]:
        body = f"[{json.dumps(record('a-' + where))}, {_with_surrogate('bad-' + where, where)}]"
        r = await env.client.post(URL, content=body, headers={**env.auth("jmac"), "Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        res = r.json()["results"]
        assert [x["status"] for x in res] == ["stored", "rejected"]
        assert res[1]["errors"][0]["field"] == field and "lone surrogate" in res[1]["errors"][0]["reason"]
    assert env.record_ids() == ["a-id", "a-key", "a-provenance"]


async def test_lone_surrogate_in_json_lines_rejects_that_line_only(env: Env) -> None:
    body = "\n".join([json.dumps(record("l1")), _with_surrogate("l2", "provenance"), json.dumps(record("l3"))])
    r = await env.client.post(URL, content=body, headers={**env.auth("jmac"), "Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [(x["line"], x["status"]) for x in res] == [(1, "stored"), (2, "rejected"), (3, "stored")]
    assert res[1]["errors"][0]["field"] == "provenance.uri"
    assert env.record_ids() == ["l1", "l3"]


async def test_lone_surrogate_in_a_source_the_key_may_not_use(env: Env) -> None:
    body = f"[{_with_surrogate('s1', 'source')}]"
    r = await env.client.post(URL, content=body, headers={**env.auth("rogue"), "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["status"] == "rejected"
    assert env.audit("evidence.unauthorised")[0].payload["records"] == [{"id": "s1", "source": "jmac\\ud800"}]


async def test_lone_surrogate_in_a_plan_is_422_naming_the_path(env: Env) -> None:
    body = json.dumps({**PLAN, "version": "@LONE@"}).replace("@LONE@", LONE)
    r = await env.client.post("/v1/plans", content=body, headers={**env.auth("dave"), "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail[0]["loc"] == ["body", "$.version"] and "lone surrogate" in detail[0]["msg"]


DIGEST = "0" * 64
ACTIONS = [  # (path, who, a valid body as JSON text with @X@ where a hostile value goes, its field)
    (f"/v1/missions/{MISSION}/gates/g1/approve", "alice",
     '{"digest": "@D@", "role": "mission_head", "comment": @X@}'.replace("@D@", DIGEST), "comment"),
    (f"/v1/missions/{MISSION}/gates/g1/reject", "alice",
     '{"digest": "@D@", "role": "mission_head", "reason": @X@}'.replace("@D@", DIGEST), "reason"),
    (f"/v1/missions/{MISSION}/gates/g1/waive", "alice",
     '{"benchmark": "incidents-low", "role": "mission_head", "justification": @X@}', "justification"),
    (f"/v1/missions/{MISSION}/start", "dave", '{"role": @X@}', "role"),
    (f"/v1/missions/{MISSION}/phases/p1/reopen", "dave", '{"role": "coordinator", "reason": @X@}', "reason"),
    (f"/v1/missions/{MISSION}/migrate", "dave", '{"role": "coordinator", "plan_sha256": @X@}', "plan_sha256"),
]


async def _post(env: Env, path: str, who: str, body: str) -> dict[str, Any]:
    r = await env.client.post(path, content=body, headers={**env.auth(who), "Content-Type": "application/json"})
    assert r.status_code == 422, (path, body[:200], r.status_code, r.text[:500])
    detail: dict[str, Any] = r.json()["detail"][0]
    return detail


@pytest.mark.parametrize(("path", "who", "template", "field"), ACTIONS, ids=[a[0].rsplit("/", 1)[1] for a in ACTIONS])
@pytest.mark.parametrize("hostile", ["NaN", "Infinity", "-Infinity", "1e400", f'"x{LONE}"'])
async def test_hostile_values_in_action_bodies_are_422_naming_the_field(
        env: Env, path: str, who: str, template: str, field: str, hostile: str) -> None:
    detail = await _post(env, path, who, template.replace("@X@", hostile))
    assert detail["loc"] == ["body", field], detail


@pytest.mark.parametrize(("path", "who", "template", "field"), ACTIONS, ids=[a[0].rsplit("/", 1)[1] for a in ACTIONS])
async def test_repeated_keys_in_action_bodies_are_422_naming_the_key(
        env: Env, path: str, who: str, template: str, field: str) -> None:
    body = template.replace("@X@", '"a"').rstrip("}") + f', "{field}": "b"}}'
    detail = await _post(env, path, who, body)
    assert detail["loc"] == ["body", field] and "repeated key" in detail["msg"], detail


async def test_a_huge_comment_is_refused_without_echoing_it(temporal: WorkflowEnvironment, tmp_path: Path) -> None:
    big = "x" * (5 * 1024 * 1024)
    async with stack(temporal, tmp_path, settings=ApiSettings(max_body_bytes=8 * 1024 * 1024)) as env:
        client, keys = env.client, env.keys
        for body in ({"digest": DIGEST, "role": "mission_head", "comment": big},
                     {"role": "mission_head", "comment": big}):  # a missing field echoes the whole body
            r = await client.post(f"/v1/missions/{MISSION}/gates/g1/approve", json=body,
                                  headers={"Authorization": f"Bearer {keys['alice']}"})
            assert r.status_code == 422
            assert len(r.content) < 4096, len(r.content)
            assert "5242880 characters" in r.text


async def test_a_json_line_of_invalid_utf8_rejects_that_line_only(env: Env) -> None:
    bad = json.dumps(record("l2")).encode().replace(b"jmac", b"jm\xffac")
    body = b"\n".join([json.dumps(record("l1")).encode(), bad, json.dumps(record("l3")).encode()])
    r = await env.client.post(URL, content=body, headers={**env.auth("jmac"), "Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [(x["line"], x["status"]) for x in res] == [(1, "stored"), (2, "rejected"), (3, "stored")]
    assert res[1]["errors"][0]["field"] == "$" and "not UTF-8" in res[1]["errors"][0]["reason"]
    assert env.record_ids() == ["l1", "l3"]


async def test_nan_in_a_json_line_names_the_field(env: Env) -> None:
    body = "\n".join([json.dumps(record("l1")), json.dumps(record("l2")).replace("3", "NaN", 1)])
    r = await env.client.post(URL, content=body, headers={**env.auth("jmac"), "Content-Type": "application/x-ndjson"})
    res = r.json()["results"]
    assert [x["status"] for x in res] == ["stored", "rejected"]
    assert res[1]["errors"][0]["field"] == "value", res[1]


async def test_deep_nesting_is_refused_naming_where_never_a_500(env: Env) -> None:
    # Found by scripts/fuzz.py: a NaN in one record and 3,000 nested arrays in another made the
    # parser that locates the NaN recurse too deep: 500.
    deep = json.dumps(record("d2")).replace('"source"', '"provenance": {"p": ' + "[" * 3000 + "]" * 3000 + '}, "source"')
    nan = json.dumps(record("d1")).replace("3", "NaN", 1)
    headers = {**env.auth("jmac"), "Content-Type": "application/json"}
    r = await env.client.post(URL, content=f"[{nan}, {deep}]", headers=headers)
    assert r.status_code == 422, r.text
    assert "nested deeper than 128" in r.json()["detail"][0]["msg"]
    lines = "\n".join([json.dumps(record("d3")), deep.replace('"d2"', '"d4"').replace("[" * 3000 + "]" * 3000,
                                                                                 "[" * 500 + "]" * 500)])
    r = await env.client.post(URL, content=lines, headers={**headers, "Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x["status"] for x in res] == ["stored", "rejected"]
    assert res[1]["errors"][0]["field"] == "provenance.p" + "[0]" * 126, res[1]["errors"][0]["field"][:80]
    r = await env.client.post("/v1/plans", content='{"plan": ' + "[" * 200 + "]" * 200 + "}",
                              headers={**env.auth("dave"), "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][:2] == ["body", "plan"], r.text
    assert env.record_ids() == ["d3"]
