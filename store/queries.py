"""Read paths used by the command line and the API."""

from __future__ import annotations

from typing import Any

from rules.evaluate import evaluate

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
