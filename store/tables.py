"""The store's tables. Evidence and the audit log are append-only: nothing here is ever updated
or deleted by the application (a superseded record stays, for audit), and the database refuses
it too (triggers of migration 0002)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Text
from sqlmodel import Field, SQLModel


class PlanRow(SQLModel, table=True):
    __tablename__ = "plans"

    sha256: str = Field(primary_key=True, max_length=64)
    plan_id: str = Field(index=True, max_length=64)
    version: str | None = None
    # The document as written (1.0 stays 1.0); its sha256 is over the canonical form.
    document: str = Field(sa_column=Column(Text, nullable=False))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class MissionRow(SQLModel, table=True):
    __tablename__ = "missions"

    id: str = Field(primary_key=True, max_length=64)
    plan_sha256: str = Field(foreign_key="plans.sha256", max_length=64)
    started_by: str
    started_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class EvidenceRow(SQLModel, table=True):
    __tablename__ = "evidence"
    __table_args__ = (
        Index("ix_evidence_series", "mission", "indicator", "observed_at"),
        Index("ix_evidence_known", "mission", "known_at"),
    )

    id: str = Field(primary_key=True, max_length=128)
    mission: str = Field(max_length=64)
    indicator: str = Field(max_length=64)
    # The value as JSON text, so 7, 7.0, true and null come back exactly as sent.
    value: str = Field(sa_column=Column(Text, nullable=False))
    observed_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    reported_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    received_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    known_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    source: str
    # Unique: a record is corrected at most once, even by two importers racing.
    supersedes: str | None = Field(default=None, unique=True, max_length=128)
    provenance: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    backfill: bool = False


class AuditRow(SQLModel, table=True):
    __tablename__ = "audit_log"

    seq: int = Field(primary_key=True)
    at: int = Field(sa_column=Column(BigInteger, nullable=False))
    kind: str = Field(index=True)
    actor: str | None = None
    payload: str = Field(sa_column=Column(Text, nullable=False))  # canonical JSON
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)
    # The caller's idempotency key (`audit_append(key=...)`), outside the hashed body: a retried
    # activity appends once. Rows from before it was an argument also have it in their payload.
    idem_key: str | None = Field(default=None, unique=True, max_length=200)


class AuditHeadRow(SQLModel, table=True):
    """One row: the chain's last seq and hash. Appends lock it, so concurrent writers form one
    chain; verification compares it, so deleting the newest entries is detected too."""

    __tablename__ = "audit_head"

    id: int = Field(primary_key=True)
    seq: int = 0
    hash: str = Field(default="0" * 64, max_length=64)


class NotificationRow(SQLModel, table=True):
    __tablename__ = "notifications"

    id: int | None = Field(default=None, primary_key=True)
    at: int = Field(sa_column=Column(BigInteger, nullable=False))
    kind: str
    mission: str
    phase: str | None = None
    gate: str | None = None
    message: str
    payload: str = Field(sa_column=Column(Text, nullable=False))
    idem_key: str | None = Field(default=None, unique=True, max_length=200)
    delivered_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    delivery_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class ApiKeyRow(SQLModel, table=True):
    """An API key: only its sha256 is kept. Shared by every API process of a deployment, so a key
    made (or revoked) anywhere works (or stops) everywhere at the next request."""

    __tablename__ = "api_keys"

    key_id: str = Field(primary_key=True, max_length=32)
    hash: str = Field(max_length=64)
    identity: str = Field(sa_column=Column(Text, nullable=False))  # JSON: kind, name, roles, ...
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    revoked_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class EvidenceChangeRow(SQLModel, table=True):
    """The evidence outbox: one row per ingest transaction and indicator that stored records,
    written in the same transaction as the records, so no stored record can go untold.

    The relay (runtime/relay.py) signals the running phases that use the indicator and sets
    `delivered_at`. The id is also the store's position: an evaluation records the highest id
    of its gate's indicators it saw, and an approval on an evaluation older than evidence
    already stored is refused. `record_ids` (a JSON list; none on changes older than
    migration 0008) lets a warm evidence index (store/warm.py) read just the records it lacks."""

    __tablename__ = "evidence_changes"
    __table_args__ = (
        Index("ix_evidence_changes_position", "mission", "indicator", "id"),
        Index("ix_evidence_changes_pending", "delivered_at", "id"),
        Index("ix_evidence_changes_mission", "mission", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    mission: str = Field(max_length=64)
    indicator: str = Field(max_length=64)
    stored_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    delivered_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    record_ids: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class UiSessionRow(SQLModel, table=True):
    """A sign-in to the approver page. The cookie carries the session id; only its sha256 is kept,
    and signing out sets ended_at, so a copied cookie stops working everywhere at once. A sign-in
    with a personal API key names the key; one through the identity provider names the person,
    with the provider's ID token to hint at sign-out (end_hint)."""

    __tablename__ = "ui_sessions"

    id_hash: str = Field(primary_key=True, max_length=64)
    key_id: str | None = Field(default=None, max_length=32)
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    ends_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    ended_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    person: str | None = Field(default=None, max_length=64)
    end_hint: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class RoleAssignmentRow(SQLModel, table=True):
    """An assignment of the role register (CONTRACT section 5). Never deleted: ending one sets
    `until_us` (the database refuses a delete, migration 0007)."""

    __tablename__ = "role_assignments"
    __table_args__ = (Index("ix_role_assignments_mission", "mission", "seq"),)

    seq: int | None = Field(default=None, primary_key=True)
    mission: str = Field(max_length=64)
    person: str = Field(max_length=64)
    role: str = Field(max_length=64)
    from_us: int = Field(sa_column=Column(BigInteger, nullable=False))
    until_us: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    granted_by: str
    granted_by_role: str | None = None  # None: an operator with store access
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class RoleDelegationRow(SQLModel, table=True):
    __tablename__ = "role_delegations"
    __table_args__ = (Index("ix_role_delegations_mission", "mission", "seq"),)

    seq: int | None = Field(default=None, primary_key=True)
    mission: str = Field(max_length=64)
    delegator: str = Field(max_length=64)
    role: str = Field(max_length=64)
    delegate: str = Field(max_length=64)
    from_us: int = Field(sa_column=Column(BigInteger, nullable=False))
    until_us: int = Field(sa_column=Column(BigInteger, nullable=False))
    gates: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # JSON list; None: all
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    made_by: str
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class RoleRegisterRow(SQLModel, table=True):
    """One row per mission: its register's version, raised by every change (and locked by it,
    so two changes to one mission's register are serialised)."""

    __tablename__ = "role_registers"

    mission: str = Field(primary_key=True, max_length=64)
    version: int = 0
