"""GET /v1/missions/{m}/timeline and the approver page's chart, on the real app and store:
the JSON equals the CLI's on the sample mission, every bad parameter is a 422 naming its
field, keys read only their missions, and the SVG's lane has the statuses' colours."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from api.timeline_routes import MAX_STEPS, default_range
from cli.main import app as cli_app
from reports.timeline_chart import COLOURS, _num, render
from rules.plan import load_plan_file
from rules.series import EvidenceIndex
from rules.timeline import timeline
from rules.timeline_summary import summarize
from schemas.timefmt import DAY, WEEK, parse_timestamp
from store import Store

from .conftest import MISSION, Env, stack
from .test_ui import sign_in

START, END = "2023-01-01T00:00:00Z", "2025-08-01T00:00:00Z"


class Valdoria:
    def __init__(self, client: httpx.AsyncClient, keys: dict[str, str], mission: str, store: Store):
        self.client, self.keys, self.mission, self.store = client, keys, mission, store

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    async def get(self, who: str = "head", **params: Any) -> httpx.Response:
        return await self.client.get(f"/v1/missions/{self.mission}/timeline", params=params, headers=self.auth(who))


@pytest.fixture
async def valdoria_api(sample_dir: Path, temporal: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Valdoria]:
    doc = json.loads((sample_dir / "plan.json").read_text())
    plan = load_plan_file(sample_dir / "plan.json")
    raws = []
    for line in (sample_dir / "evidence.jsonl").read_text().splitlines():
        try:
            raws.append(json.loads(line))
        except ValueError:
            raws.append(line)  # refused by the store like the CLI refuses it
    async with stack(temporal, tmp_path, plan=doc, start=False) as env:
        # A backfill: each record known from its reported_at, as in file mode.
        await env.service.ingest(plan.mission_id, raws, actor="system:test", backfill=True)
        keys = {"head": env.registry.create_person("hana")[0],
                "sys": env.registry.create_system("sensors", [plan.mission_id], ["jmac"])[0],
                "other": env.registry.create_system("elsewhere", ["another-mission"], ["jmac"])[0]}
        yield Valdoria(env.client, keys, plan.mission_id, env.store)


async def test_json_equals_the_cli_on_the_sample(valdoria_api: Valdoria, sample_dir: Path) -> None:
    start, end = "2024-06-01T12:00:00Z", "2024-09-01T12:00:00Z"
    r = await valdoria_api.get(**{"from": start, "to": end, "step": "P1W"})
    assert r.status_code == 200, r.text
    got = r.json()
    res = CliRunner().invoke(cli_app, ["timeline", "--plan", str(sample_dir / "plan.json"), "--evidence",
                                       str(sample_dir / "evidence.jsonl"), "--from", start, "--to", end,
                                       "--step", "P1W", "--format", "json"])
    assert res.exit_code == 0, res.output
    want = json.loads(res.stdout)
    # The CLI also counts the file's duplicates and rejected lines; the API reads what is stored.
    assert want.pop("evidence") == {"accepted": 295, "duplicates": 1, "rejected": 10}
    assert got.pop("evidence") == {"accepted": 295}
    assert got == want
    assert len(got["steps"]) == 14 and set(got["summary"]) == set(got["steps"][0]["gates"])


async def test_gate_filter_and_system_keys(valdoria_api: Valdoria) -> None:
    r = await valdoria_api.get("sys", **{"from": START, "to": END, "step": "P30D", "gate": ["g1", "g4"]})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert list(doc["summary"]) == ["g1", "g4"] and all(list(s["gates"]) == ["g1", "g4"] for s in doc["steps"])
    r = await valdoria_api.get("other", **{"from": START, "to": END})
    assert r.status_code == 403 and "may not read mission" in r.json()["detail"]
    r = await valdoria_api.client.get(f"/v1/missions/{valdoria_api.mission}/timeline",
                                      params={"from": START, "to": END})
    assert r.status_code == 401


@pytest.mark.parametrize(("params", "field", "reason"), [
    ({"from": "2024-13-01T00:00:00Z", "to": END}, "from", "from:"),
    ({"from": START, "to": "yesterday"}, "to", "to:"),
    ({"from": END, "to": START}, "to", "must not be before from"),
    ({"from": START, "to": END, "step": "P1M"}, "step", "not fixed lengths"),
    ({"from": START, "to": END, "step": "P0D"}, "step", "step:"),
    ({"from": START, "to": END, "step": "-P1D"}, "step", "step:"),
    ({"from": START, "to": END, "step": "PT1M"}, "step", f"at most {MAX_STEPS}"),
    ({"from": START, "to": END, "gate": "nope"}, "gate", "unknown gate 'nope'"),
    ({"to": END}, "from", "Field required"),
])
async def test_bad_parameters_are_422_naming_the_field(valdoria_api: Valdoria, params: dict[str, Any],
                                                       field: str, reason: str) -> None:
    r = await valdoria_api.get(**params)
    assert r.status_code == 422, r.text
    [problem] = r.json()["detail"]
    assert problem["loc"] == ["query", field], problem
    assert reason in problem["msg"], problem


async def test_unknown_mission_is_404(env: Env) -> None:
    r = await env.client.get("/v1/missions/atlantis/timeline", params={"from": START, "to": END},
                             headers=env.auth("alice"))
    assert r.status_code == 404 and "atlantis" in r.json()["detail"]
    r = await env.client.get(f"/v1/missions/{MISSION}/timeline", params={"from": START, "to": START},
                             headers=env.auth("jmac"))
    assert r.status_code == 200 and len(r.json()["steps"]) == 1


def _rects(svg: str) -> list[tuple[float, float, float, float, str]]:
    """The filled rectangles of an SVG written by matplotlib: x0, x1, y0, y1 and colour."""
    out = []
    for m in re.finditer(r'<path d="M ([^"]*?)z\s*"[^>]*?style="fill: ?(#[0-9a-f]{6})', svg, re.S):
        nums = [float(v) for v in re.findall(r"-?[0-9.]+", m.group(1))]
        xs, ys = nums[0::2], nums[1::2]
        if len(xs) == 4:
            out.append((min(xs), max(xs), min(ys), max(ys), m.group(2)))
    return out


async def test_gate_page_chart_colours_match_statuses(valdoria_api: Valdoria) -> None:
    client, mission = valdoria_api.client, valdoria_api.mission
    url = f"/ui/missions/{mission}/gates/g1/timeline.svg"
    assert (await client.get(url)).status_code == 401  # no session yet
    assert (await sign_in(client, valdoria_api.keys["head"])).status_code == 303
    page = await client.get(f"/ui/missions/{mission}/gates/g1")
    assert f'src="{url}"' in page.text

    r = await client.get(url, params={"from": START, "to": END, "step": "P1D"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    svg = r.text
    assert svg.lstrip().startswith("<?xml") and "<!-- g1 -->" in svg and "<!-- g2.1 -->" not in svg

    # The same chart drawn here gives the geometry: SVG user units are points (72 per inch).
    plan, index = load_plan_file(Path("samples/valdoria/plan.json")), valdoria_api.store.evidence_index(mission)
    tl = timeline(plan, index, parse_timestamp(START), parse_timestamp(END), DAY, gates=["g1"])
    chart = render(tl, summarize(tl), "g1", DAY)
    height_pt = chart.figure.get_size_inches()[1] * 72
    scale = 72 / chart.figure.dpi
    rects = _rects(svg)
    statuses = tl.gates["g1"]
    checked = {True: 0, False: 0, None: 0}
    for i in range(3, len(statuses) - 3, 5):
        if any(statuses[j] is not statuses[i] for j in range(i - 3, i + 4)):
            continue
        px, py = chart.axes.transData.transform((_num(tl.instants[i]) + 0.5, chart.lanes["g1"]))
        x, y = px * scale, height_pt - py * scale
        hits = [c for x0, x1, y0, y1, c in rects if x0 <= x <= x1 and y0 <= y <= y1 and c in COLOURS.values()]
        assert hits == [COLOURS[statuses[i]]], (tl.instants[i], statuses[i], hits)
        checked[statuses[i]] += 1
    assert checked[True] > 10 and checked[False] + checked[None] > 10, checked

    assert (await client.get(f"/ui/missions/{mission}/gates/nope/timeline.svg")).status_code == 404
    assert (await client.get(url, params={"step": "P1M"})).status_code == 422
    default = await client.get(url)  # from the first evidence to now
    assert default.status_code == 200 and "<!-- g1 -->" in default.text


def test_default_range_steps_by_day_then_by_weeks() -> None:
    empty = EvidenceIndex([])
    now = parse_timestamp("2026-01-01T00:00:00Z")
    r = default_range(empty, now)
    assert (r.end - r.start, r.step, r.steps) == (30 * DAY, "P1D", 31)
    plan = load_plan_file(Path("samples/valdoria/plan.json"))
    from rules.evidence import read_jsonl

    ledger, _ = read_jsonl(Path("samples/valdoria/evidence.jsonl").read_text(), plan)
    index = EvidenceIndex(ledger.records.values())
    r = default_range(index, now)
    first = min(int(s.obs[0]) for s in index.series.values() if len(s.obs))
    assert r.start == first and r.step_us % WEEK == 0 and r.steps <= 400
    r = default_range(index, first + 100 * DAY)
    assert r.step == "P1D" and r.steps == 101
