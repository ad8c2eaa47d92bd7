"""Sign-in through the OpenID Connect provider in headless Chromium, JavaScript off: the approver
page sends the browser to the provider (oidc-provider-mock on loopback), the person signs in
there and comes back signed in, holding only what the mission's role register gives them: dana,
bruno's delegate, approves for bruno; erin, with no role, has nothing to act on. Signing out
ends the session here, then at the provider; the cookie from before no longer opens anything.
Screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, Route, async_playwright
from temporalio.testing import WorkflowEnvironment

from api.settings import ApiSettings
from cli.supervisor import free_port
from service import Caller
from store import now_us

from .conftest import MISSION, Env, record, stack
from .oidc_provider import oidc_provider
from .serve import serving
from .test_browser import ARTIFACTS, CHROMIUM_ARGS, chromium_path, until_state


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    with oidc_provider() as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def served(temporal: WorkflowEnvironment, tmp_path_factory: Any, issuer: str) -> AsyncIterator[tuple[str, Env]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = ApiSettings(max_body_bytes=64 * 1024, oidc_issuer=issuer, oidc_client_id="exitgate",
                           oidc_client_secret="s3cret", oidc_redirect_url=f"{url}/ui/oidc/callback")
    async with stack(temporal, tmp_path_factory.mktemp("browser-oidc"), settings=settings) as env:
        with serving(env.app, port=port, lifespan="off") as served_url:
            assert served_url == url
            yield url, env


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


async def loopback_only(route: Route) -> None:
    # The provider's pages link a stylesheet on the web; nothing leaves this machine.
    if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
        await route.continue_()
    else:
        await route.abort()


async def new_context(browser: Browser, url: str) -> BrowserContext:
    context = await browser.new_context(base_url=url, java_script_enabled=False,
                                        viewport={"width": 1200, "height": 1000})
    await context.route("**/*", loopback_only)
    return context


async def signed_in(browser: Browser, url: str, issuer: str, person: str) -> tuple[BrowserContext, Page]:
    context = await new_context(browser, url)
    page = await context.new_page()
    await page.goto("/ui/login")
    assert await page.locator("#api_key").count() == 0  # with a provider, the page offers only it
    await page.click("#oidc-sign-in")
    assert page.url.startswith(f"{issuer}/oauth2/authorize?") and "code_challenge_method=S256" in page.url
    await page.fill("input[name=sub]", person)
    if person == "dana":
        await page.screenshot(path=str(ARTIFACTS / "oidc-provider.png"), full_page=True)
    await page.click("button:text('Authorize')")
    assert page.url == f"{url}/ui/"
    assert person in await page.inner_text("header")
    return context, page


async def test_sign_in_approve_for_a_delegator_sign_out_and_the_old_cookie_is_dead(
        served: tuple[str, Env], browser: Browser, issuer: str) -> None:
    url, env = served
    ARTIFACTS.mkdir(exist_ok=True)
    svc = env.service
    await svc.roles.grant(MISSION, Caller("ops", operator=True), None, "bruno", "host_nation", reason="posted")
    await svc.roles.delegate(MISSION, Caller("bruno"), "host_nation", "dana", until_us=now_us() + 3600 * 10**6,
                             reason="bruno on leave")
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": env.keys["jmac"]}, timeout=30) as api:
        r = await api.post(f"/v1/missions/{MISSION}/evidence",
                           json=[record("inc-1", value=3), record("cov-1", "police.coverage", 62.5)])
        assert r.json()["stored"] == 2
        await until_state(api, "awaiting_approval")

    context = await new_context(browser, url)
    login = await context.new_page()
    await login.goto("/ui/login")
    await login.screenshot(path=str(ARTIFACTS / "oidc-sign-in.png"), full_page=True)
    await context.close()

    # erin holds no role in the mission: nothing awaits her, and the gate offers her nothing.
    erin_context, erin = await signed_in(browser, url, issuer, "erin")
    assert "Nothing awaits you" in await erin.inner_text("main")
    await erin.goto(f"/ui/missions/{MISSION}/gates/g1")
    assert await erin.text_content("#gate-state") == "awaiting approval"
    assert await erin.locator("#approve").count() == 0 and await erin.locator("form[action$='/reject']").count() == 0
    await erin.screenshot(path=str(ARTIFACTS / "oidc-no-role.png"), full_page=True)
    await erin_context.close()

    context, page = await signed_in(browser, url, issuer, "dana")
    await page.click("text=Security handed over (g1)")  # awaiting her, through bruno's delegation
    choices = await page.locator("form[action$='/approve'] select[name=role] option").all_inner_texts()
    assert choices == ["host_nation for bruno"]
    await page.select_option("form[action$='/approve'] select[name=role]", "host_nation for bruno")
    await page.fill("form[action$='/approve'] textarea[name=comment]", "for bruno, on leave")
    await page.click("#approve")
    assert "Your approval was recorded" in await page.inner_text("main")
    assert "dana for bruno" in await page.inner_text("main")
    await page.screenshot(path=str(ARTIFACTS / "oidc-approved-for-delegator.png"), full_page=True)
    view = await svc.gate(MISSION, "g1")
    assert [(a.person, a.principal, a.role) for a in view.approvals] == [("dana", "bruno", "host_nation")]
    before = await context.cookies()
    assert any(c["name"] == "exitgate_session" for c in before)

    await page.click("text=Sign out")
    assert page.url.startswith(f"{issuer}/oauth2/end_session?")
    await page.click("button:text('End session')")
    assert page.url == f"{url}/ui/login"
    await page.screenshot(path=str(ARTIFACTS / "oidc-signed-out.png"), full_page=True)

    replay = await new_context(browser, url)
    await replay.add_cookies([c for c in before if c["name"] == "exitgate_session"])  # type: ignore[list-item]
    stale = await replay.new_page()
    await stale.goto(f"/ui/missions/{MISSION}/gates/g1")
    assert stale.url == f"{url}/ui/login"
    await replay.close()
    await context.close()
