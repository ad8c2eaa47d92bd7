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
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from rules.evidence import Outcome
from rules.plan import LoadedPlan
from rules.series import EvidenceIndex
from runtime import TemporalSettings, connect, signal_evidence_changed
from store import Store
from workflows.common import phase_workflow_id

from .keys import Keys
from .settings import ApiSettings
from .temporal_port import TemporalGatesPort

__all__ = ["Deployment", "StoreAuditPort", "StoreEvidencePort"]


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

    async def evidence_index(self, mission: str) -> EvidenceIndex:
        if await self.plan_for_mission(mission) is None:
            from .ports import NotFoundError

            raise NotFoundError(f"unknown mission {mission!r}")
        return await asyncio.to_thread(self.store.evidence_index, mission)

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
                await signal_evidence_changed(handle, changed)
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


@dataclass
class Deployment:
    """The store and a Temporal client, and the three ports over them: what the API, the
    coordinator and approver commands and the demo all act through."""

    store: Store
    client: Client
    evidence: StoreEvidencePort
    gates: TemporalGatesPort
    audit: StoreAuditPort

    @classmethod
    def over(cls, store: Store, client: Client, task_queue: str = "exitgate") -> Deployment:
        return cls(store, client, StoreEvidencePort(store, client), TemporalGatesPort(client, store, task_queue),
                   StoreAuditPort(store))

    @classmethod
    async def connect(cls, database_url: str | None = None,
                      temporal: TemporalSettings | None = None) -> Deployment:
        """From settings: EXITGATE_DATABASE_URL and the EXITGATE_TEMPORAL_* variables."""
        t = temporal or TemporalSettings()
        client = await connect(t)
        store = await asyncio.to_thread(Store.from_url, database_url)
        return cls.over(store, client, t.task_queue)

    def app(self, settings: ApiSettings, keys: Keys) -> FastAPI:
        from .app import create_app

        return create_app(settings, self.evidence, self.gates, keys, self.audit)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.store.close)
