"""Warm evidence indexes: each mission's whole index kept in memory by a long-lived process
(the worker) and brought up to date from the outbox before every gate read.

A gate evaluation over a million stored records spends most of its time reading the gate's
windows from the database and building the index (hundreds of milliseconds), and only a
few milliseconds evaluating. Here the index of a mission is read once; each later read asks
the outbox for the changes after the last one this index saw, joined to the records they
stored (one statement, outside any transaction: one round trip), and adds just those records
(`EvidenceIndex.with_records`). Evaluations of the index then reuse what did not change (the
views of untouched indicators, their benchmarks' results and text, and each gate's digest up
to the first benchmark that changed: rules/series.py, rules/evaluate.py).

Why that misses nothing and counts nothing twice:
- Change ids follow commit order (taken under the audit head's lock, store/ingest.py): when
  change P is visible, every change below P is, so "the changes after P" read later has all
  that was stored since.
- The first read of a mission takes its records and its latest change id from one snapshot;
  a record seen twice anyway (a change read again after an eviction) is skipped by the index.
- Corrections and withdrawals are records too: adding one sets its target's superseded_at,
  so the index is the one a full read would build, and as-of views filter knowledge time as
  they do for a full read. Changes from before migration 0008 name no records: meeting one,
  the mission is read whole again.

Memory is bounded by a record budget over all missions (`EXITGATE_EVIDENCE_CACHE_RECORDS`):
least recently read missions are dropped first, and a mission larger than the budget is never
kept: its gates are read from the store as without a warm index (the windowed read).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rules.series import EvidenceIndex

from . import outbox

if TYPE_CHECKING:
    from .core import Store

__all__ = ["WarmIndexes"]

log = logging.getLogger("exitgate.warm")

# Catching up on more records than this reads the mission whole instead (a mission's records
# in one snapshot, built at once, beat merging batch after batch of that many).
RELOAD_AT = 20_000


@dataclass
class _Mission:
    index: EvidenceIndex
    position: int
    lock: threading.Lock = field(default_factory=threading.Lock)


class WarmIndexes:
    def __init__(self, store: Store, budget_records: int):
        self.store = store
        self.budget_records = budget_records
        self._missions: OrderedDict[str, _Mission] = OrderedDict()
        self._lock = threading.Lock()  # guards _missions and the counters, never held over I/O
        self._load_locks: dict[str, threading.Lock] = {}
        self.counters = {"hits": 0, "loads": 0, "records_added": 0, "evictions": 0, "cold_reads": 0}

    def index(self, mission: str, as_of: int, indicators: Iterable[str],
              horizons: Mapping[str, int | None]) -> EvidenceIndex:
        """An index evaluating any gate as of `as_of` exactly as the store's windowed read does."""
        warm = self._warm(mission)
        if warm is None:
            self._count("cold_reads")
            return self.store.cold_evidence_index(mission, as_of, indicators, horizons)
        with warm.lock:
            with self.store.read() as conn:
                if conn.dialect.name == "postgresql":
                    # One statement needs no transaction around it: no BEGIN and ROLLBACK round trips.
                    conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                latest, rows = outbox.since_with_records(conn, mission, warm.position, RELOAD_AT)
            if rows is None:
                warm.index, warm.position = self._load(mission)
            elif rows:
                before = warm.index.count
                warm.index = warm.index.with_records(self.store.rows_to_records(rows, mission))
                warm.position = latest
                self._count("records_added", warm.index.count - before)
            index = warm.index
        self._fit(keep=mission)
        return index

    def _warm(self, mission: str) -> _Mission | None:
        with self._lock:
            warm = self._missions.get(mission)
            if warm is not None:
                self._missions.move_to_end(mission)
                self.counters["hits"] += 1
                return warm
            load_lock = self._load_locks.setdefault(mission, threading.Lock())
        with load_lock:  # two threads missing at once load the mission once
            with self._lock:
                warm = self._missions.get(mission)
            if warm is not None:
                return warm
            if self.store.evidence_count(mission) > self.budget_records:
                return None
            index, position = self._load(mission)
            warm = _Mission(index, position)
            with self._lock:
                self._missions[mission] = warm
                self.counters["loads"] += 1
        self._fit(keep=mission)
        # What the worker holds, each time it grows by a mission (or drops one to fit).
        log.info("warm evidence index of mission %s loaded (%d records); holding %s", mission,
                 index.count, self.stats())
        return warm

    def _load(self, mission: str) -> tuple[EvidenceIndex, int]:
        with self.store.snapshot() as conn:
            position = outbox.latest(conn, mission)
            records = self.store.records_in(conn, mission)
        return EvidenceIndex(records), position

    def _fit(self, keep: str) -> None:
        with self._lock:
            total = sum(m.index.count for m in self._missions.values())
            for name in list(self._missions):
                if total <= self.budget_records:
                    break
                if name == keep:
                    continue
                total -= self._missions.pop(name).index.count
                self.counters["evictions"] += 1
            if total > self.budget_records and keep in self._missions:
                # Grew past the budget on its own: its gates are read from the store from now on.
                self._missions.pop(keep)
                self.counters["evictions"] += 1

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] += n

    def held(self, mission: str) -> int | None:
        """How many records of the mission are held warm (None: it is not)."""
        with self._lock:
            warm = self._missions.get(mission)
        return None if warm is None else warm.index.count

    def stats(self) -> dict[str, Any]:
        """What is held (missions, records, bytes) against the budget, and how reads were served."""
        with self._lock:
            held = dict(self._missions)
            counters = dict(self.counters)
        return {"missions": len(held), "records": sum(m.index.count for m in held.values()),
                "bytes": sum(m.index.nbytes for m in held.values()), "budget_records": self.budget_records,
                # Beside the bytes: what evaluations reuse (rules/evaluate.py), about one
                # explanation per gate evaluated; the budget counts records only.
                "memo_bytes": sum(m.index.memo_nbytes for m in held.values()),
                **counters}
