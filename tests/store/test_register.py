"""The role register in the store (SQLite and PostgreSQL): changes decided by lifecycle.authority
on the register as stored, written with their audit entries and a rising version in one
transaction; nothing written on a refusal; never deleted; who held what at an instant."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from lifecycle import Refusal
from lifecycle import authority as au
from schemas.register import Register
from store import Store, now_us

COORD, ROLES = ["coordinator"], ["coordinator", "head", "deputy"]


def grant(store: Store, person: str, role: str, by: str = "root", by_role: str | None = None,
          until: int | None = None) -> Register:
    return store.role_register_change("m1", lambda reg: au.grant(
        reg, COORD, ROLES, by=by, by_role=by_role, person=person, role=role, until_us=until, now=now_us()))


def test_changes_are_written_with_their_audit_entries_and_a_rising_version(store: Store) -> None:
    assert store.role_register("m1") == Register(mission="m1")
    reg = grant(store, "cora", "coordinator")
    assert reg.version == 1 and [(a.seq, a.person, a.granted_by_role) for a in reg.assignments] == [(1, "cora", None)]
    reg = grant(store, "ana", "head", by="cora", by_role="coordinator")
    reg = store.role_register_change("m1", lambda r: au.delegate(
        r, ["g1"], by="ana", role="head", to="dana", until_us=now_us() + 10**9, gates=["g1"], now=now_us()))
    assert reg.version == 3 and reg.delegations[0].gates == ["g1"] and reg.delegations[0].delegate == "dana"
    t = now_us()
    reg = store.role_register_change("m1", lambda r: au.end_role(
        r, COORD, by="cora", by_role="coordinator", person="ana", role="head", now=t))
    assert reg.version == 4 and reg.assignments[1].until_us == t
    assert [a.person for a in store.role_holders("m1", t - 1)] == ["cora", "ana"]
    assert [a.person for a in store.role_holders("m1", t)] == ["cora"]
    reg = store.role_register_change("m1", lambda r: au.end_delegation(r, COORD, by="ana", by_role=None, seq=1,
                                                                       now=now_us()))
    assert reg.version == 5 and reg.delegations[0].until_us <= now_us()
    entries = [(e.kind, e.actor, e.payload.get("register_version")) for e in store.audit_entries()]
    assert entries == [("role_granted", "root", 1), ("role_granted", "cora", 2), ("delegation_made", "ana", 3),
                       ("role_ended", "cora", 4), ("delegation_ended", "ana", 5)]
    first = store.audit_entries()[0].payload
    assert first["operator"] is True and first["by_role"] is None
    assert store.audit_verify().ok
    assert store.role_register("m2").version == 0  # per mission


def test_a_refused_change_writes_nothing(store: Store) -> None:
    grant(store, "cora", "coordinator")
    with pytest.raises(Refusal):
        grant(store, "x", "head", by="ana", by_role="coordinator")
    reg = store.role_register("m1")
    assert reg.version == 1 and len(reg.assignments) == 1 and len(store.audit_entries()) == 1


def test_rows_are_never_deleted(store: Store) -> None:
    grant(store, "cora", "coordinator")
    with pytest.raises(Exception, match=r"DELETE refused|append-only"), store.engine.begin() as conn:
        conn.execute(text("DELETE FROM role_assignments"))
    assert len(store.role_register("m1").assignments) == 1


def test_concurrent_changes_get_distinct_versions(store: Store) -> None:
    grant(store, "cora", "coordinator")
    errors: list[BaseException] = []

    def one(n: int) -> None:
        try:
            grant(store, f"p{n}", "head", by="cora", by_role="coordinator")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    reg = store.role_register("m1")
    assert reg.version == 7 and len(reg.assignments) == 7
    versions = sorted(e.payload["register_version"] for e in store.audit_entries())
    assert versions == list(range(1, 8))
