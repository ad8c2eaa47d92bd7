"""Keys, rights, body limits, offline docs and metrics."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from service.keys import KeyRegistry, hash_key

from .conftest import MISSION, Env, record

URL = f"/v1/missions/{MISSION}/evidence"


async def test_401_without_or_with_a_bad_key(env: Env) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"X-API-Key": env.keys["alice"] + "x"},
                    {"Authorization": "Basic " + env.keys["alice"]}):
        r = await env.client.get(f"/v1/missions/{MISSION}/status", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"] == "Bearer"
    r = await env.client.post(URL, json=record("x"))
    assert r.status_code == 401
    assert env.record_ids() == []


async def test_x_api_key_header_works(env: Env) -> None:
    r = await env.client.get("/v1/me", headers={"X-API-Key": env.keys["bob"]})
    assert r.status_code == 200 and r.json()["name"] == "bob" and "roles" not in r.json()


async def test_system_key_outside_its_missions_is_403_and_audited(env: Env) -> None:
    r = await env.submit(record("x"), who="elsewhere")
    assert r.status_code == 403
    assert [e.actor for e in env.audit("evidence.refused")] == ["system:elsewhere"]
    r = await env.client.get(f"/v1/missions/{MISSION}/status", headers=env.auth("elsewhere"))
    assert r.status_code == 403


async def test_records_from_sources_the_key_may_not_use_are_rejected_per_record(env: Env) -> None:
    # "rogue" may only report source rogue; "jmac" may report jmac and unpol but not others.
    r = await env.submit([record("ok-1"), record("spoof", source="sage"), record("ok-2", "police.coverage", 60)])
    body = r.json()
    assert r.status_code == 200 and (body["stored"], body["rejected"]) == (2, 1)
    err = body["results"][1]["errors"][0]
    assert err["field"] == "source" and "may not submit evidence from source 'sage'" in err["reason"]
    r = await env.submit([record("r-1")], who="rogue")
    assert r.json()["rejected"] == 1
    assert env.record_ids() == ["ok-1", "ok-2"]
    audited = env.audit("evidence.unauthorised")
    assert [(e.actor, e.payload["records"]) for e in audited] == [
        ("system:jmac", [{"id": "spoof", "source": "sage"}]), ("system:rogue", [{"id": "r-1", "source": "jmac"}])]


async def test_413_by_content_length_and_by_streamed_size(env: Env) -> None:
    big = [record(f"r{i}") for i in range(2000)]  # well over the 64 KiB test limit
    r = await env.submit(big)
    assert r.status_code == 413
    body = json.dumps(big).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 8192):
            yield body[i:i + 8192]

    # A streamed body has no Content-Length: the limit is enforced while reading.
    r = await env.client.post(URL, content=chunks(), headers={**env.auth("jmac"), "Content-Type": "application/json"})
    assert "content-length" not in r.request.headers
    assert r.status_code == 413
    assert env.record_ids() == []
    # The limit covers every route, such as approvals.
    r = await env.client.post(f"/v1/missions/{MISSION}/gates/g1/approve", content=chunks(),
                              headers={**env.auth("alice"), "Content-Type": "application/json"})
    assert r.status_code == 413


async def test_docs_are_served_offline(env: Env) -> None:
    html = (await env.client.get("/docs")).text
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", html)
    assert urls, html
    assert all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    for u in urls:
        assert (await env.client.get(u)).status_code == 200, u
    spec = (await env.client.get("/openapi.json")).json()
    assert "EvidenceRecord" in spec["components"]["schemas"]
    redoc = (await env.client.get("/redoc")).text
    assert "http" not in re.sub(r"https?://(www\.)?w3\.org[^\s'\"]*", "", redoc.split("<body>")[0])


async def test_metrics_count_requests_and_evidence_outcomes(env: Env) -> None:
    await env.submit([record("a"), record("a"), record("b", value=-1)])
    text = (await env.client.get("/metrics")).text
    assert 'exitgate_evidence_records_total{outcome="stored"} 1.0' in text
    assert 'exitgate_evidence_records_total{outcome="duplicate"} 1.0' in text
    assert 'exitgate_evidence_records_total{outcome="rejected"} 1.0' in text
    assert ('exitgate_http_requests_total{method="POST",route="/v1/missions/{mission}/evidence",status="200"} 1.0'
            in text)
    assert "exitgate_http_request_duration_seconds_bucket" in text


def test_key_registry_file_keeps_only_hashes(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    reg = KeyRegistry(path)
    key, ident = reg.create_person("alice")
    text = path.read_text()
    assert key not in text and hash_key(key) in text
    assert path.stat().st_mode & 0o777 == 0o600
    # Another process (the CLI) adds a key: a running registry sees it without a restart.
    other = KeyRegistry(path)
    key2, _ = other.create_system("sage", ["valdoria"], ["sage"])
    assert reg.verify(key2) is not None and reg.verify(key) == ident
    assert reg.verify(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert reg.revoke(ident.key_id) and other.verify(key) is None


async def test_lifespan_runs_under_a_real_asgi_lifespan(env: Env) -> None:
    transport = httpx.ASGITransport(app=env.app)
    async with env.app.router.lifespan_context(env.app), httpx.AsyncClient(
            transport=transport, base_url="http://t") as c:
        assert (await c.get("/healthz")).json() == {"status": "ok"}
