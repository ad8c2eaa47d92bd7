"""Evidence ingestion, a chunk per transaction.

Each chunk: prefetch what acceptance needs (records already stored under the chunk's ids and
its supersedes targets, and which targets are already corrected) in two queries, decide every
record with `rules.evidence.check_record`, insert the accepted ones (COPY on PostgreSQL,
streamed while the chunk is decided; "on conflict do nothing" on SQLite), and append the
chunk's audit entry, all in one transaction. If another importer won a race for an id (or
for correcting the same record), the insert says so (a unique violation, or fewer rows back
than were sent): the chunk is rolled back and decided again against the now-visible rows, so
the end state is the same as if the imports had run one after the other.
"""

from __future__ import annotations

import gc
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import psycopg
from sqlalchemy import select
from sqlalchemy.dialects import sqlite

from rules.evidence import Outcome, Record, check_record, is_evidence_id, parse_line, stored_outcome
from rules.plan import LoadedPlan

from .outbox import add_changes
from .tables import EvidenceRow

if TYPE_CHECKING:
    from sqlmodel import Session

    from .core import Store

_RETRIES = 20


_COLUMNS = ("id", "mission", "indicator", "value", "observed_at", "reported_at", "received_at", "known_at",
            "source", "supersedes", "provenance", "backfill")


class _ChunkKnown:
    """Known records: the database's (prefetched) plus those accepted earlier in the chunk."""

    def __init__(self, rows: dict[str, Record], corrected: set[str]):
        self.rows = rows
        self.corrected = corrected

    def get(self, record_id: str) -> Record | None:
        return self.rows.get(record_id)

    def is_corrected(self, record_id: str) -> bool:
        return record_id in self.corrected

    def accept(self, rec: Record) -> None:
        self.rows[rec.id] = rec
        if rec.supersedes is not None:
            self.corrected.add(rec.supersedes)


def _record(c: Mapping[Any, Any]) -> Record:
    """A stored row (columns by name) back as the Record acceptance compares against."""
    return Record(c["id"], c["mission"], c["indicator"], json.loads(c["value"]), c["observed_at"],
                  c["reported_at"], c["known_at"], c["source"], c["supersedes"],
                  json.loads(c["provenance"]) if c["provenance"] else None, c["received_at"])


def _prefetch(store: Store, session: Session, ids: set[str]) -> _ChunkKnown:
    if store.dialect == "postgresql":
        return _prefetch_pg(session, ids)
    t = EvidenceRow.__table__.c  # type: ignore[attr-defined]
    rows: dict[str, Record] = {}
    corrected: set[str] = set()
    id_list = list(ids)
    for i in range(0, len(id_list), 500):
        part = id_list[i:i + 500]
        for r in session.execute(select(EvidenceRow.__table__).where(t.id.in_(part))):  # type: ignore[attr-defined]
            rows[r.id] = _record(r._mapping)
        corrected.update(session.execute(select(t.supersedes).where(t.supersedes.in_(part))).scalars())
    return _ChunkKnown(rows, corrected)


def _prefetch_pg(session: Session, ids: set[str]) -> _ChunkKnown:
    # One array parameter per lookup: an index scan however large the table (long IN lists of
    # separate parameters made the planner flip to sequential scans once the table grew, and
    # cost the driver a placeholder each). The array goes as one comma-separated text, split by
    # the server: evidence ids never hold a comma (only valid ids are looked up), and the
    # driver's array dumper quotes element by element in Python.
    raw = session.connection().connection.driver_connection
    wanted = ",".join(ids)
    rows: dict[str, Record] = {}
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(f"SELECT {', '.join(_COLUMNS)} FROM evidence WHERE id = ANY(string_to_array(%s, ','))",
                    (wanted,))
        for r in cur.fetchall():
            rec = _record(dict(zip(_COLUMNS, r, strict=True)))
            rows[rec.id] = rec
        cur.execute("SELECT supersedes FROM evidence WHERE supersedes = ANY(string_to_array(%s, ','))", (wanted,))
        corrected = {r[0] for r in cur.fetchall()}
    return _ChunkKnown(rows, corrected)


def _parse(chunk: list[tuple[int | None, Any]], lines: bool) -> tuple[list[tuple[int | None, Any]], set[str]]:
    """The chunk's raw records (or the outcomes rejecting unreadable lines), and the ids
    acceptance may look up: each record's id and supersedes target, where valid."""
    out: list[tuple[int | None, Any]] = []
    wanted: set[str] = set()
    for line, text in chunk:
        raw = parse_line(text, line) if lines else text
        out.append((line, raw))
        if isinstance(raw, dict):
            rid, target = raw.get("id"), raw.get("supersedes")
            if is_evidence_id(rid):
                wanted.add(rid)
            if target is not None and is_evidence_id(target):
                wanted.add(target)
    return out, wanted


def _value_text(v: Any) -> str:
    # The JSON text of a value acceptance let through (a bool, an int, a finite float or null),
    # as json.dumps writes it, without its encoder's per-call setup.
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    return int.__repr__(v) if isinstance(v, int) else float.__repr__(v)


def _row(r: Record, backfill: bool) -> tuple[Any, ...]:
    return (r.id, r.mission, r.indicator, _value_text(r.value), r.observed_at, r.reported_at, r.received_at,
            r.known_at, r.source, r.supersedes,
            json.dumps(r.provenance, ensure_ascii=False) if r.provenance is not None else None, backfill)


_COPY = f"COPY evidence ({', '.join(_COLUMNS)}) FROM STDIN"


