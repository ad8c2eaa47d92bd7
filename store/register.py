"""The role register's rows (store.tables: role_assignments, role_delegations, role_registers)
as a `schemas.register.Register`, and a change applied with its audit entries in one
transaction, under a lock on the mission's version row: a change is decided on the register as
it is when it is written, and versions rise one by one."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import or_, select, text
from sqlmodel import Session, col

from schemas.register import Assignment, Delegation, Register, RegisterChange

from .tables import RoleAssignmentRow, RoleDelegationRow, RoleRegisterRow

if TYPE_CHECKING:
    from .core import Store

__all__ = ["apply_change", "assignments_at", "read_register"]


def _assignment(r: RoleAssignmentRow) -> Assignment:
    return Assignment(seq=r.seq or 0, person=r.person, role=r.role, from_us=r.from_us, until_us=r.until_us,
                      granted_by=r.granted_by, granted_by_role=r.granted_by_role, reason=r.reason)


def _delegation(r: RoleDelegationRow) -> Delegation:
    return Delegation(seq=r.seq or 0, delegator=r.delegator, role=r.role, delegate=r.delegate, from_us=r.from_us,
                      until_us=r.until_us, gates=json.loads(r.gates) if r.gates is not None else None,
                      reason=r.reason, made_by=r.made_by)


def read_register(session: Session, mission: str) -> Register:
    version = session.get(RoleRegisterRow, mission)
    assignments = session.scalars(select(RoleAssignmentRow).where(col(RoleAssignmentRow.mission) == mission)
                                  .order_by(col(RoleAssignmentRow.seq))).all()
    delegations = session.scalars(select(RoleDelegationRow).where(col(RoleDelegationRow.mission) == mission)
                                  .order_by(col(RoleDelegationRow.seq))).all()
    return Register(mission=mission, version=version.version if version is not None else 0,
                    assignments=[_assignment(r) for r in assignments],
                    delegations=[_delegation(r) for r in delegations])


def assignments_at(session: Session, mission: str, at: int) -> list[Assignment]:
    """Who held what at `at` (`from <= at < until`), in the order granted."""
    c = RoleAssignmentRow
    rows = session.scalars(select(c).where(col(c.mission) == mission, col(c.from_us) <= at,
                                           or_(col(c.until_us).is_(None), col(c.until_us) > at))
                           .order_by(col(c.seq))).all()
    return [_assignment(r) for r in rows]


def _lock_version(store: Store, session: Session, mission: str) -> RoleRegisterRow:
    if store.dialect == "postgresql":
        session.execute(text("INSERT INTO role_registers (mission, version) VALUES (:m, 0) "
                             "ON CONFLICT (mission) DO NOTHING"), {"m": mission})
        q = select(RoleRegisterRow).where(col(RoleRegisterRow.mission) == mission).with_for_update()
    else:  # SQLite: every write transaction begins IMMEDIATE, so writers are serialised already
        session.execute(text("INSERT OR IGNORE INTO role_registers (mission, version) VALUES (:m, 0)"), {"m": mission})
        q = select(RoleRegisterRow).where(col(RoleRegisterRow.mission) == mission)
    row = session.scalars(q).one()
    session.refresh(row)
    return row


def apply_change(store: Store, session: Session, mission: str,
                 decide: Callable[[Register], RegisterChange], now: int) -> Register:
    """Decide on the register as stored (`decide` raises to refuse: nothing is written), then
    write the change, its audit entries and the next version."""
    head = _lock_version(store, session, mission)
    change = decide(read_register(session, mission))
    for a in change.add_assignments:
        session.add(RoleAssignmentRow(mission=mission, person=a.person, role=a.role, from_us=a.from_us,
                                      until_us=a.until_us, granted_by=a.granted_by,
                                      granted_by_role=a.granted_by_role, reason=a.reason, created_at=now))
    for seq in change.end_assignments:
        row = session.get(RoleAssignmentRow, seq)
        assert row is not None and row.mission == mission
        row.until_us = change.at_us if row.until_us is None else min(row.until_us, change.at_us)
        session.add(row)
    d = change.add_delegation
    if d is not None:
        session.add(RoleDelegationRow(mission=mission, delegator=d.delegator, role=d.role, delegate=d.delegate,
                                      from_us=d.from_us, until_us=d.until_us,
                                      gates=json.dumps(d.gates) if d.gates is not None else None,
                                      reason=d.reason, made_by=d.made_by, created_at=now))
    if change.end_delegation is not None:
        drow = session.get(RoleDelegationRow, change.end_delegation)
        assert drow is not None and drow.mission == mission
        # One not begun yet ends empty ([from, from)): it never covers anything.
        drow.until_us = max(drow.from_us, min(drow.until_us, change.at_us))
        session.add(drow)
    head.version += 1
    session.add(head)
    session.flush()
    for note in change.audit:
        store.audit_append(note.kind, {**note.payload, "register_version": head.version}, note.actor, session=session)
    return read_register(session, mission)
