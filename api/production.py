"""Ports backed by the store and Temporal, for running the API for real.

Evidence: stored through `Store.ingest` (CONTRACT section 2, live knowledge time unless a
coordinator backfills), then one `evidence_changed` signal to each phase workflow whose gates
use an indicator that received records; the phase coalesces bursts into one evaluation. A
phase that has not started (or has finished) has no workflow to tell, and needs none: it
evaluates from the store when it starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from rules.evidence import Outcome
from rules.plan import LoadedPlan
from schemas.messages import EvidenceChanged
from store import Store
from workflows.common import phase_workflow_id

__all__ = ["StoreAuditPort", "StoreEvidencePort"]


class StoreEvidencePort:
    def __init__(self, store: Store, client: Client | None):
        self.store = store
        self.client = client

    async def plan_for_mission(self, mission: str) -> LoadedPlan | None:
        return await asyncio.to_thread(self.store.plan_for_mission, mission)

    async def ingest(self, mission: str, raws: Sequence[Any], *, actor: str,
                     backfill: bool = False) -> list[Outcome]:
        plan = await self.plan_for_mission(mission)
        if plan is None:
            from .ports import NotFoundError

            raise NotFoundError(f"unknown mission {mission!r}")
        outcomes = await asyncio.to_thread(self.store.ingest, plan, list(raws), backfill=backfill, actor=actor)
        stored = {o.id for o in outcomes if o.status == "stored"}
        indicators = {raw["indicator"] for raw in raws if isinstance(raw, dict) and raw.get("id") in stored}
        await self.tell_phases(plan, indicators)
        return outcomes

    async def tell_phases(self, plan: LoadedPlan, indicators: set[str]) -> list[str]:
        """Signal the phases that use these indicators; returns the phases that were told."""
        if self.client is None or not indicators:
            return []
        told = []
        for phase in plan.model.phases:
            used = set().union(*(plan.gate_indicators(g.id) for g in phase.gates))
            changed = sorted(used & indicators)
            if not changed:
                continue
            handle = self.client.get_workflow_handle(phase_workflow_id(plan.mission_id, phase.id))
            try:
                await handle.signal("evidence_changed", EvidenceChanged(indicators=changed))
                told.append(phase.id)
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:  # not started yet, or already complete
                    raise
        return told


class StoreAuditPort:
    def __init__(self, store: Store):
        self.store = store

    async def append(self, kind: str, payload: dict[str, Any], actor: str) -> None:
        await asyncio.to_thread(self.store.audit_append, kind, payload, actor)
