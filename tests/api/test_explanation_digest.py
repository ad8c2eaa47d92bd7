"""The explanation the API shows is recomputed from the store as of the instant the workflow
evaluated, with the waivers it evaluated with: that gives the digest the workflow holds, with
and without a waiver, so what an approver reads is what they sign."""

from __future__ import annotations

from rules.evaluate import Waiver
from rules.plan import load_plan
from schemas.timefmt import parse_timestamp
from service.temporal import phase_read
from store.queries import explain_gate

from .conftest import MISSION, PLAN, Env, record


async def _recomputed_equals_workflow(env: Env) -> str:
    view = await env.evaluated()
    read = await phase_read(env.service.client, MISSION, "p1")
    assert read is not None
    st = next(g for g in read.status.gates if g.gate == "g1")
    assert st.evaluated_at is not None and st.digest is not None
    waivers = [Waiver(w.benchmark, w.by, w.justification, parse_timestamp(w.until) if w.until else None)
               for w in st.waivers]
    ev, _ = explain_gate(env.store, load_plan(PLAN), "g1", parse_timestamp(st.evaluated_at), waivers)
    assert ev["digest"] == st.digest == view["evaluation"]["digest"]
    assert "note" not in view["evaluation"]
    return st.digest


async def test_recomputing_as_of_the_workflows_instant_gives_its_digest(env: Env) -> None:
    await env.submit([record("inc-1", value=3)])
    await env.gate("g1", lambda v: v["evaluation"] is not None and "inc-1" in v["evidence"])
    plain = await _recomputed_equals_workflow(env)
    r = await env.client.post(f"/v1/missions/{MISSION}/gates/g1/waive", headers=env.auth("alice"), json={
        "benchmark": "coverage-ok", "role": "mission_head", "justification": "survey pending"})
    assert r.status_code == 200, r.text
    waived = await _recomputed_equals_workflow(env)
    assert waived != plain  # waivers are part of the digest
