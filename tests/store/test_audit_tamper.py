"""Editing, deleting or reordering any audit row is caught by `audit verify`; an export can be
checked without exitgate by the short script in the README."""

from __future__ import annotations

import hashlib
import io
import json

from sqlalchemy import text
from typer.testing import CliRunner

from store import Store


def _fill(store: Store, n: int = 6) -> None:
    for i in range(n):
        store.audit_append("gate.transition", {"gate": "g1", "to": f"state-{i}", "n": i / 3}, "wf")


def _exec(store: Store, sql: str, **params: object) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(sql), params)


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


def test_reordered_rows_are_detected(store: Store) -> None:
    _fill(store)
    # Swap the content of entries 2 and 4, keeping each row's seq.
    with store.engine.begin() as conn:
        rows = {r[0]: r for r in conn.execute(text("SELECT seq, at, kind, actor, payload, prev_hash, hash FROM audit_log WHERE seq IN (2, 4)"))}
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


def test_export_checks_with_a_short_independent_script(store: Store) -> None:
    _fill(store)
    buf = io.StringIO()
    assert store.audit_export(buf) == 6
    # The README's script, verbatim in spirit: recompute each hash from the line's fields.
    prev = "0" * 64
    for line in buf.getvalue().splitlines():
        e = json.loads(line)
        body = {k: e[k] for k in ("seq", "at", "kind", "actor", "payload", "prev_hash")}
        assert e["prev_hash"] == prev
        assert hashlib.sha256(_rfc8785(body)).hexdigest() == e["hash"]
        prev = e["hash"]


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
    a = store.audit_append("gate.transition", {"key": "wf-1/evt-7", "to": "approved"}, "wf")
    b = store.audit_append("gate.transition", {"key": "wf-1/evt-7", "to": "approved"}, "wf")
    assert a == b and store.audit_verify().entries == 1
