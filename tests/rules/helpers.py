"""Small documents the rule tests build on: a valid plan, and evidence records for it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from rules.evidence import Ledger
from rules.plan import LoadedPlan, load_plan
from rules.series import EvidenceIndex

ROOT = Path(__file__).resolve().parents[2]

MISSION = "lakeland"


def base_plan() -> dict[str, Any]:
    """A valid plan with one indicator of each kind and two phases; tests break one thing."""
    return copy.deepcopy(_BASE)


def bench(bid: str = "b1", indicator: str = "inc", **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": bid, "indicator": indicator, "aggregate": "mean", "op": "<=", "threshold": 5}
    body.update(kw)
    return {"benchmark": body}


def record(rid: str = "r1", **kw: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": rid, "mission": MISSION, "indicator": "inc", "value": 7,
        "observed_at": "2025-03-31T00:00:00Z", "reported_at": "2025-04-03T10:00:00Z", "source": "jmac",
    }
    raw.update(kw)
    return raw


_BASE: dict[str, Any] = {
    "plan": "lakeland-exit",
    "version": "2026.1",
    "mission": {"id": MISSION, "name": "Lakeland Stabilisation Mission"},
    "indicators": [
        {"id": "inc", "name": "Incidents", "kind": "integer", "min": 0, "sources": ["jmac"]},
        {"id": "pol", "name": "Police per 1000", "kind": "number", "min": 0, "max": 20},
        {"id": "elect", "name": "Peaceful election", "kind": "boolean"},
    ],
    "phases": [
        {
            "id": "prep",
            "name": "Preparation",
            "gates": [
                {
                    "id": "g1",
                    "name": "Gate one",
                    "rule": {"all": [
                        bench("b1", "inc", window="P90D", min_points=2, max_age="P45D"),
                        bench("b2", "pol", aggregate="latest", op=">=", threshold=1.5),
                    ]},
                    "approval": {"roles": ["head", "host", "deputy"], "quorum": 2,
                                 "distinct_roles": True, "required_roles": ["host"],
                                 "waiver_roles": ["head"]},
                    "timers": {"remind_after": "P7D", "escalate_after": "P21D"},
                }
            ],
        },
        {
            "id": "drawdown",
            "name": "Drawdown",
            "depends_on": ["prep"],
            "gates": [
                {
                    "id": "g2",
                    "name": "Gate two",
                    "rule": {"any": [bench("b3", "elect", aggregate="latest", op="==", threshold=True)]},
                    "approval": {"roles": ["head"], "quorum": 1},
                }
            ],
        },
    ],
}


def first_gate(p: dict[str, Any]) -> dict[str, Any]:
    """The first gate of a plan document (base_plan has one)."""
    gate: dict[str, Any] = p["phases"][0]["gates"][0]
    return gate


def first_bench(p: dict[str, Any]) -> dict[str, Any]:
    """The first benchmark of the first gate's `all` rule."""
    b: dict[str, Any] = first_gate(p)["rule"]["all"][0]["benchmark"]
    return b


def plan_with_rule(rule: dict[str, Any], **top: Any) -> LoadedPlan:
    """base_plan with its first gate's rule replaced (and any top-level field, e.g. version)."""
    doc = base_plan()
    doc["phases"][0]["gates"][0]["rule"] = rule
    doc.update(top)
    return load_plan(doc)


def index_of(plan: LoadedPlan, *raws: dict[str, Any]) -> EvidenceIndex:
    """An evidence index of records that must all be accepted (as from a file)."""
    ledger = Ledger(plan)
    for raw in raws:
        assert ledger.add(raw).status == "stored", raw
    return EvidenceIndex(ledger.records.values())
