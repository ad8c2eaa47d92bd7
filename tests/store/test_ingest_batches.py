"""Chunked ingestion decides exactly as the file mode does, whatever the chunk size, on SQLite and
PostgreSQL: a batch mixing new records, retries, conflicts, corrections and withdrawals; a
re-import of the same lines stores nothing; a failure in the middle of a chunk (with part of
it already sent to the database) keeps every chunk committed before it and nothing of its own."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import text

from rules.evidence import Ledger
from rules.plan import LoadedPlan
from store import Store

IND = "sec.security_incidents"


def _rec(rid: str, value: Any, observed: str, reported: str, **kw: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"id": rid, "mission": "valdoria", "indicator": IND, "value": value,
                           "observed_at": observed, "reported_at": reported, "source": "sage"}
    raw.update(kw)
    return raw


def _mixed() -> list[str]:
    """Lines in which later records depend on earlier ones, so they fall in other chunks."""
    recs: list[Any] = [
        _rec("a1", 5, "2025-01-31T00:00:00Z", "2025-02-01T00:00:00Z"),
        _rec("a2", 6, "2025-02-28T00:00:00Z", "2025-03-01T00:00:00Z", provenance={"uri": "s3://x/é.csv"}),
        _rec("a1", 5, "2025-01-31T00:00:00Z", "2025-02-09T00:00:00Z"),  # a retry: duplicate
        _rec("c1", 4, "2025-01-31T00:00:00Z", "2025-02-05T00:00:00Z", supersedes="a1"),  # correction
        _rec("a2", 7, "2025-02-28T00:00:00Z", "2025-03-01T00:00:00Z"),  # conflict
        "",  # a blank line: skipped, still counted
        _rec("c2", 3, "2025-01-31T00:00:00Z", "2025-02-06T00:00:00Z", supersedes="a1"),  # a1 already corrected
        _rec("c3", 2, "2025-01-31T00:00:00Z", "2025-02-07T00:00:00Z", supersedes="c1"),  # correcting the correction
        _rec("w1", None, "2025-02-28T00:00:00Z", "2025-03-02T00:00:00Z", supersedes="a2"),  # withdrawal
        _rec("c1", 4.0, "2025-01-31T00:00:00Z", "2025-02-08T00:00:00Z", supersedes="a1"),  # 4.0 == 4: duplicate
        "{not json",
        _rec("u1", 1, "2025-03-31T00:00:00Z", "2025-04-01T00:00:00Z", supersedes="nobody"),  # unknown target
        _rec("e1", 9, "2025-03-31T00:00:00Z", "2025-03-30T00:00:00Z"),  # observed after reported
        _rec("a3", 8, "2025-03-31T00:00:00Z", "2025-04-01T00:00:00Z"),
        _rec("c4", 1, "2025-03-31T00:00:00Z", "2025-03-31T12:00:00Z", supersedes="a3"),  # known before a3
        _rec("w1", None, "2025-02-28T00:00:00Z", "2025-03-05T00:00:00Z", supersedes="a2"),  # duplicate withdrawal
    ]
    return [r if isinstance(r, str) else json.dumps(r) for r in recs]


def _outcomes(outs: list[Any]) -> list[Any]:
    return [o.to_json() for o in outs]


def _rows(store: Store) -> dict[str, tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return {r[0]: tuple(r[1:]) for r in conn.execute(text(
            "SELECT id, mission, indicator, value, observed_at, reported_at, known_at, source, supersedes, "
            "provenance FROM evidence"))}


@pytest.mark.parametrize("chunk_size", [1, 3, None], ids=["chunk-1", "chunk-3", "one-chunk"])
def test_mixed_batch_decides_as_the_file_mode(store_url: str, open_store: Callable[..., Store],
                                              sample_plan: LoadedPlan, chunk_size: int | None) -> None:
    opened = open_store(store_url)
    store = opened if chunk_size is None else Store(opened.engine, chunk_size=chunk_size)
    lines = _mixed()
    ledger = Ledger(sample_plan)
    expected = list(ledger.add_lines(lines, backfill=True))
    got = store.ingest(sample_plan, lines, backfill=True, actor="t", lines=True, received_at=10**16)
    assert _outcomes(got) == _outcomes(expected)
    assert Counter(o.status for o in got) == {"stored": 6, "duplicate": 3, "rejected": 6}
    assert [o.line for o in got if o.status == "rejected"] == [5, 7, 11, 12, 13, 15]
    rows = _rows(store)
    assert set(rows) == set(ledger.records) == {"a1", "a2", "c1", "c3", "w1", "a3"}
    for rid, rec in ledger.records.items():
        assert rows[rid] == (rec.mission, rec.indicator, json.dumps(rec.value), rec.observed_at, rec.reported_at,
                             rec.known_at, rec.source, rec.supersedes,
                             json.dumps(rec.provenance, ensure_ascii=False) if rec.provenance else None)
    entries = store.audit_entries()
    assert sum(e.payload["stored"] for e in entries) == 6 and sum(e.payload["duplicates"] for e in entries) == 3
    assert [r["line"] for e in entries for r in e.payload["rejections"]] == [5, 7, 11, 12, 13, 15]

    # The same lines again: every record accepted before is a duplicate, the rejected ones are
    # rejected for the same reasons, and nothing is stored.
    again = store.ingest(sample_plan, lines, backfill=True, actor="t", lines=True, received_at=10**16 + 1)
    assert [o.status for o in again] == ["duplicate" if o.status != "rejected" else "rejected" for o in got]
    assert [o.errors for o in again if o.status == "rejected"] == [o.errors for o in got if o.status == "rejected"]
    assert _rows(store) == rows
    assert sum(e.payload["stored"] for e in store.audit_entries()) == 6
    assert store.audit_verify().ok


class _Explodes(dict[str, Any]):
    """A record that fails while its chunk is being decided, as a crash in the middle of a
    chunk would: after the records before it were already sent to the database."""

    def get(self, key: str, default: Any = None) -> Any:
        if key == "mission":
            raise RuntimeError("the importer died here")
        return super().get(key, default)


def _plain(i: int) -> dict[str, Any]:
    return _rec(f"r{i}", i, f"2025-01-{i + 1:02d}T00:00:00Z", f"2025-01-{i + 1:02d}T06:00:00Z")


def test_failure_mid_chunk_keeps_earlier_chunks_and_nothing_of_its_own(
        store_url: str, open_store: Callable[..., Store], sample_plan: LoadedPlan) -> None:
    store = Store(open_store(store_url).engine, chunk_size=3)
    good = [_plain(i) for i in range(8)]

    def records() -> Iterator[dict[str, Any]]:
        yield from good[:4]  # one chunk of three, then r3 heads the second
        yield _Explodes(_plain(4))
        yield from good[5:]

    with pytest.raises(RuntimeError, match="the importer died here"):
        store.ingest(sample_plan, records(), backfill=True, actor="t")
    assert set(_rows(store)) == {"r0", "r1", "r2"}  # r3 was written in the failed chunk's COPY
    entries = store.audit_entries()
    assert len(entries) == 1 and entries[0].payload["stored_ids"] == ["r0", "r1", "r2"]
    assert store.audit_verify().ok
    with store.engine.connect() as conn:
        changed = [json.loads(r[0]) for r in conn.execute(text("SELECT record_ids FROM evidence_changes"))]
    assert changed == [["r0", "r1", "r2"]]

    # Sending the whole batch again completes it as if nothing had happened.
    again = store.ingest(sample_plan, good, backfill=True, actor="t")
    assert [o.status for o in again] == ["duplicate"] * 3 + ["stored"] * 5
    assert set(_rows(store)) == {f"r{i}" for i in range(8)}
    assert store.audit_verify().ok


@pytest.mark.parametrize("enabled", [True, False], ids=["collector-on", "collector-off"])
def test_import_leaves_the_collector_as_it_found_it(store: Store, sample_plan: LoadedPlan, enabled: bool) -> None:
    import gc

    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        store.ingest(sample_plan, [_plain(0)], backfill=True, actor="t")
        assert gc.isenabled() is enabled
        with pytest.raises(RuntimeError):
            store.ingest(sample_plan, [_plain(1), _Explodes(_plain(2))], backfill=True, actor="t")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
