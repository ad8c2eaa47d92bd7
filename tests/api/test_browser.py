"""The approver page in headless Chromium (Debian's build, driven by Playwright; no download).

JavaScript is switched off in the browser: the page must work with plain links and forms.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from .conftest import MISSION, build, record
from .serve import serving

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None and shutil.which("apt-get") is not None:
        # scripts/check.py installs it beforehand; this covers a bare `pytest` run.
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=False, capture_output=True)
        path = shutil.which("chromium")
    if path is None:
        pytest.fail("Debian's chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[str, dict[str, str]]]:
    app, keys, *_ = build()
    with serving(app) as url:
        yield url, keys


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


async def signed_in(browser: Browser, url: str, key: str) -> Page:
    context = await browser.new_context(base_url=url, java_script_enabled=False,
                                        viewport={"width": 1200, "height": 1400})
    page = await context.new_page()
    await page.goto("/ui/login")
    await page.fill("#api_key", key)
    await page.click("button[type=submit]")
    assert page.url == f"{url}/ui/"
    return page


async def test_approve_then_stale_approval_refused(stack: tuple[str, dict[str, str]], browser: Browser) -> None:
    url, keys = stack
    ARTIFACTS.mkdir(exist_ok=True)
    with httpx.Client(base_url=url, headers={"X-API-Key": keys["jmac"]}) as api:
        r = api.post(f"/v1/missions/{MISSION}/evidence",
                     json=[record("inc-1", value=3), record("cov-1", "police.coverage", 62.5)])
        assert r.json()["stored"] == 2

        alice = await signed_in(browser, url, keys["alice"])
        await alice.click("text=Security handed over (g1)")
        assert await alice.text_content("#gate-state") == "awaiting approval"
        tree = await alice.inner_text("ul.tree.root")
        assert "incidents-low" in tree and "latest 3 <= 5 over 1 point" in tree
        assert "mean 62.5 >= 50 over 1 point" in tree
        await alice.click("text=1 evidence record >> nth=0")  # <details> opens without JavaScript
        assert await alice.is_visible("code:text('inc-1')")
        assert "62.5" in (await alice.text_content("table.records >> nth=1") or "")
        await alice.fill("form[action$='/approve'] textarea[name=comment]", "Security handover verified")
        await alice.click("#approve")
        assert "Your approval was recorded" in await alice.inner_text("main")
        await alice.screenshot(path=str(ARTIFACTS / "approver-approved.png"), full_page=True)

        bob = await signed_in(browser, url, keys["bob"])
        await bob.goto(f"/ui/missions/{MISSION}/gates/g1")
        seen = await bob.text_content("#digest")
        # New evidence changes the evaluation while Bob is reading the old one.
        r = api.post(f"/v1/missions/{MISSION}/evidence",
                     json=record("inc-2", value=1, observed_at="2025-04-30T00:00:00Z"))
        assert r.json()["stored"] == 1
        await bob.click("#approve")
        alert = await bob.inner_text("[role=alert]")
        assert alert.startswith("Refused:") and "is not the current evaluation" in alert
        assert await bob.text_content("#digest") != seen
        await bob.screenshot(path=str(ARTIFACTS / "approver-refused.png"), full_page=True)

        status = api.get(f"/v1/missions/{MISSION}/gates/g1").json()
        assert [(a["person"], a["comment"]) for a in status["approvals"]] == [("alice", "Security handover verified")]
