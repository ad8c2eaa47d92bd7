"""Editing, deleting or reordering any audit row is caught by `audit verify`; an export can be
checked without exitgate by the short script in the README."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from rules.plan import LoadedPlan
from store import Store


def _fill(store: Store, n: int = 6) -> None:
    for i in range(n):
        store.audit_append("gate.transition", {"gate": "g1", "to": f"state-{i}", "n": i / 3}, "wf")


def _exec(store: Store, sql: str, **params: object) -> None:
    """Tamper as someone with admin rights would: first switch off the append-only triggers
    (migration 0002), which the database otherwise enforces."""
    with store.engine.begin() as conn:
        _disable_guards(conn, store)
        conn.execute(text(sql), params)


def _disable_guards(conn: Connection, store: Store) -> None:
    if store.dialect == "postgresql":
        conn.execute(text("SET LOCAL session_replication_role = replica"))
    else:
        for t in ("evidence", "audit_log"):
            for what in ("update", "delete"):
                conn.execute(text(f"DROP TRIGGER IF EXISTS {t}_no_{what}"))
        conn.execute(text("DROP TRIGGER IF EXISTS audit_head_no_delete"))


@pytest.mark.parametrize("sql", [
    "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2",
    "DELETE FROM audit_log WHERE seq = 6",
    "UPDATE evidence SET value = '0'",
    "DELETE FROM evidence",
    "DELETE FROM audit_head",
])
def test_the_database_refuses_updates_and_deletes(store: Store, sample_plan: LoadedPlan, sql: str) -> None:
    plan = sample_plan
    _fill(store)
    store.register_mission(plan, "test")
    store.ingest(plan, [{"id": "r1", "mission": "valdoria", "indicator": "sec.security_incidents",
                         "value": 1, "observed_at": "2025-01-01T00:00:00Z", "source": "sage"}], actor="t")
    with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
        conn.execute(text(sql))
    assert store.audit_verify().ok and store.evidence_count() == 1
    assert store.audit_verify().entries == 7  # the six entries and the import's


def test_intact_chain_verifies(store: Store) -> None:
    _fill(store)
    assert store.audit_verify().ok and store.audit_verify().entries == 6


def test_edited_payload_is_detected(store: Store) -> None:
    _fill(store)
    _exec(store, "UPDATE audit_log SET payload = :p WHERE seq = 3", p='{"gate":"g1","n":1,"to":"approved"}')
    r = store.audit_verify()
    assert not r.ok and r.first_bad == 3 and "hash" in (r.reason or "")


def test_edited_actor_is_detected(store: Store) -> None:
    _fill(store)
    _exec(store, "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 5")
    r = store.audit_verify()
    assert not r.ok and r.first_bad == 5


def test_deleted_middle_row_is_detected(store: Store) -> None:
    _fill(store)
    _exec(store, "DELETE FROM audit_log WHERE seq = 2")
    r = store.audit_verify()
    assert not r.ok and r.first_bad == 2


def test_deleted_newest_row_is_detected(store: Store) -> None:
    _fill(store)
    _exec(store, "DELETE FROM audit_log WHERE seq = 6")
    r = store.audit_verify()
    assert not r.ok and r.first_bad == 6


def test_deleted_newest_rows_and_head_are_detected(store: Store) -> None:
    _fill(store)
    _exec(store, "DELETE FROM audit_log WHERE seq >= 5")
    _exec(store, "DELETE FROM audit_head")
    r = store.audit_verify()
    assert not r.ok and "head is missing" in (r.reason or "")


def test_a_forger_recomputing_one_hash_is_detected_at_the_next_entry(store: Store) -> None:
    from store.audit import entry_hash, payload_text

    _fill(store)
    forged = {"gate": "g1", "n": 0.5, "to": "approved"}
    with store.engine.begin() as conn:
        seq, at, kind, actor, prev = conn.execute(text(
            "SELECT seq, at, kind, actor, prev_hash FROM audit_log WHERE seq = 3")).one()
        _disable_guards(conn, store)
        conn.execute(text("UPDATE audit_log SET payload = :p, hash = :h WHERE seq = 3"),
                     {"p": payload_text(forged), "h": entry_hash(seq, at, kind, actor, forged, prev)})
    r = store.audit_verify()
    assert not r.ok and r.first_bad == 4 and "prev_hash" in (r.reason or "")


def test_reordered_rows_are_detected(store: Store) -> None:
    _fill(store)
    # Swap the content of entries 2 and 4, keeping each row's seq.
    with store.engine.begin() as conn:
        rows = {r[0]: r for r in conn.execute(text("SELECT seq, at, kind, actor, payload, prev_hash, hash FROM audit_log WHERE seq IN (2, 4)"))}
        _disable_guards(conn, store)
        conn.execute(text("DELETE FROM audit_log WHERE seq IN (2, 4)"))
        for seq, src in ((2, rows[4]), (4, rows[2])):
            conn.execute(text("INSERT INTO audit_log (seq, at, kind, actor, payload, prev_hash, hash) "
                              "VALUES (:s, :a, :k, :ac, :p, :pv, :h)"),
                         {"s": seq, "a": src[1], "k": src[2], "ac": src[3], "p": src[4], "pv": src[5], "h": src[6]})
    r = store.audit_verify()
    assert not r.ok and r.first_bad == 2


def _rfc8785(value: object) -> bytes:
    import rfc8785

    return rfc8785.dumps(value)


def _readme_script_verifies(export: str) -> int:
    """The README's script, verbatim in spirit: recompute each hash from the line's fields."""
    prev = "0" * 64
    n = 0
    for n, line in enumerate(export.splitlines(), 1):
        e = json.loads(line)
        body = {k: e[k] for k in ("seq", "at", "kind", "actor", "payload", "prev_hash")}
        assert e["seq"] == n and e["prev_hash"] == prev
        assert hashlib.sha256(_rfc8785(body)).hexdigest() == e["hash"]
        prev = e["hash"]
    return n


def test_export_checks_with_a_short_independent_script(store: Store) -> None:
    _fill(store)
    store.audit_append("gate.transition", {"to": "approved"}, "wf", key="wf-1/run/9")
    buf = io.StringIO()
    assert store.audit_export(buf) == 7
    assert _readme_script_verifies(buf.getvalue()) == 7


def test_cli_verify_reports_ok_and_broken(store: Store, store_url: str, monkeypatch: object) -> None:
    from cli.main import app

    _fill(store)
    mp = monkeypatch  # type: ignore[assignment]
    mp.setenv("EXITGATE_DATABASE_URL", store_url)  # type: ignore[attr-defined]
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0 and "OK: 6 entries" in ok.stdout
    _exec(store, "UPDATE audit_log SET kind = 'x' WHERE seq = 4")
    bad = runner.invoke(app, ["audit", "verify"])
    assert bad.exit_code == 1 and "BROKEN at entry 4" in bad.stderr


def test_append_with_the_same_key_is_idempotent(store: Store) -> None:
    a = store.audit_append("gate.transition", {"to": "approved"}, "wf", key="wf-1/evt-7")
    b = store.audit_append("gate.transition", {"to": "approved"}, "wf", key="wf-1/evt-7")
    assert a == b and store.audit_verify().entries == 1
    assert a.payload == {"to": "approved"}  # the key is not part of what the entry says


def test_a_payload_field_named_key_is_content(store: Store) -> None:
    store.audit_append("note", {"key": "k1"}, "wf")
    store.audit_append("note", {"key": "k1"}, "wf")
    assert [e.payload for e in store.audit_entries()] == [{"key": "k1"}, {"key": "k1"}]


def _append_as_before(store: Store, key: str, payload: dict[str, object]) -> None:
    """An entry as the store wrote it while the key was a payload field: hashed inside the
    payload, and in the idem_key column."""
    from store.audit import entry_hash, payload_text

    body = {**payload, "key": key}
    with store.engine.begin() as conn:
        seq, prev = conn.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).one()
        at = 1_700_000_000_000_000 + seq
        digest = entry_hash(seq + 1, at, "gate.transition", "wf", body, prev)
        conn.execute(text("INSERT INTO audit_log (seq, at, kind, actor, payload, prev_hash, hash, idem_key) "
                          "VALUES (:s, :a, 'gate.transition', 'wf', :p, :pv, :h, :k)"),
                     {"s": seq + 1, "a": at, "p": payload_text(body), "pv": prev, "h": digest, "k": key})
        conn.execute(text("UPDATE audit_head SET seq = :s, hash = :h WHERE id = 1"), {"s": seq + 1, "h": digest})


def test_entries_written_with_the_key_in_their_payload_still_verify_and_drop_retries(store: Store) -> None:
    _fill(store, 2)
    _append_as_before(store, "wf-1/run/1", {"to": "approved"})
    old = store.audit_entries()[-1]
    assert old.payload == {"to": "approved", "key": "wf-1/run/1"}
    # An activity retried across the upgrade: its entry is already there.
    assert store.audit_append("gate.transition", {"to": "approved"}, "wf", key="wf-1/run/1") == old
    store.audit_append("gate.transition", {"to": "collecting"}, "wf", key="wf-1/run/2")
    assert store.audit_verify().ok and store.audit_verify().entries == 4
    buf = io.StringIO()
    store.audit_export(buf)
    assert _readme_script_verifies(buf.getvalue()) == 4
