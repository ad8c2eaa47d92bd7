"""The approver page in headless Chromium (Debian's build, driven by Playwright; no download).

JavaScript is switched off in the browser: the page must work with plain links and forms.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.settings import ApiSettings

from .conftest import MISSION, record, stack
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


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def served(temporal: WorkflowEnvironment, tmp_path_factory: Any) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """The real app over the real parts, served over HTTP (the worker runs on the test's loop)."""
    async with stack(temporal, tmp_path_factory.mktemp("browser")) as env:
        app = create_app(ApiSettings(max_body_bytes=64 * 1024), env.service, env.registry)
        with serving(app, lifespan="off") as url:
            yield url, env.keys


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


async def test_approve_then_stale_approval_refused(served: tuple[str, dict[str, str]], browser: Browser) -> None:
    url, keys = served
    ARTIFACTS.mkdir(exist_ok=True)
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": keys["jmac"]}, timeout=30) as api:
        r = await api.post(f"/v1/missions/{MISSION}/evidence",
                     json=[record("inc-1", value=3), record("cov-1", "police.coverage", 62.5)])
        assert r.json()["stored"] == 2
        await until_state(api, "awaiting_approval")

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
        r = await api.post(f"/v1/missions/{MISSION}/evidence",
                     json=record("inc-2", value=1, observed_at="2025-04-30T00:00:00Z"))
        assert r.json()["stored"] == 1
        await until_state(api, "awaiting_approval", not_digest=seen)
        await bob.click("#approve")
        alert = await bob.inner_text("[role=alert]")
        assert alert.startswith("Refused:") and "is not the current evaluation" in alert
        assert await bob.text_content("#digest") != seen
        await bob.screenshot(path=str(ARTIFACTS / "approver-refused.png"), full_page=True)

        status = (await api.get(f"/v1/missions/{MISSION}/gates/g1")).json()
        assert [(a["person"], a["comment"]) for a in status["approvals"]] == [("alice", "Security handover verified")]


async def until_state(api: httpx.AsyncClient, state: str, not_digest: str | None = None) -> None:
    """Wait for the workflow's evaluation (it hears of evidence by a signal)."""
    import asyncio

    for _ in range(600):
        view = (await api.get(f"/v1/missions/{MISSION}/gates/g1")).json()
        ev = view.get("evaluation") or {}
        if view.get("state") == state and (not_digest is None or ev.get("digest") != not_digest):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"g1 did not reach {state}: {view}")
