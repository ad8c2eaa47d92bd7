"""The pages for people in headless Chromium over the real stack: the way from /ui/ to the
portfolio, an overview, a gate and its dossier by clicks alone with JavaScript off; a gate page
naming a correction that arrived after the person's approval; the dossier's PDF, its text
extracted and its audit excerpt checked by scripts/verify_audit_excerpt.py; phone width; French;
and axe-core (the copy bundled in the axe-playwright-python wheel) finding no violations.
Screenshots go to test-artifacts/."""

from __future__ import annotations

import io
import subprocess
import sys
from typing import Any

import httpx
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page
from pypdf import PdfReader

from .conftest import MISSION, record
from .test_browser import ARTIFACTS, ROOT, browser, served, signed_in, until_state

__all__ = ["browser", "served"]  # the fixtures, shared with test_browser.py

OVERVIEW = f"/ui/missions/{MISSION}"
# What sticks out past the viewport (outside the boxes that scroll on their own), for the message.
WIDE_ELEMENTS = """[...document.querySelectorAll('body *')].filter(e => !(e.parentElement && e.parentElement.closest('.scroll, figure.graph')))
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


async def _page(browser: Browser, url: str, key: str, *, width: int = 1200, js: bool = False,
                locale: str = "en-GB") -> Page:
    context = await browser.new_context(base_url=url, java_script_enabled=js, locale=locale,
                                        viewport={"width": width, "height": 900})
    page = await context.new_page()
    await page.goto("/ui/login")
    await page.fill("#api_key", key)
    await page.click("button[type=submit]")
    return page


async def test_navigation_review_and_dossier(served: tuple[str, dict[str, str]], browser: Browser,
                                             tmp_path: Any) -> None:
    url, keys = served
    ARTIFACTS.mkdir(exist_ok=True)
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": keys["jmac"]}, timeout=30) as api:
        r = await api.post(f"/v1/missions/{MISSION}/evidence",
                           json=[record("inc-1", value=3), record("cov-1", "police.coverage", 62.5,
                                                                  provenance={"report": "JMAC weekly 13"})])
        assert r.json()["stored"] == 2, r.json()
        await until_state(api, "awaiting_approval")

        alice = await signed_in(browser, url, keys["alice"])
        await alice.click("#to-portfolio")
        await alice.wait_for_selector("#portfolio")
        await alice.screenshot(path=str(ARTIFACTS / "pages-portfolio.png"), full_page=True)
        await alice.click(f"a[href='{OVERVIEW}']")
        assert alice.url.endswith(OVERVIEW)
        assert await alice.is_visible("#phase-graph")
        assert "awaiting approval" in (await alice.inner_text("#gates-table")).lower()
        await alice.screenshot(path=str(ARTIFACTS / "pages-overview.png"), full_page=True)
        await alice.click("#gates-table a:text('Security handed over (g1)')")
        await alice.fill("form[action$='/approve'] textarea[name=comment]", "as reviewed")
        await alice.click("#approve")
        assert "Your approval was recorded" in await alice.inner_text("main")
        assert not await alice.is_visible("#approve")  # cannot approve twice; nor offered

        # A correction of what alice approved arrives; her gate page names it.
        r = await api.post(f"/v1/missions/{MISSION}/evidence",
                           json=record("inc-1-fix", value=4, supersedes="inc-1"))
        assert r.json()["stored"] == 1, r.json()
        await until_state(api, "awaiting_approval", not_digest=await alice.text_content("#digest"))
        await alice.goto(f"{OVERVIEW}/gates/g1")
        changed = await alice.inner_text("#what-changed")
        assert "inc-1 → inc-1-fix" in changed and "correction" in changed
        await alice.screenshot(path=str(ARTIFACTS / "pages-gate-what-changed.png"), full_page=True)

        # The dossier: by link from the gate page, then its PDF.
        await alice.click("#to-dossier")
        assert "Decision dossier" in await alice.inner_text("h1")
        # The dossier stands on the audit log, which the phase writes in group commits (<= 5 s).
        for _ in range(100):
            if "inc-1-fix" in await alice.inner_text("#dossier-evidence"):
                break
            await alice.wait_for_timeout(100)
            await alice.reload()
        await alice.screenshot(path=str(ARTIFACTS / "pages-dossier.png"), full_page=True)
        href = await alice.get_attribute("#pdf-link", "href")
        assert href is not None
        pdf = await alice.context.request.get(href)
        assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
        body = await pdf.body()
        (ARTIFACTS / "pages-dossier.pdf").write_bytes(body)
        text = "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(body)).pages)
        plan = (await api.get(f"/v1/missions/{MISSION}/status")).json()["plan_sha256"]
        words, squeezed = " ".join(text.split()), "".join(text.split())
        digest = (await api.get(f"/v1/missions/{MISSION}/gates/g1")).json()["approvals"]
        assert plan in squeezed and "as reviewed" in words and "inc-1-fix" in words
        assert all(a["digest"] in squeezed for a in digest) or "approval" in words
        extracted = tmp_path / "dossier.txt"
        extracted.write_text(text)
        out = subprocess.run([sys.executable, str(ROOT / "scripts" / "verify_audit_excerpt.py"), str(extracted)],
                             capture_output=True, text=True)
        assert out.returncode == 0 and out.stdout.startswith("OK:"), out.stdout + out.stderr
        # The same check, reading the PDF itself.
        (tmp_path / "dossier.pdf").write_bytes(body)
        out = subprocess.run([sys.executable, str(ROOT / "scripts" / "verify_audit_excerpt.py"),
                              str(tmp_path / "dossier.pdf")], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr

        # Bob may not waive (not a waiver role): the form is not offered, the reason is.
        bob = await signed_in(browser, url, keys["bob"])
        await bob.goto(f"{OVERVIEW}/gates/g1")
        assert not await bob.is_visible("form[action$='/waive']")
        assert "bob holds none of the roles that may waive here (mission_head)" in await bob.inner_text("#cannot-waive")


async def test_phone_width_french_and_axe(served: tuple[str, dict[str, str]], browser: Browser) -> None:
    url, keys = served
    ARTIFACTS.mkdir(exist_ok=True)
    pages = ["/ui/", "/ui/portfolio", OVERVIEW, f"{OVERVIEW}/gates/g1", f"{OVERVIEW}/gates/g1/dossier"]

    # JavaScript on only to measure and to run axe; the pages themselves need none.
    phone = await _page(browser, url, keys["carol"], width=390, js=True)
    axe = Axe()
    for path in pages:
        await phone.goto(path)
        # Nothing wider than the phone but the tables and the graph, which scroll in their own box.
        wide = await phone.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390, (path, wide, await phone.evaluate(WIDE_ELEMENTS))
        results = await axe.run(phone)
        assert results.violations_count == 0, (path, results.generate_report())
    await phone.goto(OVERVIEW)
    await phone.screenshot(path=str(ARTIFACTS / "pages-overview-phone.png"), full_page=True)
    await phone.goto(f"{OVERVIEW}/gates/g1")
    await phone.screenshot(path=str(ARTIFACTS / "pages-gate-phone.png"), full_page=True)

    # Keyboard: Tab reaches the header's links first, each with a visible focus ring.
    await phone.goto("/ui/portfolio")
    await phone.keyboard.press("Tab")
    assert await phone.evaluate("document.activeElement.getAttribute('href')") == "/ui/"
    outline = await phone.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")

    # French from the browser's language, then switched to English by a link (JavaScript off).
    fr = await _page(browser, url, keys["carol"], locale="fr-FR")
    await fr.goto(OVERVIEW)
    assert await fr.get_attribute("html", "lang") == "fr"
    assert "Vue d'ensemble" in await fr.inner_text("main") or "Jalons" in await fr.inner_text("main")
    assert "Fraîcheur des preuves" in await fr.inner_text("main")
    await fr.screenshot(path=str(ARTIFACTS / "pages-overview-fr.png"), full_page=True)
    await fr.click("nav.lang a[lang=en]")
    assert await fr.get_attribute("html", "lang") == "en" and fr.url.endswith(OVERVIEW)
    assert "Evidence freshness" in await fr.inner_text("main")
