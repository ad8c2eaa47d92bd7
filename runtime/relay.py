"""The evidence relay: tells running phases about evidence the store holds, until told.

Stored records and their changes (store/outbox.py) commit in one transaction; this reads the
changes not yet delivered, signals each running phase whose gates use a changed indicator, and
only then marks them delivered. Whatever fails in between (Temporal down or paused, the API
killed after its commit), the change stays pending and the next pass sends it again; a phase
told twice evaluates once more, nothing worse. A phase not running needs no signal: it
evaluates from the store when it starts.

Who runs it: every `exitgate worker` in a loop (relay_forever), and the API and `evidence
import` once right after they store records, so the usual case is as fast as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from rules.plan import LoadedPlan
from schemas.ids import phase_workflow_id

from .signals import signal_evidence_changed

__all__ = ["OutboxStore", "relay_forever", "relay_once"]

log = logging.getLogger("exitgate.relay")


class _Change(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def mission(self) -> str: ...
    @property
    def indicator(self) -> str: ...


class OutboxStore(Protocol):
    def pending_changes(self, mission: str | None = None, limit: int = 1000) -> Sequence[_Change]: ...

    def changes_delivered(self, ids: Iterable[int]) -> None: ...

    def plan_for_mission(self, mission: str) -> LoadedPlan | None: ...


async def _tell(client: Client, plan: LoadedPlan, indicators: set[str], patience_s: float) -> None:
    for phase in plan.model.phases:
        used = set().union(*(plan.gate_indicators(g.id) for g in phase.gates))
        changed = sorted(used & indicators)
        if not changed:
            continue
        handle = client.get_workflow_handle(phase_workflow_id(plan.mission_id, phase.id))
        try:
            await signal_evidence_changed(handle, changed, patience_s=patience_s)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:  # not started yet, or already complete
                raise


async def relay_once(store: OutboxStore, client: Client, mission: str | None = None,
                     patience_s: float = 60.0) -> int:
    """Deliver what is pending (for one mission, or all); returns how many changes were
    delivered. Raises if Temporal cannot be reached: what was not delivered stays pending."""
    delivered = 0
    while True:
        changes = await asyncio.to_thread(store.pending_changes, mission)
        if not changes:
            return delivered
        by_mission: dict[str, list[Any]] = defaultdict(list)
        for c in changes:
            by_mission[c.mission].append(c)
        for m, chs in by_mission.items():
            plan = await asyncio.to_thread(store.plan_for_mission, m)
            if plan is not None:
                await _tell(client, plan, {c.indicator for c in chs}, patience_s)
            await asyncio.to_thread(store.changes_delivered, [c.id for c in chs])
            delivered += len(chs)


async def relay_forever(store: OutboxStore, client: Client, interval_s: float = 1.0) -> None:
    """A worker's loop: never gives up; an outage is logged once per pass and retried."""
    while True:
        try:
            await relay_once(store, client)
        except Exception as exc:  # Temporal or the store unreachable: try again next pass
            log.warning("evidence relay: %s; retrying in %.0f s", exc, interval_s)
        await asyncio.sleep(interval_s)
