"""The evidence store: plans, missions, append-only evidence with as-of queries, the audit log.

SQLite by default (one file under the data folder), PostgreSQL in production; the same code and
the same tests run on both. Evidence acceptance is `rules.evidence.check_record`, the one
implementation of CONTRACT section 2, fed by a database-backed `Known`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, and_, create_engine, event, false, or_, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from rules.evidence import Outcome, Record
from rules.plan import LoadedPlan, load_plan
from rules.series import EvidenceIndex
from schemas.register import Assignment, Register, RegisterChange

from . import migrate, outbox
from . import register as role_register
from .audit import GENESIS, AuditEntry, VerifyResult, entry_hash, payload_text, verify_rows
from .ingest import collector_paused, ingest_chunk
from .models import StoredNotification
from .settings import StoreSettings
from .tables import (
    ApiKeyRow,
    AuditHeadRow,
    AuditRow,
    EvidenceRow,
    MissionRow,
    NotificationRow,
    PlanRow,
    UiSessionRow,
)
from .warm import WarmIndexes

__all__ = ["Store", "StoreError", "now_us"]

CHUNK = 2000  # records per transaction: bounded memory, and a crash loses at most one chunk of work


class StoreError(LookupError):
    pass


def now_us() -> int:
    return time.time_ns() // 1000


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _: Any) -> None:
            # Let SQLAlchemy own transactions, and start each with a write lock: SQLite then
            # serialises writers instead of failing one of them half way.
            dbapi_conn.isolation_level = None
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            dbapi_conn.execute("PRAGMA busy_timeout=60000")

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # Reads begin deferred: in WAL mode they then see the last commit without waiting
            # for a writer (an import would otherwise hide its progress until it ends).
            read = conn.get_execution_options().get("exitgate_read", False)
            conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return create_engine(url, pool_pre_ping=True)


class Store:
    def __init__(self, engine: Engine, chunk_size: int = CHUNK):
        self.engine = engine
        self.dialect = engine.dialect.name
        self.chunk_size = chunk_size
        # Plans are immutable under their sha256, and validating one costs tens of milliseconds
        # of JSON Schema work: keep what was loaded (a few plans per deployment).
        self._plans: dict[str, LoadedPlan] = {}
        self.warm: WarmIndexes | None = None

    @classmethod
    def from_url(cls, url: str | None = None, *, migrate_db: bool = True) -> Store:
        store = cls(_make_engine(url or StoreSettings().url))
        if migrate_db:
            store.migrate()
        return store

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def migrate(self) -> None:
        migrate.upgrade(self.engine)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect().execution_options(exitgate_read=True) as conn:
            yield conn

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine) as session, session.begin():
            yield session

    # --- plans and missions ---------------------------------------------------------------

    def save_plan(self, plan: LoadedPlan) -> None:
        with self.session() as s:
            if s.get(PlanRow, plan.sha256) is None:
                s.add(PlanRow(sha256=plan.sha256, plan_id=plan.id, version=plan.model.version,
                              document=json.dumps(plan.document, ensure_ascii=False), created_at=now_us()))

    def load_plan(self, sha256: str) -> LoadedPlan:
        cached = self._plans.get(sha256)
        if cached is not None:
            return cached
        with self.session() as s:
            row = s.get(PlanRow, sha256)
            if row is None:
                raise StoreError(f"no plan with sha256 {sha256}")
            plan = load_plan(json.loads(row.document))
        self._plans[sha256] = plan
        return plan

    def register_mission(self, plan: LoadedPlan, started_by: str) -> None:
        """Record the plan a mission runs on (again on a migration to a newer plan)."""
        self.save_plan(plan)
        with self.session() as s:
            row = s.get(MissionRow, plan.mission_id)
            if row is None:
                s.add(MissionRow(id=plan.mission_id, plan_sha256=plan.sha256, started_by=started_by,
                                 started_at=now_us()))
            else:
                row.plan_sha256 = plan.sha256
                s.add(row)

    def plan_for_mission(self, mission: str) -> LoadedPlan | None:
        with self.session() as s:
            row = s.get(MissionRow, mission)
            sha = row.plan_sha256 if row is not None else None
        return self.load_plan(sha) if sha is not None else None

    # --- the role register (store/register.py) -------------------------------------------

    def role_register(self, mission: str) -> Register:
        with self.session() as s:
            return role_register.read_register(s, mission)

    def role_holders(self, mission: str, at: int) -> list[Assignment]:
        """Who held what at `at`: the assignments in force then."""
        with self.session() as s:
            return role_register.assignments_at(s, mission, at)

    def role_register_change(self, mission: str, decide: Callable[[Register], RegisterChange]) -> Register:
        """Apply a change decided on the register as stored (lifecycle.authority decides; a
        refusal raised by `decide` writes nothing), with its audit entries; the new register."""
        with self.session() as s:
            return role_register.apply_change(self, s, mission, decide, now_us())

    # --- API keys (hashes only; the api package decides what a key may do) ------------------

    def api_key_add(self, key_id: str, digest: str, identity: dict[str, Any], actor: str) -> None:
        """Store a key's hash, audited (without the hash) in the same transaction."""
        with self.session() as s:
            s.add(ApiKeyRow(key_id=key_id, hash=digest, identity=json.dumps(identity, sort_keys=True),
                            created_at=now_us()))
            s.flush()
            self.audit_append("api_key.created", {"key_id": key_id, "identity": identity}, actor, session=s)

    def api_key_get(self, key_id: str) -> tuple[str, dict[str, Any]] | None:
        """(hash, identity) of a key that is not revoked."""
        t = ApiKeyRow.__table__.c  # type: ignore[attr-defined]
        with self.read() as conn:
            row = conn.execute(select(t.hash, t.identity).where(t.key_id == key_id, t.revoked_at.is_(None))).first()
        return (row[0], json.loads(row[1])) if row is not None else None

    def api_key_revoke(self, key_id: str, actor: str) -> bool:
        with self.session() as s:
            row = s.get(ApiKeyRow, key_id)
            if row is None or row.revoked_at is not None:
                return False
            row.revoked_at = now_us()
            s.add(row)
            s.flush()
            self.audit_append("api_key.revoked", {"key_id": key_id}, actor, session=s)
            return True

    def api_keys(self) -> list[dict[str, Any]]:
        """Identities of the keys not revoked, oldest first."""
        t = ApiKeyRow.__table__.c  # type: ignore[attr-defined]
        with self.read() as conn:
            rows = conn.execute(select(t.identity).where(t.revoked_at.is_(None)).order_by(t.created_at)).all()
        return [json.loads(r[0]) for r in rows]

    # --- approver page sessions (hashes of their ids only) ----------------------------------

    def ui_session_add(self, id_hash: str, ends_at: int, *, key_id: str | None = None,
                       person: str | None = None, end_hint: str | None = None) -> None:
        if (key_id is None) == (person is None):
            raise ValueError("a session names either a key or a person")
        with self.session() as s:
            s.add(UiSessionRow(id_hash=id_hash, key_id=key_id, person=person, end_hint=end_hint,
                               created_at=now_us(), ends_at=ends_at))

    def ui_session_get(self, id_hash: str, at: int) -> tuple[str | None, str | None, str | None] | None:
        """(key id, person, end hint) of a session open at `at` (not ended, not past its end)."""
        t = UiSessionRow.__table__.c  # type: ignore[attr-defined]
        with self.read() as conn:
            row = conn.execute(select(t.key_id, t.person, t.end_hint).where(
                t.id_hash == id_hash, t.ended_at.is_(None), t.ends_at > at)).first()
        return (row[0], row[1], row[2]) if row is not None else None

    def ui_session_end(self, id_hash: str) -> str | None:
        """End the session; its end hint, which is not kept past the end."""
        with self.session() as s:
            row = s.get(UiSessionRow, id_hash)
            if row is None or row.ended_at is not None:
                return None
            hint, row.end_hint, row.ended_at = row.end_hint, None, now_us()
            s.add(row)
            return hint

    # --- evidence ---------------------------------------------------------------------------

    def ingest(self, plan: LoadedPlan, raws: Iterable[Any], *, received_at: int | None = None,
               backfill: bool = False, actor: str, lines: bool = False,
               progress: Any = None) -> list[Outcome]:
        """Take records in order with CONTRACT section 2's semantics; one outcome per record.

        `raws` are parsed records, or (with lines=True) JSON Lines text lines numbered from 1.
        Work is committed a chunk at a time, each chunk with its audit entry in the same
        transaction: a crash leaves whole chunks or nothing, and re-sending gives the same state.
        """
        with collector_paused():
            return self._ingest(plan, raws, received_at, backfill, actor, lines, progress)

    def _ingest(self, plan: LoadedPlan, raws: Iterable[Any], received_at: int | None, backfill: bool,
                actor: str, lines: bool, progress: Any) -> list[Outcome]:
        outcomes: list[Outcome] = []
        receipt = now_us() if received_at is None else received_at
        chunk: list[tuple[int | None, Any]] = []
        for n, raw in enumerate(raws, start=1):
            if lines:
                if not str(raw).strip():
                    continue
                chunk.append((n, raw))
            else:
                chunk.append((None, raw))
            if len(chunk) >= self.chunk_size:
                outcomes += ingest_chunk(self, plan, chunk, receipt, backfill, actor, lines)
                if progress is not None:
                    progress(len(outcomes))
                chunk = []
        if chunk:
            outcomes += ingest_chunk(self, plan, chunk, receipt, backfill, actor, lines)
            if progress is not None:
                progress(len(outcomes))
        return outcomes

    # --- the evidence outbox (store/outbox.py) ---

    def evidence_position(self, mission: str, indicators: Iterable[str], received_by: int | None = None) -> int:
        """How far the store has got with these indicators (of records received by
        `received_by`, if given): an evaluation that read less is behind, and an approval on it
        is refused."""
        with self.read() as conn:
            return outbox.position(conn, mission, indicators, received_by)

    def pending_changes(self, mission: str | None = None, limit: int = 1000) -> list[outbox.EvidenceChange]:
        with self.read() as conn:
            return outbox.pending(conn, mission, limit)

    def changes_delivered(self, ids: Iterable[int]) -> None:
        with self.session() as session:
            outbox.mark_delivered(session, ids, now_us())

    def keep_evidence_warm(self, budget_records: int) -> WarmIndexes:
        """From now on, gate reads (evidence_index with horizons) come from warm per-mission
        indexes (store/warm.py) holding up to `budget_records` records in all; for long-lived
        processes, as the worker."""
        self.warm = WarmIndexes(self, budget_records)
        return self.warm

    def evidence_index(self, mission: str, as_of: int | None = None,
                       indicators: Iterable[str] | None = None,
                       horizons: Mapping[str, int | None] | None = None) -> EvidenceIndex:
        """The records known at `as_of` (all, if None), ready for rules.evaluate; with
        `horizons`, for one gate's evaluation (see cold_evidence_index), from a warm index if
        the store keeps them."""
        if self.warm is not None and horizons is not None and indicators is not None and as_of is not None:
            return self.warm.index(mission, as_of, indicators, horizons)
        return self.cold_evidence_index(mission, as_of, indicators, horizons)

    def cold_evidence_index(self, mission: str, as_of: int | None = None,
                            indicators: Iterable[str] | None = None,
                            horizons: Mapping[str, int | None] | None = None) -> EvidenceIndex:
        """The records known at `as_of` (all, if None), read from the database.

        With `horizons` (rules.plan.LoadedPlan.gate_horizons) only what one gate can see is
        read: per indicator, the points inside its longest window plus every correction (a
        correction observed earlier can still supersede a point inside). An indicator whose
        window then holds no counting point is read whole, so staleness reasons ("newest point
        ... is older than") and digests stay exactly those of a full read.
        """
        if horizons is None or as_of is None:
            return EvidenceIndex(self._records(mission, as_of, indicators, {}))
        bounded = {i: as_of - h for i, h in horizons.items() if h is not None}
        records = self._records(mission, as_of, list(horizons), bounded)
        index = EvidenceIndex(records)
        refetch = []
        for ind, low in bounded.items():
            view = index.view(ind, as_of)
            if view is None or not len(view.obs) or int(view.obs[-1]) <= low:
                refetch.append(ind)
        if refetch:
            records = [r for r in records if r.indicator not in refetch]
            records += self._records(mission, as_of, refetch, {})
            index = EvidenceIndex(records)
        return index

    def _records(self, mission: str, as_of: int | None, indicators: Iterable[str] | None,
                 lower: Mapping[str, int]) -> list[Record]:
        t = EvidenceRow.__table__.c  # type: ignore[attr-defined]
        q = self._select_records(mission)
        if as_of is not None:
            q = q.where(t.known_at <= as_of)
        if indicators is not None:
            wanted = list(indicators)
            whole = [i for i in wanted if i not in lower]
            clauses = [t.indicator.in_(whole)] if whole else []
            clauses += [and_(t.indicator == i, or_(t.observed_at > low, t.supersedes.is_not(None)))
                        for i, low in lower.items()]
            q = q.where(or_(*clauses)) if clauses else q.where(false())
        with self.read() as conn:
            return self._rows_to_records(conn, q, mission)

    def records_in(self, conn: Connection, mission: str) -> list[Record]:
        """Every record of a mission, on the caller's connection (a snapshot, for warm indexes)."""
        return self._rows_to_records(conn, self._select_records(mission), mission)

    @staticmethod
    def _select_records(mission: str) -> Any:
        t = EvidenceRow.__table__.c  # type: ignore[attr-defined]
        return select(t.id, t.indicator, t.value, t.observed_at, t.reported_at, t.known_at, t.source,
                      t.supersedes).where(t.mission == mission)

    @staticmethod
    def _rows_to_records(conn: Connection, q: Any, mission: str) -> list[Record]:
        return Store.rows_to_records(conn.execute(q), mission)

    @staticmethod
    def rows_to_records(rows: Iterable[Any], mission: str) -> list[Record]:
        """Records of rows shaped as _select_records selects them."""
        loads = json.loads
        return [Record(r[0], mission, r[1], loads(r[2]), r[3], r[4], r[5], r[6], r[7]) for r in rows]

    def records_by_id(self, mission: str, ids: Iterable[str]) -> dict[str, Record]:
        """Stored records of a mission by id (ids not stored are left out)."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        with self.read() as conn:
            return self.records_by_id_in(conn, mission, wanted)

    def records_by_id_in(self, conn: Connection, mission: str, ids: list[str]) -> dict[str, Record]:
        """records_by_id on the caller's connection."""
        t = EvidenceRow.__table__.c  # type: ignore[attr-defined]
        out: dict[str, Record] = {}
        for i in range(0, len(ids), 500):  # bounded IN lists keep index scans
            q = self._select_records(mission).where(t.id.in_(ids[i:i + 500]))
            out.update((r.id, r) for r in self._rows_to_records(conn, q, mission))
        return out

    def evidence_count(self, mission: str | None = None) -> int:
        q = "SELECT count(*) FROM evidence" + (" WHERE mission = :m" if mission else "")
        with self.read() as conn:
            return int(conn.execute(text(q), {"m": mission}).scalar_one())

    # --- audit log --------------------------------------------------------------------------

    def audit_append(self, kind: str, payload: dict[str, Any], actor: str | None = None,
                     session: Session | None = None, *, key: str | None = None) -> AuditEntry:
        """Append one entry. `key`: the caller's idempotency key; an append with a key already
        stored returns the first entry instead (a retried activity appends once). The key is kept
        beside the entry, not in its hashed body: it is how the entry was delivered, not what it
        says. Entries appended before it was an argument carry it in their payload (still hashed
        as written, so they verify unchanged) and in the same column (so their retries are
        dropped too)."""
        if session is None:
            with self.session() as s:
                return self.audit_append(kind, payload, actor, s, key=key)
        head = self._lock_head(session)
        if key is not None:
            # Under the head lock, so two retries of one activity cannot both append.
            done = session.scalars(select(AuditRow).where(col(AuditRow.idem_key) == key)).first()
            if done is not None:
                return AuditEntry(done.seq, done.at, done.kind, done.actor, json.loads(done.payload),
                                  done.prev_hash, done.hash)
        seq, prev = head.seq + 1, head.hash
        at = now_us()
        digest = entry_hash(seq, at, kind, actor, payload, prev)
        session.add(AuditRow(seq=seq, at=at, kind=kind, actor=actor, payload=payload_text(payload),
                             prev_hash=prev, hash=digest, idem_key=key))
        head.seq, head.hash = seq, digest
        session.add(head)
        session.flush()
        return AuditEntry(seq, at, kind, actor, json.loads(payload_text(payload)), prev, digest)

    def _lock_head(self, session: Session) -> AuditHeadRow:
        q = select(AuditHeadRow).where(col(AuditHeadRow.id) == 1)
        if self.dialect == "postgresql":
            q = q.with_for_update()
        head = session.scalars(q).first()
        if head is None:
            # First entry ever: create the head; a racing creator makes one of us retry.
            if self.dialect == "postgresql":
                session.execute(text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :g) "
                                     "ON CONFLICT (id) DO NOTHING"), {"g": GENESIS})
            else:
                session.execute(text("INSERT OR IGNORE INTO audit_head (id, seq, hash) VALUES (1, 0, :g)"),
                                {"g": GENESIS})
            head = session.scalars(q).first()
        assert head is not None
        return head

    def _audit_rows(self, conn: Connection) -> Iterator[tuple[int, int, str, str | None, str, str, str]]:
        for r in conn.execute(text("SELECT seq, at, kind, actor, payload, prev_hash, hash FROM audit_log ORDER BY seq")):
            yield (r[0], r[1], r[2], r[3], r[4], r[5], r[6])

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        # Head and rows from one snapshot: an append landing between two reads must not look
        # like tampering.
        with self.read() as conn:
            if self.dialect == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def audit_verify(self) -> VerifyResult:
        with self.snapshot() as conn:
            head = conn.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).first()
            return verify_rows(self._audit_rows(conn), (head[0], head[1]) if head else None)

    def audit_entries(self) -> list[AuditEntry]:
        with self.snapshot() as conn:
            return [AuditEntry(s, a, k, ac, json.loads(p), pv, h) for s, a, k, ac, p, pv, h in self._audit_rows(conn)]

    def audit_export(self, fp: IO[str]) -> int:
        n = 0
        with self.snapshot() as conn:
            rows = list(self._audit_rows(conn))
        for seq, at, kind, actor, payload, prev, digest in rows:
            fp.write(json.dumps({"seq": seq, "at": at, "kind": kind, "actor": actor,
                                 "payload": json.loads(payload), "prev_hash": prev, "hash": digest},
                                ensure_ascii=False) + "\n")
            n += 1
        return n

    # --- notifications ----------------------------------------------------------------------

    def notify(self, kind: str, mission: str, phase: str | None, gate: str | None, message: str,
               payload: dict[str, Any] | None = None, key: str | None = None) -> StoredNotification:
        """Store a notification; with a key, at most once (a retried activity gets the first one)."""
        if key is not None and (found := self.notification(key)) is not None:
            return found
        row = NotificationRow(at=now_us(), kind=kind, mission=mission, phase=phase, gate=gate,
                              message=message, payload=payload_text(payload or {}), idem_key=key)
        try:
            with Session(self.engine, expire_on_commit=False) as s, s.begin():
                s.add(row)
                s.flush()
                stored = StoredNotification.from_row(row)
        except IntegrityError:
            found = self.notification(key) if key is not None else None
            if found is None:
                raise
            return found  # a concurrent attempt stored it first
        return stored

    def notification(self, key: str) -> StoredNotification | None:
        with Session(self.engine) as s:
            row = s.scalars(select(NotificationRow).where(col(NotificationRow.idem_key) == key)).first()
            return None if row is None else StoredNotification.from_row(row)

    def notification_delivered(self, key: str, error: str | None) -> None:
        """The webhook's answer: delivered now, or the error that kept it from being delivered."""
        with self.session() as s:
            row = s.scalars(select(NotificationRow).where(col(NotificationRow.idem_key) == key)).first()
            if row is None:
                raise LookupError(f"no notification with key {key!r}")
            if error is None:
                row.delivered_at, row.delivery_error = now_us(), None
            elif row.delivered_at is None:  # a late failure never hides an earlier delivery
                row.delivery_error = error
            s.add(row)

    def notifications(self, mission: str | None = None, undelivered: bool = False) -> list[StoredNotification]:
        """Oldest first; `undelivered`: those a webhook has not taken (keyed ones only)."""
        with self.read() as conn:
            q = select(NotificationRow).order_by(NotificationRow.id)  # type: ignore[arg-type]
            if mission is not None:
                q = q.where(col(NotificationRow.mission) == mission)
            if undelivered:
                q = q.where(col(NotificationRow.delivered_at).is_(None), col(NotificationRow.idem_key).is_not(None))
            with Session(conn) as s:
                return [StoredNotification.from_row(r) for r in s.scalars(q).all()]
