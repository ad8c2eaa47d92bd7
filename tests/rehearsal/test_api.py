"""POST /rehearsals: a scenario with its files inline, the transcript back; a refused scenario
is a 422 listing its problems. The rehearsal runs on a test server of its own: the app's
service here has no Temporal client at all."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import yaml

from api.app import create_app
from api.settings import ApiSettings
from service import Service
from service.keys import KeyRegistry
from store import Store

from .helpers import day, outcomes, plan_doc, record, write


def _post(tmp_path: Path, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    store = Store.from_url(f"sqlite:///{tmp_path}/api.db")
    keys = KeyRegistry()
    token, _ = keys.create_person("hana")
    app = create_app(ApiSettings(), Service(store, None), keys)  # type: ignore[arg-type]

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            return await c.post("/rehearsals", json=body, headers={"Authorization": f"Bearer {key or token}"},
                                timeout=300)
    try:
        return asyncio.run(go())
    finally:
        store.close()


def _inline(tmp_path: Path, actions: list[dict[str, Any]]) -> dict[str, Any]:
    path = write(tmp_path, actions, [record("r1", "ind.a", 1, day(2))], [day(3)])
    return {"scenario": yaml.safe_load(path.read_text()),
            "files": {"plan.json": plan_doc(), "evidence.jsonl": (tmp_path / "evidence.jsonl").read_text()}}


def test_a_scenario_inline_gives_its_transcript(tmp_path: Path) -> None:
    body = _inline(tmp_path, [{"at": day(2, 1), "do": "approve", "gate": "ga", "person": "hana", "role": "head"},
                              {"at": day(2, 1), "do": "approve", "gate": "ga", "person": "hugo", "role": "head"}])
    resp = _post(tmp_path, body)
    assert resp.status_code == 200, resp.text
    t = resp.json()
    assert outcomes(t) == [(0, "accepted", None), (1, "accepted", None), (2, "refused", "RoleNotHeld")]
    assert t["checkpoints"][0]["gates"]["ga"]["approvals"][0]["person"] == "hana"


def test_a_refused_scenario_is_a_422_with_every_problem(tmp_path: Path) -> None:
    body = _inline(tmp_path, [{"at": day(2), "do": "approve", "gate": "nope", "person": "hana", "role": "head"}])
    del body["files"]["evidence.jsonl"]
    resp = _post(tmp_path, body)
    assert resp.status_code == 422
    assert [(d["path"], d["msg"]) for d in resp.json()["detail"]] == [
        ("$.actions[0].gate", "unknown gate 'nope'"),
        ("$.evidence", "no file 'evidence.jsonl' was given with the scenario")]


def test_no_key_no_rehearsal(tmp_path: Path) -> None:
    resp = _post(tmp_path, _inline(tmp_path, []), key="eg_000000000000_" + "x" * 43)
    assert resp.status_code == 401
    assert json.loads(resp.text)["detail"] == "invalid API key"
