"""Sign-in through the OpenID Connect provider in headless Chromium, JavaScript off: the approver
page sends the browser to the provider (oidc-provider-mock on loopback), the person signs in
there, and comes back signed in; signing out ends the session here, then at the provider; the
cookie from before no longer opens anything. Screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Route, async_playwright
from temporalio.testing import WorkflowEnvironment

from api.settings import ApiSettings
from cli.supervisor import free_port

from .conftest import MISSION, record, stack
from .oidc_provider import oidc_provider
from .serve import serving
from .test_browser import ARTIFACTS, CHROMIUM_ARGS, chromium_path, until_state


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    with oidc_provider() as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def served(temporal: WorkflowEnvironment, tmp_path_factory: Any, issuer: str) -> AsyncIterator[tuple[str, dict[str, str]]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = ApiSettings(max_body_bytes=64 * 1024, oidc_issuer=issuer, oidc_client_id="exitgate",
                           oidc_client_secret="s3cret", oidc_redirect_url=f"{url}/ui/oidc/callback")
    async with stack(temporal, tmp_path_factory.mktemp("browser-oidc"), settings=settings) as env:
        with serving(env.app, port=port, lifespan="off") as served_url:
            assert served_url == url
            yield url, env.keys


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


async def test_sign_in_at_the_provider_then_sign_out_and_the_old_cookie_is_dead(
        served: tuple[str, dict[str, str]], browser: Browser, issuer: str) -> None:
    url, keys = served
    ARTIFACTS.mkdir(exist_ok=True)
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": keys["jmac"]}, timeout=30) as api:
        r = await api.post(f"/v1/missions/{MISSION}/evidence",
                           json=[record("inc-1", value=3), record("cov-1", "police.coverage", 62.5)])
        assert r.json()["stored"] == 2
        await until_state(api, "awaiting_approval")

    context = await new_context(browser, url)
    page = await context.new_page()
    await page.goto("/ui/login")
    assert await page.locator("#api_key").count() == 0  # with a provider, the page offers only it
    await page.screenshot(path=str(ARTIFACTS / "oidc-sign-in.png"), full_page=True)
    await page.click("#oidc-sign-in")
    assert page.url.startswith(f"{issuer}/oauth2/authorize?") and "code_challenge_method=S256" in page.url
    await page.fill("input[name=sub]", "alice")
    await page.screenshot(path=str(ARTIFACTS / "oidc-provider.png"), full_page=True)
    await page.click("button:text('Authorize')")
    assert page.url == f"{url}/ui/"
    assert "alice" in await page.inner_text("header")
    # A sign-in carries no roles: without the role register's word, alice has nothing to act on.
    assert "Nothing awaits you" in await page.inner_text("main")
    await page.goto(f"/ui/missions/{MISSION}/gates/g1")
    assert await page.text_content("#gate-state") == "awaiting approval"
    assert await page.locator("#approve").count() == 0
    await page.screenshot(path=str(ARTIFACTS / "oidc-signed-in-no-role.png"), full_page=True)
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
    await stale.goto("/ui/")
    assert stale.url == f"{url}/ui/login"
    await replay.close()
    await context.close()
