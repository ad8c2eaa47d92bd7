"""The approver page on the real stack (`exitgate dev`: dev server, worker, API), in headless
Chromium with JavaScript off: sign in with a key, open the gate, read the explanation, approve;
a second approver holding a page whose digest new evidence replaced is refused on the page.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.async_api import Browser

from tests.devstack import dev_stack, until

from .conftest import MISSION, PLAN, record
from .test_browser import ARTIFACTS, browser, signed_in

__all__ = ["browser"]  # the fixture, imported for this module


async def test_approve_and_stale_refusal_on_the_real_stack(tmp_path: Path, browser: Browser) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    with dev_stack(tmp_path) as st:
        keys = {}
        for person, roles in (("dave", "coordinator"), ("alice", "mission_head"), ("bob", "host_nation")):
            keys[person] = st.cli("api-key", "create", "--person", person).stdout.strip()
            st.cli("roles", "grant", MISSION, person, roles, "--as", "ops", "--operator")
        keys["jmac"] = st.cli("api-key", "create", "--system", "jmac", "--mission", MISSION,
                              "--sources", "jmac,unpol").stdout.strip()

        def api(who: str) -> httpx.Client:
            return httpx.Client(base_url=st.base, headers={"X-API-Key": keys[who]}, timeout=30)

        with api("dave") as dave, api("jmac") as jmac, api("alice") as alice_api:
            assert dave.post("/v1/plans", json=PLAN).status_code == 200
            assert dave.post(f"/v1/missions/{MISSION}/start", json={"role": "coordinator"}).status_code == 200
            r = jmac.post(f"/v1/missions/{MISSION}/evidence",
                          json=[record("inc-1", value=3), record("cov-1", "police.coverage", 62.5)])
            assert r.json()["stored"] == 2
            gate_url = f"/v1/missions/{MISSION}/gates/g1"
            until(lambda: alice_api.get(gate_url).json()["state"] == "awaiting_approval", "g1 to open", 60)

            alice = await signed_in(browser, st.base, keys["alice"])
            await alice.click("text=Security handed over (g1)")
            assert await alice.text_content("#gate-state") == "awaiting approval"
            tree = await alice.inner_text("ul.tree.root")
            assert "incidents-low" in tree and "latest 3 <= 5 over 1 point" in tree
            await alice.fill("form[action$='/approve'] textarea[name=comment]", "Security handover verified")
            await alice.click("#approve")
            assert "Your approval was recorded" in await alice.inner_text("main")
            await alice.screenshot(path=str(ARTIFACTS / "approver-live-approved.png"), full_page=True)

            bob = await signed_in(browser, st.base, keys["bob"])
            await bob.goto(f"/ui/missions/{MISSION}/gates/g1")
            seen = await bob.text_content("#digest")
            r = jmac.post(f"/v1/missions/{MISSION}/evidence",
                          json=record("inc-2", value=1, observed_at="2025-04-30T00:00:00Z"))
            assert r.json()["stored"] == 1
            # The workflow re-evaluates on the evidence_changed signal; wait for the new digest.
            until(lambda: alice_api.get(gate_url).json()["evaluation"]["digest"] != seen, "a new digest", 60)
            await bob.click("#approve")
            alert = await bob.inner_text("[role=alert]")
            assert alert.startswith("Refused:") and "not the current evaluation" in alert, alert
            assert await bob.text_content("#digest") != seen
            await bob.screenshot(path=str(ARTIFACTS / "approver-live-refused.png"), full_page=True)

            view = alice_api.get(gate_url).json()
            assert [(a["person"], a["comment"]) for a in view["approvals"]] == [("alice", "Security handover verified")]
            assert view["state"] == "awaiting_approval"
