"""The evidence outbox (table evidence_changes): what was stored, for whom to tell, and the
store's position per indicator. See store.tables.EvidenceChangeRow for why it exists."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, insert, select, update

from .tables import EvidenceChangeRow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlmodel import Session

__all__ = ["EvidenceChange", "add_changes", "mark_delivered", "pending", "position"]

_T = EvidenceChangeRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class EvidenceChange:
    id: int
    mission: str
    indicator: str


def add_changes(session: Session, mission: str, indicators: Iterable[str], at: int) -> None:
    """In the transaction that stored the records."""
    rows = [{"mission": mission, "indicator": i, "stored_at": at} for i in sorted(set(indicators))]
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


def pending(conn: Connection | Session, mission: str | None = None, limit: int = 1000) -> list[EvidenceChange]:
    q = select(_T.c.id, _T.c.mission, _T.c.indicator).where(_T.c.delivered_at.is_(None))
    if mission is not None:
        q = q.where(_T.c.mission == mission)
    return [EvidenceChange(r.id, r.mission, r.indicator) for r in conn.execute(q.order_by(_T.c.id).limit(limit))]


def mark_delivered(session: Session, ids: Iterable[int], at: int) -> None:
    ids = list(ids)
    for i in range(0, len(ids), 500):
        session.execute(update(_T).where(_T.c.id.in_(ids[i:i + 500])).values(delivered_at=at))
