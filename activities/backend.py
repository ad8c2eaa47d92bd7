"""What the activities need from the outside world, and an in-memory version of it.

The store (SQLModel) implements the same methods; tests and the dev path without a
database use `MemoryBackend`, whose evidence the caller controls record by record.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from rules.evidence import Ledger, Outcome
from rules.plan import LoadedPlan
from rules.series import EvidenceIndex

__all__ = ["Backend", "MemoryBackend"]


class Backend(Protocol):
    def load_plan(self, sha256: str) -> LoadedPlan: ...

    def evidence_index(self, mission: str, as_of: int, indicators: frozenset[str],
                       horizons: dict[str, int | None] | None = None) -> EvidenceIndex: ...

    def evidence_position(self, mission: str, indicators: frozenset[str], received_by: int | None = None) -> int: ...

    def audit_append(self, kind: str, payload: dict[str, Any], actor: str, *, key: str | None = None) -> object: ...

    def notify(self, kind: str, mission: str, phase: str, gate: str, message: str,
               payload: dict[str, Any], key: str | None = None) -> object: ...

    def notification_delivered(self, key: str, error: str | None) -> None: ...


@dataclass
class MemoryBackend:
    """Plans, evidence ledgers, audit log and notifications held in lists and dicts."""

    plans: dict[str, LoadedPlan] = field(default_factory=dict)
    ledgers: dict[str, Ledger] = field(default_factory=dict)
    audit: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _indexes: dict[str, tuple[int, EvidenceIndex]] = field(default_factory=dict, repr=False)
    _audit_keys: set[str] = field(default_factory=set, repr=False)
    # The store's position per (mission, indicator): the count of stores so far, as the store's
    # outbox ids grow.
    _positions: dict[tuple[str, str], int] = field(default_factory=dict, repr=False)
    _stores: int = 0

    def add_plan(self, plan: LoadedPlan) -> str:
        self.plans[plan.sha256] = plan
        self.ledgers.setdefault(plan.mission_id, Ledger(plan))
        return plan.sha256

    def add_evidence(self, mission: str, raw: Any, *, received_at: int | None = None,
                     backfill: bool = True) -> Outcome:
        with self._lock:
            out = self.ledgers[mission].add(raw, received_at=received_at, backfill=backfill)
            if out.status == "stored":
                self._indexes.pop(mission, None)
                self._stores += 1
                self._positions[(mission, raw["indicator"])] = self._stores
            return out

    def evidence_position(self, mission: str, indicators: frozenset[str], received_by: int | None = None) -> int:
        # Records here are added by tests at their instants; received_by has nothing to filter.
        with self._lock:
            return max((self._positions.get((mission, i), 0) for i in indicators), default=0)

    def load_plan(self, sha256: str) -> LoadedPlan:
        try:
            return self.plans[sha256]
        except KeyError:
            raise LookupError(f"no plan with sha256 {sha256}") from None

    def evidence_index(self, mission: str, as_of: int, indicators: frozenset[str],
                       horizons: dict[str, int | None] | None = None) -> EvidenceIndex:
        # Everything is in memory already; the horizons only save the store a read.
        with self._lock:
            ledger = self.ledgers[mission]
            cached = self._indexes.get(mission)
            if cached is None or cached[0] != len(ledger.records):
                cached = (len(ledger.records), EvidenceIndex(ledger.records.values()))
                self._indexes[mission] = cached
            return cached[1]

    def audit_append(self, kind: str, payload: dict[str, Any], actor: str, *, key: str | None = None) -> None:
        with self._lock:
            if key is not None:
                if key in self._audit_keys:
                    return  # a retried activity: the first append stands
                self._audit_keys.add(key)
            self.audit.append({"kind": kind, "actor": actor, "payload": payload, "key": key})

    def notify(self, kind: str, mission: str, phase: str, gate: str, message: str,
               payload: dict[str, Any], key: str | None = None) -> None:
        with self._lock:
            if key is not None and any(n["key"] == key for n in self.notifications):
                return  # a retried activity: the first row stands
            self.notifications.append({"kind": kind, "mission": mission, "phase": phase, "gate": gate,
                                       "message": message, "payload": payload, "key": key,
                                       "delivered": False, "delivery_error": None})

    def notification_delivered(self, key: str, error: str | None) -> None:
        with self._lock:
            n = next(n for n in self.notifications if n["key"] == key)
            if error is None:
                n["delivered"], n["delivery_error"] = True, None
            elif not n["delivered"]:
                n["delivery_error"] = error

    def audit_kinds(self) -> list[str]:
        return [e["kind"] for e in self.audit]
