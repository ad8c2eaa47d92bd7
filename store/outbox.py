"""The evidence outbox (table evidence_changes): what was stored, for whom to tell, and the
store's position per indicator. See store.tables.EvidenceChangeRow for why it exists."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select, text, update

from .tables import EvidenceChangeRow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlmodel import Session

__all__ = ["EvidenceChange", "add_changes", "latest", "mark_delivered", "pending", "position", "since_with_records"]

_T = EvidenceChangeRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class EvidenceChange:
    id: int
    mission: str
    indicator: str


def add_changes(session: Session, mission: str, stored: Iterable[tuple[str, str]], at: int) -> None:
    """In the transaction that stored the records: one change per indicator, naming the ids of
    the records (`stored`: (indicator, record id) pairs) it stored."""
    by_indicator: dict[str, list[str]] = {}
    for indicator, rid in stored:
        by_indicator.setdefault(indicator, []).append(rid)
    rows = [{"mission": mission, "indicator": i, "stored_at": at, "record_ids": json.dumps(by_indicator[i])}
            for i in sorted(by_indicator)]
    if rows:
        session.execute(insert(_T), rows)


def position(conn: Connection | Session, mission: str, indicators: Iterable[str],
             received_by: int | None = None) -> int:
    """The highest change id among these indicators of the mission (0: none stored yet); with
    `received_by`, only changes of records received by then (an evaluation as of T knows no
    live record received after T, even one committed before it read the store)."""
    q = select(func.max(_T.c.id)).where(_T.c.mission == mission, _T.c.indicator.in_(sorted(set(indicators))))
    if received_by is not None:
        q = q.where(_T.c.stored_at <= received_by)
    return int(conn.execute(q).scalar() or 0)


def latest(conn: Connection | Session, mission: str) -> int:
    """The mission's highest change id (0: none)."""
    return int(conn.execute(select(func.max(_T.c.id)).where(_T.c.mission == mission)).scalar() or 0)


# The changes after a position joined to the records they name, in one statement: one round
# trip, and the changes and their records from one snapshot (a record is committed with its
# change). A change older than record_ids comes as one row with a null record.
_SINCE_WITH_RECORDS = {
    "postgresql": "LEFT JOIN LATERAL json_array_elements_text(c.record_ids::json) AS r(rid) ON true "
                  "LEFT JOIN evidence e ON e.id = r.rid AND e.mission = c.mission",
    "sqlite": "LEFT JOIN json_each(c.record_ids) AS r LEFT JOIN evidence e ON e.id = r.value AND e.mission = c.mission",
}


def since_with_records(conn: Connection, mission: str, after: int,
                       limit: int) -> tuple[int, list[tuple[Any, ...]] | None]:
    """The mission's changes after `after`: the highest id among them (`after` if none) and the
    rows of the records they stored (id, indicator, value, observed_at, reported_at, known_at,
    source, supersedes); None instead when one of them predates record_ids (migration 0008)
    or they stored more than `limit` records (read the mission whole).

    Ids follow commit order (store/ingest.py), so once a change is visible every lower one is:
    reading "after P" again later can miss nothing."""
    q = text("SELECT c.id, c.record_ids IS NULL, e.id, e.indicator, e.value, e.observed_at, e.reported_at, "
             "e.known_at, e.source, e.supersedes FROM evidence_changes c "
             f"{_SINCE_WITH_RECORDS[conn.dialect.name]} WHERE c.mission = :m AND c.id > :after "
             "ORDER BY c.id LIMIT :n")
    rows = conn.execute(q, {"m": mission, "after": after, "n": limit + 1}).all()
    if not rows:
        return after, []
    if len(rows) > limit or any(r[1] for r in rows):
        return int(rows[-1][0]), None
    return int(rows[-1][0]), [tuple(r[2:]) for r in rows if r[2] is not None]


def pending(conn: Connection | Session, mission: str | None = None, limit: int = 1000) -> list[EvidenceChange]:
    q = select(_T.c.id, _T.c.mission, _T.c.indicator).where(_T.c.delivered_at.is_(None))
    if mission is not None:
        q = q.where(_T.c.mission == mission)
    return [EvidenceChange(r.id, r.mission, r.indicator) for r in conn.execute(q.order_by(_T.c.id).limit(limit))]


def mark_delivered(session: Session, ids: Iterable[int], at: int) -> None:
    ids = list(ids)
    for i in range(0, len(ids), 500):
        session.execute(update(_T).where(_T.c.id.in_(ids[i:i + 500])).values(delivered_at=at))
