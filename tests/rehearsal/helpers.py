"""Small plans and scenarios written to a folder, and a way to rehearse them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import yaml

from rehearsal import load_scenario, rehearse

T0 = "2023-01-02T00:00:00Z"
PEOPLE = {"cora": "coordinator", "hana": "head", "hugo": "host", "dara": "deputy", "dino": "deputy"}


def day(n: float, hour: int = 0) -> str:
    """An instant `n` days after 2023-01-01 (at `hour` o'clock)."""
    from schemas.timefmt import DAY, format_timestamp, parse_timestamp

    return format_timestamp(parse_timestamp("2023-01-01T00:00:00Z") + int(n * DAY) + hour * 3_600_000_000)


def gate(gid: str, indicator: str, *, quorum: int = 2, distinct_roles: bool = True,
         timers: dict[str, str] | None = None, valid_for: str | None = None) -> dict[str, Any]:
    approval: dict[str, Any] = {"roles": ["head", "host", "deputy"], "quorum": quorum,
                                "distinct_roles": distinct_roles, "waiver_roles": ["head"]}
    if valid_for:
        approval["approval_valid_for"] = valid_for
    rule = {"all": [{"benchmark": {"id": f"{gid}.low", "indicator": indicator, "aggregate": "latest",
                                   "op": "<=", "threshold": 5}},
                    {"not": {"benchmark": {"id": f"{gid}.neg", "indicator": indicator, "aggregate": "latest",
                                           "op": "<", "threshold": 0}}}]}
    g: dict[str, Any] = {"id": gid, "name": f"gate {gid}", "rule": rule, "approval": approval}
    if timers:
        g["timers"] = timers
    return g


def plan_doc(version: str = "1", *, timers: dict[str, str] | None = None, valid_for: str | None = None,
             quorum: int = 2) -> dict[str, Any]:
    """Two phases, p2 after p1, one gate each: ga on ind.a, gb on ind.b (latest <= 5 passes)."""
    return {
        "plan": "rehearsal-test", "version": version, "mission": {"id": "m1", "name": "Test mission"},
        "coordinator_roles": ["coordinator"],
        "indicators": [{"id": i, "name": i, "kind": "number"} for i in ("ind.a", "ind.b")],
        "phases": [
            {"id": "p1", "name": "phase 1", "depends_on": [],
             "gates": [gate("ga", "ind.a", timers=timers, valid_for=valid_for, quorum=quorum)]},
            {"id": "p2", "name": "phase 2", "depends_on": ["p1"],
             "gates": [gate("gb", "ind.b", quorum=1, timers=timers)]},
        ],
    }


def record(rid: str, indicator: str, value: float, observed: str, reported: str | None = None) -> dict[str, Any]:
    r: dict[str, Any] = {"id": rid, "mission": "m1", "indicator": indicator, "value": value,
                         "observed_at": observed, "source": "test"}
    if reported:
        r["reported_at"] = reported
    return r


def write(folder: Path, actions: list[dict[str, Any]], records: list[dict[str, Any]],
          checkpoints: list[str], *, plan: dict[str, Any] | None = None,
          extra_plans: dict[str, dict[str, Any]] | None = None, start: dict[str, Any] | None = None,
          **top: Any) -> Path:
    (folder / "plan.json").write_text(json.dumps(plan or plan_doc()))
    for name, doc in (extra_plans or {}).items():
        (folder / name).write_text(json.dumps(doc))
    (folder / "evidence.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    doc = {"scenario": "test", "plan": "plan.json", "evidence": "evidence.jsonl",
           "roles": [{"person": p, "role": r, "from": "2023-01-01T00:00:00Z"} for p, r in PEOPLE.items()],
           "start": start or {"at": T0, "person": "cora", "role": "coordinator"},
           "actions": actions, "checkpoints": checkpoints, **top}
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run(path: Path) -> dict[str, Any]:
    return asyncio.run(rehearse(load_scenario(path)))


def outcomes(t: dict[str, Any]) -> list[tuple[int, str, str | None]]:
    return [(a["n"], a["outcome"], a.get("refusal")) for a in t["actions"]]
