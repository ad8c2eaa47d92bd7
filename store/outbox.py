"""The evidence outbox (table evidence_changes): what was stored, for whom to tell, and the
store's position per indicator. See store.tables.EvidenceChangeRow for why it exists."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, insert, select, update

from .tables import EvidenceChangeRow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlmodel import Session

__all__ = ["EvidenceChange", "add_changes", "latest", "mark_delivered", "pending", "position", "since"]

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


def since(conn: Connection | Session, mission: str, after: int) -> tuple[int, list[str] | None]:
    """The mission's changes after `after`: the highest id among them (`after` if none) and the
    ids of the records they stored; None if one of them predates record_ids (migration 0008).

    Ids follow commit order (store/ingest.py), so once a change is visible every lower one is:
    reading "after P" again later can miss nothing."""
    rows = conn.execute(select(_T.c.id, _T.c.record_ids).where(_T.c.mission == mission, _T.c.id > after)
                        .order_by(_T.c.id)).all()
    if not rows:
        return after, []
    ids: list[str] = []
    for r in rows:
        if r.record_ids is None:
            return int(rows[-1].id), None
        ids.extend(json.loads(r.record_ids))
    return int(rows[-1].id), ids


def pending(conn: Connection | Session, mission: str | None = None, limit: int = 1000) -> list[EvidenceChange]:
    q = select(_T.c.id, _T.c.mission, _T.c.indicator).where(_T.c.delivered_at.is_(None))
    if mission is not None:
        q = q.where(_T.c.mission == mission)
    return [EvidenceChange(r.id, r.mission, r.indicator) for r in conn.execute(q.order_by(_T.c.id).limit(limit))]


def mark_delivered(session: Session, ids: Iterable[int], at: int) -> None:
    ids = list(ids)
    for i in range(0, len(ids), 500):
        session.execute(update(_T).where(_T.c.id.in_(ids[i:i + 500])).values(delivered_at=at))