def _copy_text(text: str) -> str:
    """A text column in COPY's text format: backslash, tab, newline and carriage return
    escaped (the characters it gives meaning; NUL is refused by acceptance)."""
    if text.isprintable() and "\\" not in text:  # (tab, newline and carriage return are not printable)
        return text
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy_line(r: Record, backfill: str) -> str:
    """_row(r) as one line of COPY's text format (\\N for null), written directly instead of
    through the driver's write_row, which adapts each of the twelve values by its dumpers.
    Ids, mission and indicator need no escapes (the id patterns have none of the characters;
    acceptance made mission and indicator equal to the plan's ids), nor has the JSON text of a
    number, a boolean or null."""
    v = r.value
    value = float.__repr__(v) if type(v) is float else _value_text(v)
    received = "\\N" if r.received_at is None else r.received_at
    supersedes = "\\N" if r.supersedes is None else r.supersedes
    provenance = "\\N" if r.provenance is None else _copy_text(json.dumps(r.provenance, ensure_ascii=False))
    return (f"{r.id}\t{r.mission}\t{r.indicator}\t{value}\t{r.observed_at}\t{r.reported_at}\t{received}\t"
            f"{r.known_at}\t{_copy_text(r.source)}\t{supersedes}\t{provenance}\t{backfill}\n")


_FLUSH_LINES = 200  # lines joined per write: one driver call per ~20 kB, the server still fed as records are decided


@contextmanager
def _sink(store: Store, session: Session, backfill: bool) -> Iterator[Callable[[Record], None]]:
    """Where the chunk's accepted records go as they are decided; raises _LostRace if another
    importer stored one of their ids (or corrected one of their targets) first.

    On PostgreSQL a COPY straight into the table, open while the chunk is decided: the server
    inserts and indexes what was sent while the next records are checked, instead of after
    all of them. The chunk's ids were looked up in this transaction, so a unique violation
    means a concurrent importer committed one of them since (PostgreSQL waits for that
    importer's commit before raising); the chunk is then decided again. A staging table and
    INSERT ... ON CONFLICT cost twice the writes for that rare race."""
    if store.dialect == "postgresql":
        raw = session.connection().connection.driver_connection
        flag = "t" if backfill else "f"
        with raw.cursor() as cur:  # type: ignore[union-attr]
            try:
                with cur.copy(_COPY) as copy:
                    pending: list[str] = []

                    def write(r: Record) -> None:
                        pending.append(_copy_line(r, flag))
                        if len(pending) >= _FLUSH_LINES:
                            copy.write("".join(pending))
                            pending.clear()

                    yield write
                    if pending:
                        copy.write("".join(pending))
            except psycopg.errors.UniqueViolation:
                raise _LostRace from None
        return
    rows: list[tuple[Any, ...]] = []
    yield lambda r: rows.append(_row(r, backfill))
    if not rows:
        return
    table = EvidenceRow.__table__  # type: ignore[attr-defined]
    stmt = sqlite.insert(table).on_conflict_do_nothing().returning(table.c.id)
    stored = 0
    for i in range(0, len(rows), 1000):
        stored += len(session.execute(stmt, [dict(zip(_COLUMNS, row, strict=True))
                                             for row in rows[i:i + 1000]]).scalars().all())
    if stored != len(rows):
        raise _LostRace


class _LostRace(Exception):
    pass


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Automatic cyclic garbage collection off for an import.

    An import keeps an outcome per record and each chunk allocates thousands of objects (raw
    records, Records, rows), and every such burst made the collector walk all the objects in
    the process again: a fifth of the import's CPU (ten full collections in an import of
    100,000 records). What an import drops is freed by reference counting, but for a few
    objects of each chunk's database session, collected once the import ends; the pause also
    delays other threads' cyclic garbage until then. Process-wide, so concurrent imports count their pauses and the
    last one out restores the collector as the first one found it."""
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def ingest_chunk(store: Store, plan: LoadedPlan, chunk: list[tuple[int | None, Any]], received_at: int,
                 backfill: bool, actor: str, lines: bool) -> list[Outcome]:
    parsed, wanted = _parse(chunk, lines)
    for _attempt in range(_RETRIES):
        try:
            with store.session() as session:
                known = _prefetch(store, session, wanted)
                outcomes: list[Outcome] = []
                accepted: list[Record] = []
                with _sink(store, session, backfill) as write:
                    for line, raw in parsed:
                        if isinstance(raw, Outcome):
                            outcomes.append(raw)
                            continue
                        res = check_record(raw, plan, known, line=line, received_at=received_at, backfill=backfill)
                        if isinstance(res, Outcome):
                            outcomes.append(res)
                            continue
                        known.accept(res)
                        accepted.append(res)
                        write(res)
                        outcomes.append(stored_outcome(res.id, line))
                counts = Counter(o.status for o in outcomes)
                store.audit_append("evidence.import" if not backfill else "evidence.backfill", {
                    "mission": plan.mission_id, "plan_sha256": plan.sha256, "received_at": received_at,
                    "stored": counts["stored"], "duplicates": counts["duplicate"], "rejected": counts["rejected"],
                    "stored_ids": [r.id for r in accepted],
                    "rejections": [o.to_json() for o in outcomes if o.status == "rejected"],
                }, actor, session)
                # After the audit append, which holds the audit head's lock until commit: change
                # ids are then given in commit order, so an evaluation that read position P has
                # seen every change up to P (an id taken earlier could commit after a higher one).
                add_changes(session, plan.mission_id, ((r.indicator, r.id) for r in accepted), received_at)
                return outcomes
        except _LostRace:
            continue
    raise RuntimeError("evidence import kept losing races with concurrent importers; try again")
