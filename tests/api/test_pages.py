"""The pages for people beyond the gate page (portfolio, overview, dossier, language) as a
browser without JavaScript sees them, over the real stack (tests/api/conftest.py)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

from .conftest import MISSION, Env, open_gate, record
from .test_ui import csrf, digest_on, sign_in

ROOT = Path(__file__).resolve().parents[2]
OVERVIEW = f"/ui/missions/{MISSION}"
DOSSIER = f"/ui/missions/{MISSION}/gates/g1/dossier"


async def test_pages_need_a_session(env: Env) -> None:
    for path in ("/ui/portfolio", OVERVIEW, DOSSIER, f"{DOSSIER}.pdf"):
        r = await env.client.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/ui/login", path


async def test_from_home_to_portfolio_overview_gate_and_dossier_by_links(env: Env) -> None:
    await open_gate(env)
    await sign_in(env.client, env.keys["alice"])
    home = await env.client.get("/ui/")
    assert 'href="/ui/portfolio"' in home.text and f'href="{OVERVIEW}"' in home.text
    port = await env.client.get("/ui/portfolio")
    assert port.status_code == 200 and f'href="{OVERVIEW}"' in port.text
    ov = await env.client.get(OVERVIEW)
    assert ov.status_code == 200
    assert f'href="{OVERVIEW}/gates/g1"' in ov.text and f'href="{DOSSIER}"' in ov.text
    gate = await env.client.get(f"{OVERVIEW}/gates/g1")
    assert f'href="{DOSSIER}"' in gate.text and f'href="{OVERVIEW}"' in gate.text


async def test_overview_shows_graph_gates_freshness_audit_and_an_empty_register(env: Env) -> None:
    await open_gate(env)
    await env.audited("gate_transition")  # the phase writes its entries in group commits
    await sign_in(env.client, env.keys["alice"])
    ov = (await env.client.get(OVERVIEW)).text
    assert '<svg id="phase-graph"' in ov
    # p1 runs with g1 passing (green); p2 waits on it (grey), drawn as one edge p1 -> p2.
    assert 'class="light-green"' in ov and 'class="light-grey"' in ov and ov.count('<line class="edge') == 1
    assert "awaiting approval" in ov and "0 / 2" in ov
    # Freshness: incidents from jmac; police coverage's source unpol reported; none has a max age.
    assert "Security incidents" in ov and "jmac: 2025-03-31T00:00:00Z (1)" in ov
    assert "evaluation" in ov and "gate_transition" in ov  # the latest audit entries
    assert 'id="holders"' in ov and "role register" in ov
    assert "mission_head" in ov and "approves g1" in ov


async def test_overview_refuses_a_person_without_a_role_in_the_mission(env: Env) -> None:
    key, _ = env.registry.create_person("erin")  # in no mission's register
    await sign_in(env.client, key)
    r = await env.client.get(OVERVIEW)
    assert r.status_code == 403 and "holds none of mission" in r.text
    port = await env.client.get("/ui/portfolio")
    assert "You hold no role in any mission yet." in port.text
    r = await env.client.get("/ui/missions/nowhere")
    assert r.status_code == 404 and "unknown mission" in r.text


async def test_portfolio_row_and_sorting(env: Env) -> None:
    await open_gate(env)
    await sign_in(env.client, env.keys["alice"])
    page = await env.gate("g1", lambda v: v["state"] == "awaiting_approval")
    assert page
    r = await until_text(env, "/ui/portfolio", "Preparation (p1)")
    assert '<td>1</td>' in r  # one gate awaiting approval
    assert re.search(r"<td>\d+ min</td>", r)  # waiting since the gate passed
    r2 = await env.client.get("/ui/portfolio?sort=awaiting&dir=desc")
    assert r2.status_code == 200 and 'aria-sort="descending"' in r2.text
    bad = await env.client.get("/ui/portfolio?sort=colour")
    assert bad.status_code == 422 and "sort: one of mission" in bad.text


async def test_dossier_after_an_approval_verifies_offline(env: Env, tmp_path: Path) -> None:
    await open_gate(env)
    await sign_in(env.client, env.keys["alice"])
    page = await env.client.get(f"{OVERVIEW}/gates/g1")
    r = await env.client.post(f"{OVERVIEW}/gates/g1/approve", data={
        "csrf": csrf(page.text), "digest": digest_on(page.text), "role": "mission_head", "comment": "ok"})
    assert r.status_code == 200
    await env.audited("approval")
    # Each approval links to the dossier as of its audit entry.
    gate = (await env.client.get(f"{OVERVIEW}/gates/g1")).text
    link = re.search(r'class="approval-dossier" href="([^"]+)"', gate)
    assert link and "?upto=" in link.group(1)
    at_vote = (await env.client.get(link.group(1))).text
    seq = link.group(1).split("upto=")[1]
    assert f"As of audit entry</th><td>{seq} (" in at_vote and "mission_head" in at_vote
    d = (await env.client.get(DOSSIER)).text
    plan_sha = env.store.plan_for_mission(MISSION).sha256  # type: ignore[union-attr]
    assert plan_sha in d and digest_on(page.text) in d and "the same digest" in d
    assert "inc-1" in d and "cov-1" in d and "jmac" in d
    # The audit excerpt: base64 JSON Lines in the armor, checked by the script.
    jsonl = await env.client.get(f"{DOSSIER}/audit.jsonl")
    excerpt = tmp_path / "excerpt.jsonl"
    excerpt.write_text(jsonl.text)
    kinds = [json.loads(ln)["kind"] for ln in jsonl.text.splitlines()]
    assert "approval" in kinds and "evaluation" in kinds
    page_file = tmp_path / "dossier.html"
    page_file.write_text(d)
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "verify_audit_excerpt.py"), str(page_file)],
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("OK:"), out.stdout + out.stderr
    # A changed entry is caught.
    armored = d.split("Head-Hash: ")[1].split("\n\n", 1)[1].split("\n-----END")[0]
    lines = base64.b64decode("".join(armored.split())).decode().splitlines()
    forged = [json.loads(ln) for ln in lines]
    forged[0]["actor"] = "mallory"
    (tmp_path / "forged.jsonl").write_text("".join(json.dumps(e) + "\n" for e in forged))
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "verify_audit_excerpt.py"),
                          str(tmp_path / "forged.jsonl")], capture_output=True, text=True)
    assert out.returncode != 0 and "does not match its content" in out.stderr


async def test_dossier_as_of_an_instant_before_the_evidence(env: Env) -> None:
    await open_gate(env)
    await sign_in(env.client, env.keys["alice"])
    r = await env.client.get(f"{DOSSIER}?at=2000-01-01T00:00:00Z")
    assert r.status_code == 200 and "As of audit entry</th><td>0" in r.text and "No evaluation recorded" in r.text
    r = await env.client.get(f"{DOSSIER}?at=yesterday")
    assert r.status_code == 422 and "at:" in r.text
    r = await env.client.get(f"{DOSSIER}?upto=many")
    assert r.status_code == 422 and "upto" in r.text
    r = await env.client.get(f"/ui/missions/{MISSION}/gates/nope/dossier")
    assert r.status_code == 404 and "has no gate" in r.text


async def test_french_from_accept_language_and_the_switch(env: Env) -> None:
    await sign_in(env.client, env.keys["alice"])
    r = await env.client.get("/ui/portfolio", headers={"Accept-Language": "fr-CH, fr;q=0.9, en;q=0.5"})
    assert '<html lang="fr">' in r.text and "Portefeuille" in r.text
    r = await env.client.get("/ui/lang/en?next=/ui/portfolio")
    assert r.status_code == 303 and r.headers["location"] == "/ui/portfolio"
    r = await env.client.get("/ui/portfolio", headers={"Accept-Language": "fr"})
    assert '<html lang="en">' in r.text  # the choice beats the browser's preference
    r = await env.client.get("/ui/lang/fr?next=https://evil.example/")
    assert r.headers["location"] == "/ui/"


async def test_correction_after_approval_named_on_the_gate_page(env: Env) -> None:
    await open_gate(env)
    await sign_in(env.client, env.keys["alice"])
    page = await env.client.get(f"{OVERVIEW}/gates/g1")
    await env.client.post(f"{OVERVIEW}/gates/g1/approve", data={
        "csrf": csrf(page.text), "digest": digest_on(page.text), "role": "mission_head"})
    await env.audited("approval")
    r = await env.submit(record("inc-1b", value=4, supersedes="inc-1", observed_at="2025-03-31T00:00:00Z"))
    assert r.json()["stored"] == 1, r.json()
    await env.gate("g1", lambda v: v["evaluation"]["digest"] != digest_on(page.text) and not v["evaluation_pending"])
    again = (await env.client.get(f"{OVERVIEW}/gates/g1")).text
    assert 'id="what-changed"' in again
    changed = again.split('id="what-changed"')[1].split("</section>")[0]
    assert "<code>inc-1</code> → <code>inc-1b</code>" in changed  # the correction, named
    assert "<td>incidents-low</td>" in changed and "correction" in changed  # the benchmark it moved, and why
    assert "<td>coverage-ok</td>" not in changed  # untouched


async def until_text(env: Env, path: str, text: str, timeout_s: float = 30.0) -> str:
    """The page once it shows `text` (the visibility list the portfolio reads lags a little)."""
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        body = (await env.client.get(path)).text
        if text in body:
            return body
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{path} never showed {text!r}: {body}")
        await asyncio.sleep(0.1)


async def test_gate_page_compares_a_newer_plan(env: Env) -> None:
    import copy

    from rules.plan import load_plan
    from service import Caller

    from .conftest import PLAN

    await open_gate(env)
    v2 = copy.deepcopy(PLAN)
    v2["version"] = "2"
    v2["phases"][0]["gates"][0]["rule"]["all"][1]["benchmark"]["threshold"] = 90  # coverage 60 no longer enough
    loaded = await env.service.load_plan(load_plan(v2), Caller("dave"))
    assert not loaded.registered  # the exit runs on v1: v2 waits for a migration
    await sign_in(env.client, env.keys["alice"])
    page = (await env.client.get(f"{OVERVIEW}/gates/g1")).text
    section = page.split('id="what-if"')[1].split("</section>")[0]
    assert loaded.sha256[:12] in section and "(v2)" in section
    assert 'id="what-if-outcome">no longer passes<' in section and "coverage-ok" in section
    ov = (await env.client.get(OVERVIEW)).text
    assert "A newer plan is loaded for this mission:" in ov


async def test_what_changed_since_last_looked(env: Env) -> None:
    await open_gate(env)
    await sign_in(env.client, env.keys["bob"])
    first = (await env.client.get(f"{OVERVIEW}/gates/g1")).text
    assert 'id="what-changed"' not in first  # nothing seen before, no vote
    await env.audited("evaluation")
    r = await env.submit(record("inc-2", value=1, observed_at="2025-04-30T00:00:00Z"))
    assert r.json()["stored"] == 1
    await env.gate("g1", lambda v: v["evaluation"]["digest"] != digest_on(first) and not v["evaluation_pending"])
    await env.audited("evaluation", 2)
    again = (await env.client.get(f"{OVERVIEW}/gates/g1")).text
    changed = again.split('id="what-changed"')[1].split("</section>")[0]
    assert "What changed since you last looked" in changed and "<code>inc-2</code>" in changed
    assert "new data" in changed
    # Looked at now: nothing new since.
    assert 'id="what-changed"' not in (await env.client.get(f"{OVERVIEW}/gates/g1")).text
    # The cookie is bob's: another person in the same browser compares with nothing of his.
    await sign_in(env.client, env.keys["carol"])
    assert 'id="what-changed"' not in (await env.client.get(f"{OVERVIEW}/gates/g1")).text


async def test_overview_shows_the_role_register_and_follows_it(env: Env) -> None:
    import time

    from service import Caller

    until = int((time.time() + 86400) * 1_000_000)
    await env.service.roles.delegate(MISSION, Caller("alice"), "mission_head", "erin", until_us=until,
                                     reason="on leave")
    await sign_in(env.client, env.keys["alice"])
    ov = (await env.client.get(OVERVIEW)).text
    holders = ov.split('id="holders"')[1].split("</section>")[0]
    assert "role register (version" in holders
    assert "<td>alice</td><td>mission_head</td>" in holders and "<td>carol</td><td>deputy</td>" in holders
    assert "erin acts for alice as mission_head until" in holders and "on leave" in holders
    # Erin holds nothing of her own: the delegation alone opens the mission to her.
    key, _ = env.registry.create_person("erin")
    await sign_in(env.client, key)
    assert (await env.client.get(OVERVIEW)).status_code == 200
    assert f'href="{OVERVIEW}"' in (await env.client.get("/ui/portfolio")).text
    # Bob's role ends: the mission is closed to him.
    await env.service.roles.end_role(MISSION, Caller("dave"), "coordinator", "bob", "host_nation")
    await sign_in(env.client, env.keys["bob"])
    assert (await env.client.get(OVERVIEW)).status_code == 403
    assert "You hold no role in any mission yet." in (await env.client.get("/ui/portfolio")).text
