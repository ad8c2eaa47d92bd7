"""Sign-in to the approver page through a real OpenID Connect provider on loopback
(oidc-provider-mock, its own process): the code flow with PKCE end to end over HTTP, and each
way a sign-in is refused that the provider can produce. The browser's view is test_browser_oidc.py;
tokens the provider will not make (tampered, another key) are test_oidc_verify.py's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from api.settings import ApiSettings
from service import Caller

from .conftest import MISSION, Env, open_gate, stack
from .oidc_provider import authorize, oidc_provider, set_claims
from .test_ui import csrf

BASE = "http://test"


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    with oidc_provider() as url:
        yield url


def settings(issuer: str, tmp: Path) -> ApiSettings:
    return ApiSettings(max_body_bytes=64 * 1024, data_dir=tmp, oidc_issuer=issuer, oidc_client_id="exitgate",
                       oidc_client_secret="s3cret", oidc_redirect_url=f"{BASE}/ui/oidc/callback")


@pytest_asyncio.fixture
async def env(temporal: WorkflowEnvironment, tmp_path: Path, issuer: str) -> AsyncIterator[Env]:
    async with stack(temporal, tmp_path, settings=settings(issuer, tmp_path)) as e:
        yield e


async def start(env: Env) -> str:
    r = await env.client.get("/ui/oidc/start")
    assert r.status_code == 303, r.text
    return r.headers["location"]


async def at_provider(authorize_url: str, sub: str) -> str:
    async with httpx.AsyncClient(timeout=30) as idp:
        back = await authorize(idp, authorize_url, sub)
    assert back.startswith(f"{BASE}/ui/oidc/callback?"), back
    return back.removeprefix(BASE)


async def sign_in(env: Env, sub: str) -> httpx.Response:
    return await env.client.get(await at_provider(await start(env), sub))


async def test_the_code_flow_signs_the_person_in_and_sign_out_ends_the_session_everywhere(
        env: Env, issuer: str) -> None:
    url = await start(env)
    q = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{issuer}/oauth2/authorize?")
    assert q["code_challenge_method"] == ["S256"] and len(q["code_challenge"][0]) == 43
    assert q["state"] and q["nonce"] and q["scope"] == ["openid email profile"] and q["client_id"] == ["exitgate"]
    r = await env.client.get(await at_provider(url, "dana"))
    assert r.status_code == 303 and r.headers["location"] == "/ui/", r.text
    home = await env.client.get("/ui/")
    assert home.status_code == 200 and "dana" in home.text
    copied = env.client.cookies["exitgate_session"]

    out = await env.client.post("/ui/logout", data={"csrf": csrf(home.text)})
    assert out.status_code == 303
    away = urlsplit(out.headers["location"])
    assert f"{away.scheme}://{away.netloc}{away.path}" == f"{issuer}/oauth2/end_session"
    hint = parse_qs(away.query)
    assert hint["post_logout_redirect_uri"] == [f"{BASE}/ui/login"] and hint["client_id"] == ["exitgate"]
    assert hint["id_token_hint"][0].count(".") == 2
    # Ended on the server: the cookie copied before sign-out opens nothing.
    env.client.cookies.set("exitgate_session", copied, path="/ui")
    r = await env.client.get("/ui/")
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"


async def test_a_callback_this_browser_did_not_start_is_refused(env: Env) -> None:
    url = await start(env)
    back = await at_provider(url, "dana")
    state = parse_qs(urlsplit(back).query)["state"][0]
    r = await env.client.get(back.replace(state, state[:-2] + "xx"))
    assert r.status_code == 400 and "state does not match" in r.text, r.text
    assert "exitgate_session" not in env.client.cookies
    # The refusal spent this browser's pending sign-in: the genuine callback is refused too.
    r = await env.client.get(back)
    assert r.status_code == 400 and "was not started here" in r.text
    # And a good sign-in's callback cannot be replayed by the same browser.
    back = await at_provider(await start(env), "dana")
    assert (await env.client.get(back)).status_code == 303
    env.client.cookies.delete("exitgate_session", path="/ui")
    r = await env.client.get(back)
    assert r.status_code == 400 and "exitgate_session" not in env.client.cookies


async def test_a_code_the_provider_does_not_know_is_refused(env: Env) -> None:
    back = await at_provider(await start(env), "dana")
    code = parse_qs(urlsplit(back).query)["code"][0]
    r = await env.client.get(back.replace(code, "forged-code"))
    assert r.status_code == 401 and "refused the sign-in code (invalid_grant)" in r.text, r.text


async def test_a_sign_in_the_person_denies_at_the_provider_is_said_so(env: Env) -> None:
    url = await start(env)
    async with httpx.AsyncClient(timeout=30) as idp:
        r = await idp.post(url, data={"action": "deny"})
    back = urlsplit(r.headers["location"])
    assert parse_qs(back.query)["error"] == ["access_denied"]
    # This provider leaves the state out of its denial, so the denial cannot be told from a forged one.
    r = await env.client.get(f"{back.path}?{back.query}")
    assert r.status_code == 400 and "state does not match" in r.text, r.text
    url = await start(env)
    state = parse_qs(urlsplit(url).query)["state"][0]
    r = await env.client.get(f"{back.path}?{back.query}&state={state}")
    assert r.status_code == 401 and "did not sign you in: access_denied" in r.text, r.text


async def test_a_missing_or_unusable_person_claim_is_refused_with_the_reason(env: Env, issuer: str) -> None:
    set_claims(issuer, "erin-sub", {"preferred_username": "erin"})
    r = await sign_in(env, "erin-sub")
    assert r.status_code == 403 and "sent no &#39;email&#39; claim" in r.text, r.text
    set_claims(issuer, "frank-sub", {"email": "frank@example.org"})
    r = await sign_in(env, "frank-sub")
    assert r.status_code == 403 and "&#39;frank@example.org&#39;, which is not a person id here" in r.text
    assert "EXITGATE_OIDC_PERSON_CLAIM" in r.text and "exitgate_session" not in env.client.cookies


async def test_another_claim_can_name_the_person(temporal: WorkflowEnvironment, tmp_path: Path,
                                                 issuer: str) -> None:
    s = settings(issuer, tmp_path).model_copy(update={"oidc_person_claim": "preferred_username"})
    set_claims(issuer, "gina-sub", {"email": "gina@example.org", "preferred_username": "gina"})
    async with stack(temporal, tmp_path, settings=s, start=False) as e:
        r = await sign_in(e, "gina-sub")
        assert r.status_code == 303, r.text
        assert "gina" in (await e.client.get("/ui/")).text


async def test_an_expired_id_token_is_refused(temporal: WorkflowEnvironment, tmp_path: Path) -> None:
    with oidc_provider(token_max_age_s=-300) as stale:
        async with stack(temporal, tmp_path, settings=settings(stale, tmp_path), start=False) as e:
            r = await sign_in(e, "dana")
            assert r.status_code == 401 and "ID token has expired" in r.text, r.text
            assert "exitgate_session" not in e.client.cookies


async def test_with_a_provider_the_page_offers_it_and_takes_no_keys(env: Env, issuer: str) -> None:
    page = await env.client.get("/ui/login")
    assert 'href="/ui/oidc/start"' in page.text and "api_key" not in page.text
    assert urlsplit(issuer).netloc in page.text
    r = await env.client.post("/ui/login", data={"csrf": "x", "api_key": env.keys["alice"]})
    assert r.status_code == 403 and "through the identity provider" in r.text
    assert "exitgate_session" not in env.client.cookies
    # A key's page session from before the provider was configured opens nothing now.
    from itsdangerous import URLSafeTimedSerializer

    alice = env.registry.verify(env.keys["alice"])
    assert alice is not None
    sid = env.registry.open_session(alice.key_id, ends_at=2**62)
    signer = URLSafeTimedSerializer(env.app.state.parts.settings.session_secret.get_secret_value(), salt="exitgate-ui")
    env.client.cookies.set("exitgate_session", signer.dumps({"s": sid, "c": "x"}), path="/ui")
    r = await env.client.get("/ui/")
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"


async def test_a_provider_that_does_not_answer_is_said_so(temporal: WorkflowEnvironment, tmp_path: Path) -> None:
    from cli.supervisor import free_port

    s = settings(f"http://127.0.0.1:{free_port()}", tmp_path)
    async with stack(temporal, tmp_path, settings=s, start=False) as e:
        r = await e.client.get("/ui/oidc/start")
        assert r.status_code == 503 and "did not answer (discovery" in r.text, r.text


async def test_what_a_signed_in_person_may_do_comes_from_the_role_register(env: Env) -> None:
    await env.service.roles.grant(MISSION, Caller("ops", operator=True), None, "alice", "mission_head")
    digest = await open_gate(env)
    gate = f"/ui/missions/{MISSION}/gates/g1"
    # dana holds no role in the mission: nothing awaits her, nothing to act on, and acting is refused.
    assert (await sign_in(env, "dana")).status_code == 303
    assert "Nothing awaits you" in (await env.client.get("/ui/")).text
    page = await env.client.get(gate)
    assert page.status_code == 200 and 'id="approve"' not in page.text and "/reject" not in page.text
    r = await env.client.post(f"{gate}/approve", data={"csrf": csrf(page.text), "role": "mission_head",
                                                       "digest": digest})
    assert r.status_code == 403 and "Refused:" in r.text and "dana does not hold role" in r.text, r.text
    await env.client.post("/ui/logout", data={"csrf": csrf(page.text)})
    # alice's sign-in carries no roles either; the register gives her mission_head.
    assert (await sign_in(env, "alice")).status_code == 303
    assert f'href="{gate}"' in (await env.client.get("/ui/")).text
    page = await env.client.get(gate)
    assert '<option>mission_head</option>' in page.text and "host_nation" not in page.text.split("Decide")[1]
    r = await env.client.post(f"{gate}/approve", data={"csrf": csrf(page.text), "role": "mission_head",
                                                       "digest": digest})
    assert r.status_code == 200 and "Your approval was recorded" in r.text, r.text
    assert [(a.person, a.role) for a in (await env.service.gate(MISSION, "g1")).approvals] == [("alice", "mission_head")]


async def test_a_rotated_signing_key_is_fetched_from_the_provider(env: Env) -> None:
    """Providers rotate signing keys: an ID token the kept JWKS does not verify makes the API
    fetch the JWKS again before deciding (this provider's tokens name no key id)."""
    from joserfc.jwk import KeySet, RSAKey

    assert (await sign_in(env, "dana")).status_code == 303
    provider = env.app.state.oidc
    provider._jwks = KeySet([RSAKey.generate_key(2048, parameters={"kid": "retired"})]).as_dict(private=False)
    env.client.cookies.clear()
    assert (await sign_in(env, "dana")).status_code == 303
    assert [k["kid"] for k in provider._jwks["keys"]] != ["retired"]
