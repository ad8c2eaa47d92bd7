"""Warm evidence indexes (store/warm.py) give every gate evaluation a cold read gives, after
every kind of change: new records, corrections and withdrawals of records the index already
holds, late backfills, records arriving between two evaluations, two workers over one store,
concurrent importers, evictions, and changes from before record ids were kept (SQLite and
PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import text

from rules.evaluate import evaluate_gate
from rules.plan import LoadedPlan, load_plan
from schemas.timefmt import DAY, parse_timestamp
from store import Store

M = "valdoria"
START = parse_timestamp("2023-03-01T00:00:00Z")
INSTANTS = [START + k * 90 * DAY for k in range(13)]  # to 2026, past the sample's last report
NOW = parse_timestamp("2026-01-01T00:00:00Z")


def gate_evaluations(store: Store, plan: LoadedPlan, instants: list[int]) -> dict[tuple[str, int], Any]:
    return {(g, t): evaluate_gate(plan, g, store.evidence_index(plan.mission_id, t, plan.gate_indicators(g),
                                                                 plan.gate_horizons(g)), t)
            for g in plan.gates for t in instants}


def warm_store(open_store: Callable[..., Store], url: str, budget: int = 1_000_000) -> Store:
    s = open_store(url)
    s.keep_evidence_warm(budget)
    return s


def assert_warm_is_cold(warm: Store, cold: Store, plan: LoadedPlan, instants: list[int] = INSTANTS) -> None:
    assert cold.warm is None
    assert gate_evaluations(warm, plan, instants) == gate_evaluations(cold, plan, instants)
    assert warm.warm is not None and warm.warm.stats()["bytes"] > 0 and warm.warm.stats()["memo_bytes"] > 0
    assert warm.warm.held(plan.mission_id) == cold.evidence_count(plan.mission_id)


def rec(rid: str, observed: str, value: Any, reported: str | None = None, **kw: Any) -> dict[str, Any]:
    return {"id": rid, "mission": M, "indicator": "sec.security_incidents", "source": "sage", "value": value,
            "observed_at": observed, **({"reported_at": reported} if reported else {}), **kw}


def test_records_arriving_batch_by_batch_between_evaluations(store: Store, store_url: str, open_store: Any,
                                                             sample_plan: LoadedPlan, sample_lines: list[str]) -> None:
    warm = warm_store(open_store, store_url)
    store.ingest(sample_plan, sample_lines[:90], backfill=True, actor="t", lines=True)
    assert_warm_is_cold(warm, store, sample_plan)
    # The sample's corrections and withdrawals arrive in these batches, after their targets.
    for lo in range(90, len(sample_lines), 45):
        store.ingest(sample_plan, sample_lines[lo:lo + 45], backfill=True, actor="t", lines=True)
        assert_warm_is_cold(warm, store, sample_plan, INSTANTS[::3])
    assert_warm_is_cold(warm, store, sample_plan)
    stats = warm.warm.stats() if warm.warm else {}
    assert stats["loads"] == 1 and stats["records_added"] > 200 and stats["cold_reads"] == 0, stats


def test_corrections_withdrawals_and_late_backfills_of_held_records(
        store: Store, store_url: str, open_store: Any, sample_plan: LoadedPlan, sample_lines: list[str]) -> None:
    store.ingest(sample_plan, sample_lines, backfill=True, actor="t", lines=True)
    warm = warm_store(open_store, store_url)
    instants = [*INSTANTS, NOW, NOW + 40 * DAY]
    before = gate_evaluations(warm, sample_plan, instants)
    with store.read() as conn:
        corrected = set(conn.execute(text("SELECT supersedes FROM evidence WHERE supersedes IS NOT NULL")).scalars())
    held = [r for r in store.records_by_id(M, [f"VAL-{i:05}" for i in range(1, 300)]).values()
            if r.indicator == "sec.security_incidents" and r.supersedes is None and r.id not in corrected]
    assert len(held) >= 3
    outcomes = store.ingest(sample_plan, [
        # A correction and a withdrawal of records the warm index holds, known from receipt.
        rec("fix-1", "2024-12-31T12:00:00Z", 999, supersedes=held[-1].id),
        rec("gone-1", "2024-11-30T12:00:00Z", None, supersedes=held[-2].id),
        # A late live report of an old month.
        rec("late-1", "2023-01-15T12:00:00Z", 7),
    ], received_at=NOW + 10 * DAY, actor="t")
    # Backfills, keyed by their own reported_at: a new point and a correction of the oldest record.
    outcomes += store.ingest(sample_plan, [
        rec("back-1", "2024-12-15T12:00:00Z", 5, reported="2024-12-20T00:00:00Z"),
        rec("fix-first", "2023-01-31T12:00:00Z", 1, supersedes=held[0].id, reported="2023-03-01T00:00:00Z"),
    ], backfill=True, actor="t")
    assert [o.status for o in outcomes] == ["stored"] * 5, outcomes
    assert_warm_is_cold(warm, store, sample_plan, instants)
    after = gate_evaluations(warm, sample_plan, instants)
    assert {k for k in after if after[k]["digest"] != before[k]["digest"]}, "the changes changed no evaluation"


def test_two_workers_over_one_store(store: Store, store_url: str, open_store: Any, sample_plan: LoadedPlan,
                                    sample_lines: list[str]) -> None:
    a, b = warm_store(open_store, store_url), warm_store(open_store, store_url)
    store.ingest(sample_plan, sample_lines[:60], backfill=True, actor="t", lines=True)
    assert_warm_is_cold(a, store, sample_plan, INSTANTS[::2])
    for i, lo in enumerate(range(60, len(sample_lines), 70)):
        store.ingest(sample_plan, sample_lines[lo:lo + 70], backfill=True, actor="t", lines=True)
        assert_warm_is_cold(a if i % 2 else b, store, sample_plan, INSTANTS[::2])
    assert_warm_is_cold(a, store, sample_plan)
    assert_warm_is_cold(b, store, sample_plan)


def test_concurrent_importers_miss_nothing(store: Store, store_url: str, open_store: Any, sample_plan: LoadedPlan,
                                           sample_lines: list[str]) -> None:
    store.ingest(sample_plan, sample_lines[:30], backfill=True, actor="t", lines=True)
    warm = warm_store(open_store, store_url)
    gate_evaluations(warm, sample_plan, [NOW])
    importers = [Store(open_store(store_url).engine, chunk_size=3) for _ in range(2)]
    halves = [sample_lines[30:170], sample_lines[170:]]
    threads = [threading.Thread(target=s.ingest, args=(sample_plan, part), kwargs={
        "backfill": True, "actor": "t", "lines": True}) for s, part in zip(importers, halves, strict=True)]
    for th in threads:
        th.start()
    # Catch up while commits land, whichever importer's commit comes first.
    while any(th.is_alive() for th in threads):
        gate_evaluations(warm, sample_plan, [NOW])
    for th in threads:
        th.join()
    assert_warm_is_cold(warm, store, sample_plan)


def test_evicted_or_too_large_missions_are_read_cold(store: Store, store_url: str, open_store: Any,
                                                     sample_plan: LoadedPlan, sample_lines: list[str]) -> None:
    store.ingest(sample_plan, sample_lines, backfill=True, actor="t", lines=True)
    small = load_plan({
        "plan": "s", "mission": {"id": "small", "name": "s"},
        "indicators": [{"id": "x", "name": "x", "kind": "number"}],
        "phases": [{"id": "p", "name": "p", "gates": [{"id": "g", "name": "g", "approval": {"roles": ["a"], "quorum": 1},
                    "rule": {"benchmark": {"id": "b", "indicator": "x", "aggregate": "mean", "op": "<=",
                                           "threshold": 10, "window": "P30D"}}}]}]})
    store.ingest(small, [{"id": f"s{i}", "mission": "small", "indicator": "x", "value": i, "source": "s",
                          "observed_at": f"2024-01-{i + 1:02}T00:00:00Z"} for i in range(20)], backfill=True, actor="t")
    n = store.evidence_count(M)
    warm = warm_store(open_store, store_url, budget=n + 10)
    assert_warm_is_cold(warm, store, sample_plan, INSTANTS[::2])
    # The second mission does not fit beside the first: the first is dropped, and read again.
    assert gate_evaluations(warm, small, [NOW]) == gate_evaluations(store, small, [NOW])
    assert gate_evaluations(warm, sample_plan, [NOW]) == gate_evaluations(store, sample_plan, [NOW])
    assert warm.warm is not None
    stats = warm.warm.stats()
    assert (stats["missions"], stats["records"], stats["loads"], stats["evictions"]) == (1, n, 3, 2), stats

    tiny = warm_store(open_store, store_url, budget=n - 1)
    assert gate_evaluations(tiny, sample_plan, INSTANTS) == gate_evaluations(store, sample_plan, INSTANTS)
    assert tiny.warm is not None and tiny.warm.stats()["missions"] == 0
    assert tiny.warm.stats()["cold_reads"] == len(INSTANTS) * len(sample_plan.gates)


def test_changes_from_before_record_ids_reload_the_mission(store: Store, store_url: str, open_store: Any,
                                                           sample_plan: LoadedPlan, sample_lines: list[str]) -> None:
    warm = warm_store(open_store, store_url)
    store.ingest(sample_plan, sample_lines[:150], backfill=True, actor="t", lines=True)
    assert_warm_is_cold(warm, store, sample_plan, INSTANTS[::2])
    store.ingest(sample_plan, sample_lines[150:], backfill=True, actor="t", lines=True)
    with store.engine.begin() as conn:  # as a change written before migration 0008
        conn.execute(text("UPDATE evidence_changes SET record_ids = NULL "
                          "WHERE id = (SELECT max(id) FROM evidence_changes)"))
    assert_warm_is_cold(warm, store, sample_plan)
    assert warm.warm is not None and warm.warm.stats()["loads"] == 1


def test_more_records_since_the_last_read_than_a_catch_up_takes_reload_the_mission(
        store: Store, store_url: str, open_store: Any, sample_plan: LoadedPlan, sample_lines: list[str],
        monkeypatch: Any) -> None:
    import store.warm as warm_module

    monkeypatch.setattr(warm_module, "RELOAD_AT", 20)
    warm = warm_store(open_store, store_url)
    store.ingest(sample_plan, sample_lines[:150], backfill=True, actor="t", lines=True)
    assert_warm_is_cold(warm, store, sample_plan, INSTANTS[::2])
    few = store.ingest(sample_plan, sample_lines[150:165], backfill=True, actor="t", lines=True)
    stored = sum(o.status == "stored" for o in few)
    assert_warm_is_cold(warm, store, sample_plan, INSTANTS[::2])
    assert warm.warm is not None and warm.warm.stats()["records_added"] == stored > 0  # caught up
    many = store.ingest(sample_plan, sample_lines[165:], backfill=True, actor="t", lines=True)
    assert sum(o.status == "stored" for o in many) > 20
    assert_warm_is_cold(warm, store, sample_plan)
    assert warm.warm.stats()["records_added"] == stored  # read whole, not merged
