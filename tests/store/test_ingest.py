"""Ingestion through the store has CONTRACT section 2's semantics, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from rules.evaluate import evaluate
from rules.evidence import read_jsonl
from rules.plan import LoadedPlan
from rules.series import EvidenceIndex
from schemas.timefmt import DAY, parse_timestamp
from store import Store


def _dump(store: Store) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT id, mission, indicator, value, observed_at, reported_at, received_at, known_at, "
            "source, supersedes, provenance FROM evidence ORDER BY id"))]


def test_sample_counts_match_expected(store: Store, sample_plan: LoadedPlan, sample_lines: list[str],
                                      sample_dir: Path) -> None:
    expected = json.loads((sample_dir / "expected.json").read_text())
    outcomes = store.ingest(sample_plan, sample_lines, backfill=True, actor="test", lines=True)
    counts = Counter(o.status for o in outcomes)
    assert counts["stored"] == expected["accepted"] == store.evidence_count("valdoria")
    assert counts["duplicate"] == expected["duplicates"]
    assert [o.line for o in outcomes if o.status == "rejected"] == expected["rejected_lines"]


def test_store_evaluation_equals_file_mode(store: Store, sample_plan: LoadedPlan, sample_lines: list[str],
                                           sample_dir: Path) -> None:
    from store.queries import evaluate_from_store

    store.register_mission(sample_plan, "coordinator-1")
    store.ingest(sample_plan, sample_lines, backfill=True, actor="test", lines=True)
    ledger, _ = read_jsonl("\n".join(sample_lines), sample_plan)
    index = EvidenceIndex(ledger.records.values())
    instants = [parse_timestamp(t) for t in json.loads((sample_dir / "checkpoints.json").read_text())]
    from_store = evaluate_from_store("valdoria", instants, store)
    from_file = [evaluate(sample_plan, index, t) for t in instants]
    assert json.dumps(from_store, sort_keys=True) == json.dumps(from_file, sort_keys=True)


def test_resending_gives_the_same_state(store: Store, sample_plan: LoadedPlan, sample_lines: list[str]) -> None:
    store.ingest(sample_plan, sample_lines, backfill=True, actor="test", lines=True)
    before = _dump(store)
    again = store.ingest(sample_plan, sample_lines, backfill=True, actor="test", lines=True)
    assert _dump(store) == before
    counts = Counter(o.status for o in again)
    assert counts["stored"] == 0 and counts["duplicate"] == 296


def test_bad_records_never_touch_stored_ones(store: Store, sample_plan: LoadedPlan, sample_lines: list[str]) -> None:
    store.ingest(sample_plan, sample_lines, backfill=True, actor="test", lines=True)
    before = _dump(store)
    bad = [
        {"id": "VAL-00001", "mission": "valdoria", "indicator": "sec.security_incidents", "value": 999,
         "observed_at": "2023-01-31T12:00:00Z", "source": "sage"},  # conflict with the stored copy
        {"id": "VAL-NEW-1", "mission": "valdoria", "indicator": "sec.security_incidents", "value": 5,
         "observed_at": "2023-01-31T12:00:00Z", "source": "sage", "supersedes": "VAL-00099"},  # already corrected
        {"id": "VAL-NEW-2", "mission": "valdoria", "indicator": "nope", "value": 5,
         "observed_at": "2023-01-31T12:00:00Z", "source": "sage"},
        "not an object",
    ]
    outcomes = store.ingest(sample_plan, bad, backfill=True, actor="test")
    assert [o.status for o in outcomes] == ["rejected"] * 4
    assert outcomes[0].errors[0].field == "value" and "conflicts" in outcomes[0].errors[0].reason
    assert outcomes[1].errors[0].field == "supersedes" and "already corrected" in outcomes[1].errors[0].reason
    assert outcomes[2].errors[0].field == "indicator"
    assert _dump(store) == before


def test_good_and_bad_in_one_batch(store: Store, sample_plan: LoadedPlan) -> None:
    batch = [
        {"id": "a", "mission": "valdoria", "indicator": "sec.security_incidents", "value": 5,
         "observed_at": "2025-01-31T12:00:00Z", "source": "sage"},
        {"id": "b", "mission": "valdoria", "indicator": "sec.security_incidents", "value": 5.0,
         "observed_at": "2025-01-31T12:00:00Z", "source": "sage"},
        {"id": "c", "mission": "valdoria", "indicator": "sec.security_incidents", "value": 7,
         "observed_at": "2025-02-28T12:00:00Z", "source": "sage", "typo": 1},
        {"id": "d", "mission": "valdoria", "indicator": "sec.security_incidents", "value": None,
         "observed_at": "2025-01-31T12:00:00Z", "source": "sage", "supersedes": "a"},
    ]
    outcomes = store.ingest(sample_plan, batch, actor="system:sage")
    assert [o.status for o in outcomes] == ["stored", "rejected", "rejected", "stored"]
    assert outcomes[1].errors[0].field == "value" and outcomes[2].errors[0].field == "typo"
    assert {r[0] for r in _dump(store)} == {"a", "d"}


def test_live_knowledge_time_and_future_reports(store: Store, sample_plan: LoadedPlan) -> None:
    receipt = parse_timestamp("2025-03-01T00:00:00Z")
    batch = [
        {"id": "late", "mission": "valdoria", "indicator": "sec.security_incidents", "value": 5,
         "observed_at": "2025-01-31T12:00:00Z", "reported_at": "2025-02-03T00:00:00Z", "source": "sage"},
        {"id": "future", "mission": "valdoria", "indicator": "sec.security_incidents", "value": 5,
         "observed_at": "2025-01-31T12:00:00Z", "reported_at": "2025-03-05T00:00:00Z", "source": "sage"},
        {"id": "noreport", "mission": "valdoria", "indicator": "sec.security_incidents", "value": 6,
         "observed_at": "2025-02-28T12:00:00Z", "source": "sage"},
    ]
    outcomes = store.ingest(sample_plan, batch, actor="system:sage", received_at=receipt)
    assert [o.status for o in outcomes] == ["stored", "rejected", "stored"]
    assert outcomes[1].errors[0].field == "reported_at"
    rows = {r[0]: r for r in _dump(store)}
    assert rows["late"][7] == receipt  # known from max(reported_at, received_at)
    assert rows["noreport"][5] == receipt  # reported_at defaults to the time of receipt
    # As of before receipt nothing is known; a live system cannot rewrite the past.
    assert store.evidence_index("valdoria", receipt - DAY).count == 0
    assert store.evidence_index("valdoria", receipt).count == 2


def test_values_round_trip_exactly(store: Store, sample_plan: LoadedPlan) -> None:
    batch = [
        {"id": "n1", "mission": "valdoria", "indicator": "cap.police_per_1000", "value": 7,
         "observed_at": "2025-01-31T12:00:00Z", "source": "moi_hr"},
        {"id": "n2", "mission": "valdoria", "indicator": "cap.police_per_1000", "value": 7.5,
         "observed_at": "2025-02-28T12:00:00Z", "source": "moi_hr"},
        {"id": "b1", "mission": "valdoria", "indicator": "pol.peaceful_election", "value": True,
         "observed_at": "2025-01-31T12:00:00Z", "source": "nec_results"},
    ]
    store.ingest(sample_plan, batch, actor="t", backfill=True)
    # A retry with 7.0 for 7 is a duplicate; true is never 1.
    retry = store.ingest(sample_plan, [dict(batch[0], value=7.0), dict(batch[2], value=1)], actor="t", backfill=True)
    assert [o.status for o in retry] == ["duplicate", "rejected"]
    values = {r[0]: json.loads(r[3]) for r in _dump(store)}
    assert values == {"n1": 7, "n2": 7.5, "b1": True}
    assert type(values["n1"]) is int and type(values["b1"]) is bool


def test_imports_are_audited(store: Store, sample_plan: LoadedPlan, sample_lines: list[str]) -> None:
    store.ingest(sample_plan, sample_lines, backfill=True, actor="coordinator-1", lines=True)
    entries = store.audit_entries()
    assert entries and all(e.kind == "evidence.backfill" and e.actor == "coordinator-1" for e in entries)
    assert sum(e.payload["stored"] for e in entries) == 295
    assert any(r["line"] == 161 for e in entries for r in e.payload["rejections"])
    assert store.audit_verify().ok


def _incident(rid: str, value: int | None, reported: str, supersedes: str | None = None) -> dict[str, Any]:
    raw: dict[str, Any] = {"id": rid, "mission": "valdoria", "indicator": "sec.security_incidents", "value": value,
                           "observed_at": "2025-01-31T12:00:00Z", "reported_at": reported, "source": "sage"}
    if supersedes is not None:
        raw["supersedes"] = supersedes
    return raw


@pytest.mark.parametrize("chunk_size", [1, None], ids=["chunk-1", "one-chunk"])
def test_two_corrections_of_one_record_in_one_batch(store_url: str, open_store: Callable[..., Store],
                                                   sample_plan: LoadedPlan, chunk_size: int | None) -> None:
    # A record may be corrected once (CONTRACT 2.6): the second correction of x1 is rejected,
    # whether the first is in the same chunk or already stored, and the import does not fail.
    opened = open_store(store_url)
    store = opened if chunk_size is None else Store(opened.engine, chunk_size=chunk_size)
    batch = [
        _incident("x1", 5, "2025-02-01T00:00:00Z"),
        _incident("x2", 6, "2025-02-02T00:00:00Z", supersedes="x1"),
        _incident("x3", 7, "2025-02-03T00:00:00Z", supersedes="x1"),
        _incident("x4", 8, "2025-02-04T00:00:00Z", supersedes="x2"),  # correcting the correction
        _incident("x5", None, "2025-02-05T00:00:00Z", supersedes="x2"),
    ]
    outcomes = store.ingest(sample_plan, batch, actor="t", backfill=True)
    assert [o.status for o in outcomes] == ["stored", "stored", "rejected", "stored", "rejected"]
    for rejected, target in ((outcomes[2], "x1"), (outcomes[4], "x2")):
        assert [e.field for e in rejected.errors] == ["supersedes"]
        assert rejected.errors[0].reason == f"record {target!r} was already corrected; correct the correction instead"
    assert {r[0] for r in _dump(store)} == {"x1", "x2", "x4"}
    entries = store.audit_entries()
    assert sum(e.payload["stored"] for e in entries) == 3 and sum(e.payload["rejected"] for e in entries) == 2
    assert len(entries) == (5 if chunk_size == 1 else 1)  # one entry per chunk, none retried
    view = store.evidence_index("valdoria", parse_timestamp("2025-03-01T00:00:00Z")).view(
        "sec.security_incidents", parse_timestamp("2025-03-01T00:00:00Z"))
    assert view is not None and view.ids(0, len(view.obs)) == ["x4"] and view.values.tolist() == [8.0]
    assert store.audit_verify().ok


def test_provenance_and_unreadable_lines(store: Store, sample_plan: LoadedPlan) -> None:
    with_prov = dict(_incident("p1", 5, "2025-02-01T00:00:00Z"), provenance={"uri": "s3://bucket/é.csv", "sha256": "ab"})
    lines = [json.dumps(with_prov), "{not json", "", json.dumps(_incident("p2", 6, "2025-02-01T00:00:00Z"))]
    outcomes = store.ingest(sample_plan, lines, actor="t", backfill=True, lines=True)
    assert [(o.line, o.status) for o in outcomes] == [(1, "stored"), (2, "rejected"), (4, "stored")]
    assert outcomes[1].errors[0].field == "$"
    stored = {r[0]: r[10] for r in _dump(store)}
    assert json.loads(stored["p1"]) == {"uri": "s3://bucket/é.csv", "sha256": "ab"} and stored["p2"] is None
