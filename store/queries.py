"""Read paths used by the command line and the API."""

from __future__ import annotations

from typing import Any

from rules.evaluate import Waiver, evaluate, evaluate_gate
from rules.evidence import Record
from rules.plan import LoadedPlan

from .core import Store, StoreError


def evaluate_from_store(mission: str, instants: list[int], store: Store | None = None) -> list[dict[str, Any]]:
    """The same JSON as `evaluate --plan --evidence`, from the records the store knew at each T."""
    if store is None:
        with Store.from_url() as own:
            return evaluate_from_store(mission, instants, own)
    plan = store.plan_for_mission(mission)
    if plan is None:
        raise StoreError(f"unknown mission {mission!r}: load its plan and start it, or import evidence with --plan")
    return [evaluate(plan, store.evidence_index(mission, t), t) for t in instants]


def explain_gate(store: Store, plan: LoadedPlan, gate: str, as_of: int,
                 waivers: list[Waiver]) -> tuple[dict[str, Any], dict[str, Record]]:
    """One gate's evaluation as of T (CONTRACT section 3) and the records its explanation names.

    Reads only the gate's windows, as the evaluate_gate activity does, so re-evaluating as of
    the instant a workflow evaluated yields that evaluation's digest again.
    """
    index = store.evidence_index(plan.mission_id, as_of, plan.gate_indicators(gate), plan.gate_horizons(gate))
    ev: dict[str, Any] = evaluate_gate(plan, gate, index, as_of, waivers)
    ids: list[str] = []
    stack = [ev["explanation"]]
    while stack:
        node = stack.pop()
        stack.extend(node.get("children", ()))
        ids.extend(node.get("evidence", ()))
    return ev, store.records_by_id(plan.mission_id, ids)
