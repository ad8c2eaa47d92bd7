"""GET /v1/missions/{m}/timeline/compare: the what-if of a newer plan version over the stored
evidence equals `exitgate timeline --compare` on the sample mission; every bad parameter is a
4xx naming its field."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app as cli_app
from rules.plan import load_plan, load_plan_file

from .test_timeline import END, START, Valdoria, valdoria_api

__all__ = ["valdoria_api"]  # the fixture, shared with test_timeline.py


async def test_compare_equals_the_cli_and_refuses_naming_the_field(valdoria_api: Valdoria, sample_dir: Path) -> None:
    api = valdoria_api
    v3 = load_plan_file(sample_dir / "plan-v3.json")
    # Loaded as POST /v1/plans loads a version while the mission's exit runs on another: stored,
    # not registered (the fixture's mission is not started, where a load would register it).
    api.store.save_plan(v3)
    url = f"/v1/missions/{api.mission}/timeline/compare"
    span = {"from": START, "to": END, "step": "P1D"}
    r = await api.client.get(url, params={"compare": v3.sha256, **span}, headers=api.auth("head"))
    assert r.status_code == 200, r.text
    res = CliRunner().invoke(cli_app, ["timeline", "--plan", str(sample_dir / "plan.json"), "--compare",
                                       str(sample_dir / "plan-v3.json"), "--evidence", str(sample_dir / "evidence.jsonl"),
                                       "--from", START, "--to", END, "--step", "P1D", "--format", "json"])
    assert res.exit_code == 0, res.stderr
    assert r.json() == json.loads(res.stdout)
    gates = {g["gate"]: g for g in r.json()["gates"]}
    assert (gates["g2.2"]["days_gained"], gates["g2.2"]["responsible"]) == (92.0, ["B2.6"])
    # A system key of the mission may read it too; only the gates asked for.
    r = await api.client.get(url, params={"compare": v3.sha256, **span, "gate": ["g1"]}, headers=api.auth("sys"))
    assert r.status_code == 200 and [g["gate"] for g in r.json()["gates"]] == ["g1"], r.text

    elsewhere_doc = copy.deepcopy(v3.document)
    elsewhere_doc["mission"]["id"] = "elsewhere"
    elsewhere = load_plan(elsewhere_doc)
    api.store.save_plan(elsewhere)
    unknown = "0" * 64
    for params, status, field, words in [
        ({"compare": "v3", **span}, 422, "compare", "64 lowercase hex digits"),
        ({"compare": elsewhere.sha256, **span}, 422, "compare", "is for mission 'elsewhere', not 'valdoria'"),
        ({"compare": v3.sha256, **span, "gate": "g9"}, 422, "gate", "unknown gate 'g9'"),
        ({"compare": v3.sha256, **span, "step": "P1M"}, 422, "step", "not fixed lengths"),
        ({"compare": v3.sha256, "from": END, "to": START}, 422, "to", "must not be before from"),
        ({**span}, 422, "compare", "Field required"),
        ({"compare": unknown, **span}, 404, None, f"no loaded plan with sha256 {unknown}"),
    ]:
        r = await api.client.get(url, params=params, headers=api.auth("head"))
        assert r.status_code == status, (params, r.text)
        if field is None:
            assert r.json()["type"] == "UnknownPlan" and words in r.json()["detail"], r.text
            continue
        [problem] = r.json()["detail"]
        assert problem["loc"] == ["query", field] and words in problem["msg"], (params, problem)
    r = await api.client.get(url, params={"compare": v3.sha256, **span}, headers=api.auth("other"))
    assert r.status_code == 403, r.text
