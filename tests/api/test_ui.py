"""The approver page as a browser without JavaScript sees it: plain GETs and form POSTs."""

from __future__ import annotations

import re

import httpx

from .conftest import MISSION, Env, open_gate, record

GATE = f"/ui/missions/{MISSION}/gates/g1"


def csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, html
    return m.group(1)


def digest_on(html: str) -> str:
    m = re.search(r'name="digest" value="([0-9a-f]{64})"', html)
    assert m, html
    return m.group(1)


async def sign_in(client: httpx.AsyncClient, key: str) -> httpx.Response:
    page = await client.get("/ui/login")
    r = await client.post("/ui/login", data={"csrf": csrf(page.text), "api_key": key})
    return r


async def test_pages_need_a_session(env: Env) -> None:
    for path in ("/ui/", GATE):
        r = await env.client.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/ui/login"


async def test_sign_in_refuses_bad_keys_system_keys_and_missing_csrf(env: Env) -> None:
    r = await sign_in(env.client, "eg_nope")
    assert r.status_code == 401 and "not valid" in r.text
    r = await sign_in(env.client, env.keys["jmac"])
    assert r.status_code == 403 and "belongs to a system" in r.text
    r = await env.client.post("/ui/login", data={"csrf": "forged", "api_key": env.keys["alice"]})
    assert r.status_code == 403 and "expired" in r.text
    assert "exitgate_session" not in env.client.cookies


async def test_approve_through_forms_and_stale_digest_is_refused_with_reason(env: Env) -> None:
    await open_gate(env)
    r = await sign_in(env.client, env.keys["alice"])
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and env.keys["alice"] not in cookie
    home = await env.client.get("/ui/")
    assert f'href="{GATE}"' in home.text
    page = await env.client.get(GATE)
    assert page.status_code == 200
    assert "incidents-low" in page.text and "latest 3 &lt;= 5 over 1 point" in page.text and "inc-1" in page.text
    token, digest = csrf(page.text), digest_on(page.text)
    # A form without the session's CSRF token is refused.
    r = await env.client.post(f"{GATE}/approve", data={"csrf": "x", "digest": digest, "role": "mission_head"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = await env.client.post(f"{GATE}/approve", data={"csrf": token, "digest": digest, "role": "mission_head",
                                                      "comment": "looks right"})
    assert r.status_code == 200  # the page answers with the gate the approval left: no second read
    done = r
    assert "Your approval was recorded" in done.text and "looks right" in done.text
    assert "You approved this gate." in done.text and 'id="approve"' not in done.text

    # Bob opens the page, new evidence arrives, then Bob approves what he saw: refused, with the reason.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=env.app), base_url="http://test") as bob:
        await sign_in(bob, env.keys["bob"])
        seen = await bob.get(GATE)
        await env.submit(record("inc-2", value=2, observed_at="2025-04-30T00:00:00Z"))
        await env.gate("g1", lambda v: v["evaluation"]["digest"] != digest_on(seen.text))
        r = await bob.post(f"{GATE}/approve", data={"csrf": csrf(seen.text), "digest": digest_on(seen.text),
                                                    "role": "host_nation"})
        assert r.status_code == 409
        assert "Refused:" in r.text and "is not the current evaluation" in r.text
        assert digest_on(r.text) != digest_on(seen.text)  # the page shows the new evaluation
        assert [e.actor for e in env.audit("approval.refused")] == ["bob"]


async def test_form_validation_errors_name_the_field(env: Env) -> None:
    await open_gate(env)
    await sign_in(env.client, env.keys["alice"])
    page = await env.client.get(GATE)
    r = await env.client.post(f"{GATE}/reject", data={"csrf": csrf(page.text), "digest": digest_on(page.text),
                                                     "role": "mission_head"})
    assert r.status_code == 422 and "reason: Field required" in r.text
    r = await env.client.post(f"{GATE}/waive", data={"csrf": csrf(page.text), "role": "mission_head",
                                                    "benchmark": "coverage-ok", "justification": "j",
                                                    "until": "tomorrow"})
    assert r.status_code == 422 and "until:" in r.text


async def test_unknown_gate_and_logout(env: Env) -> None:
    await sign_in(env.client, env.keys["alice"])
    r = await env.client.get(f"/ui/missions/{MISSION}/gates/nope")
    assert r.status_code == 404 and "has no gate" in r.text
    home = await env.client.get("/ui/")
    r = await env.client.post("/ui/logout", data={"csrf": csrf(home.text)})
    assert r.status_code == 303
    assert (await env.client.get("/ui/")).status_code == 303


async def test_revoking_the_key_ends_the_session(env: Env) -> None:
    await sign_in(env.client, env.keys["alice"])
    assert (await env.client.get("/ui/")).status_code == 200
    ident = env.registry.verify(env.keys["alice"])
    assert ident is not None and env.registry.revoke(ident.key_id)
    assert (await env.client.get("/ui/")).status_code == 303
