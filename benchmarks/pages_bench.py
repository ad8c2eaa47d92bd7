"""How fast the pages for people render, against the store and a Temporal dev server.

Two scenes, each on its own fresh store (`--store sqlite`: a SQLite file; `postgresql`: a new
database in the PostgreSQL on 127.0.0.1:5432) and the real workflows on a dev server with a
worker, the app called in process (httpx over ASGI, signed in as a person):

- overview: one mission with `--gates` gates (in `--phases` independent phases, all running,
  every gate evaluated) and `--audit` audit entries; GET /ui/missions/M (goal: < 300 ms).
  Baseline: GET /v1/missions/M/status, the JSON status of the same mission, which re-explains
  every gate from the store.
- portfolio: `--missions` missions (two phases, one running), the person holding a role in
  each; GET /ui/portfolio (goal: < 1 s). Baseline: GET /ui/, the gates awaiting the person
  across the same missions.

Page and baseline alternate, `--repeat` times each; medians, spread (min to max) and the ratio
page / baseline are printed.

    python benchmarks/pages_bench.py [--gates 50] [--phases 5] [--audit 10000] [--missions 200]
                                     [--repeat 15] [--store sqlite|postgresql] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.api_bench import drop_database, fresh_database  # noqa: E402


def overview_plan(mission: str, gates: int, phases: int) -> dict[str, Any]:
    per = -(-gates // phases)
    return {
        "plan": f"{mission}-exit", "version": "1", "coordinator_roles": ["coordinator"],
        "mission": {"id": mission, "name": f"Mission {mission}"},
        "indicators": [{"id": "sec.incidents", "name": "Security incidents", "kind": "integer", "min": 0,
                        "sources": ["jmac"]}],
        "phases": [{"id": f"p{p}", "name": f"Phase {p}", "depends_on": [], "gates": [
            {"id": f"g{p}-{i}", "name": f"Gate {p}.{i}",
             "rule": {"benchmark": {"id": f"b{p}-{i}", "indicator": "sec.incidents", "aggregate": "latest",
                                    "op": "<=", "threshold": 5 + i, "max_age": "P30D"}},
             "approval": {"roles": ["mission_head"], "quorum": 1}}
            for i in range(per) if p * per + i < gates]} for p in range(phases)],
    }


def small_plan(mission: str) -> dict[str, Any]:
    plan = overview_plan(mission, 2, 2)
    plan["phases"][1]["depends_on"] = ["p0"]
    return plan


def fill_audit(store: Any, mission: str, n: int) -> None:
    with store.session() as s:
        for i in range(n):
            store.audit_append("bench_note", {"mission": mission, "gate": f"g0-{i % 10}", "n": i}, "bench", s)


async def timed(client: httpx.AsyncClient, path: str) -> float:
    t0 = time.perf_counter()
    r = await client.get(path)
    elapsed = time.perf_counter() - t0
    if r.status_code != 200:
        raise RuntimeError(f"GET {path}: {r.status_code} {r.text[:300]}")
    return elapsed * 1000


async def alternate(client: httpx.AsyncClient, page: str, base: str, repeat: int,
                    base_client: httpx.AsyncClient | None = None) -> dict[str, Any]:
    await timed(client, page)  # warm: templates compiled, plans parsed
    await timed(base_client or client, base)
    pages, bases = [], []
    for _ in range(repeat):
        pages.append(await timed(client, page))
        bases.append(await timed(base_client or client, base))
    med_p, med_b = statistics.median(pages), statistics.median(bases)
    return {"page": page, "baseline": base, "page_ms": round(med_p, 1), "baseline_ms": round(med_b, 1),
            "page_spread_ms": [round(min(pages), 1), round(max(pages), 1)],
            "baseline_spread_ms": [round(min(bases), 1), round(max(bases), 1)],
            "ratio": round(med_p / med_b, 2), "repeat": repeat}


async def scene(temporal: Any, url: str, plans: list[dict[str, Any]], audit: int, page: str, base: str,
                repeat: int, wait_for: int) -> dict[str, Any]:
    from api.app import create_app
    from api.settings import ApiSettings
    from rules.plan import load_plan
    from service import Caller, Service, Unavailable
    from service.keys import KeyRegistry
    from store import Store
    from worker import build_worker

    queue = f"pages-bench-{uuid.uuid4()}"
    store = Store.from_url(url)
    service = Service(store, temporal.client, queue)
    reg = KeyRegistry()
    person, _ = reg.create_person("ana")
    system, _ = reg.create_system("jmac", [p["mission"]["id"] for p in plans], ["jmac"])
    app = create_app(ApiSettings(), service, reg)
    dave = Caller("dave")
    operator = Caller("operator", operator=True)
    try:
        async with build_worker(temporal.client, store, queue), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=60) as client:
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 86400))
            for doc in plans:
                mission = doc["mission"]["id"]
                plan = load_plan(doc)
                for who, role in (("dave", "coordinator"), ("ana", "mission_head")):
                    await service.roles.grant(mission, operator, None, who, role)
                await service.load_plan(plan, dave)
                await service.ingest(mission, [{"id": f"{mission}-inc-1", "mission": mission,
                                                "indicator": "sec.incidents", "value": 3, "observed_at": now,
                                                "source": "jmac"}], actor="system:jmac")
                await service.start_mission(mission, dave, "coordinator")
            if audit:
                # Off the event loop: the worker shares it, and its workflow tasks must not stall.
                await asyncio.to_thread(fill_audit, store, plans[0]["mission"]["id"], audit)
            # Until the workflows have evaluated what the pages will show.
            deadline = time.monotonic() + 600
            while True:
                try:
                    awaiting = await service.gates_awaiting(Caller("ana"))
                except Unavailable:  # a worker busy starting hundreds of workflows: ask again
                    awaiting = []
                if len(awaiting) >= wait_for:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {len(awaiting)} of {wait_for} gates await approval after 600 s")
                await asyncio.sleep(0.5)
            login = await client.get("/ui/login")
            token = re.search(r'name="csrf" value="([^"]+)"', login.text)
            assert token is not None
            r = await client.post("/ui/login", data={"csrf": token.group(1), "api_key": person})
            assert r.status_code == 303, r.text
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench",
                                         headers={"X-API-Key": system}, timeout=60) as api:
                return await alternate(client, page, base, repeat, api if base.startswith("/v1/") else None)
    finally:
        store.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from devserver import start_dev_server
    from temporalio.contrib.pydantic import pydantic_data_converter

    from workflows.common import GATE_STATES_KEY, MISSION_KEY, PHASE_KEY

    temporal = await start_dev_server(
        data_converter=pydantic_data_converter,
        search_attributes=[MISSION_KEY, PHASE_KEY, GATE_STATES_KEY])
    out: dict[str, Any] = {"store": args.store}
    scenes = {
        "overview": lambda url: scene(temporal, url, [overview_plan("big", args.gates, args.phases)], args.audit,
                                      "/ui/missions/big", "/v1/missions/big/status", args.repeat, args.gates),
        "portfolio": lambda url: scene(temporal, url, [small_plan(f"m{i:03d}") for i in range(args.missions)], 0,
                                       "/ui/portfolio", "/ui/", args.repeat, args.missions),
    }
    extra = {"overview": {"gates": args.gates, "phases": args.phases, "audit_entries": args.audit, "goal_ms": 300},
             "portfolio": {"missions": args.missions, "goal_ms": 1000}}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for name in [n for n in scenes if n in args.scenes.split(",")]:
                url = fresh_database(args.store, tmp, name)
                try:
                    out[name] = await scenes[name](url)
                finally:
                    drop_database(url)
                out[name].update(extra[name], met=out[name]["page_ms"] < extra[name]["goal_ms"])
        finally:
            await temporal.shutdown()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gates", type=int, default=50)
    ap.add_argument("--phases", type=int, default=5)
    ap.add_argument("--audit", type=int, default=10_000)
    ap.add_argument("--missions", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--scenes", default="overview,portfolio", help="which scenes to run, comma-separated")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    out = asyncio.run(run(args))
    if args.json:
        print(json.dumps(out))
    else:
        for name in ("overview", "portfolio"):
            if name not in out:
                continue
            r = out[name]
            print(f"{name}: {r['page']} median {r['page_ms']} ms (spread {r['page_spread_ms'][0]}-"
                  f"{r['page_spread_ms'][1]}), baseline {r['baseline']} {r['baseline_ms']} ms, ratio {r['ratio']}; "
                  f"goal < {r['goal_ms']} ms: {'met' if r['met'] else 'NOT met'}")
    return 0 if all(out[n]["met"] for n in ("overview", "portfolio") if n in out) else 1


if __name__ == "__main__":
    sys.exit(main())
