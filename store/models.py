"""What the store hands out instead of its table rows: plain pydantic models, detached from any
session, so callers (CLI, API) never depend on the tables' shape or on SQLModel."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict

from .tables import NotificationRow


class StoredNotification(BaseModel):
    """A reminder or escalation as stored, with the webhook's outcome. Times in microseconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int
    at: int
    kind: str
    mission: str
    phase: str | None
    gate: str | None
    message: str
    payload: dict[str, Any]
    # The notify activity's idempotency key (workflow, run, activity id); rows stored before
    # keys existed have none and are never resent.
    key: str | None
    delivered_at: int | None
    delivery_error: str | None

    @classmethod
    def from_row(cls, row: NotificationRow) -> StoredNotification:
        assert row.id is not None  # read back from the database
        return cls(id=row.id, at=row.at, kind=row.kind, mission=row.mission, phase=row.phase, gate=row.gate,
                   message=row.message, payload=json.loads(row.payload), key=row.idem_key,
                   delivered_at=row.delivered_at, delivery_error=row.delivery_error)
