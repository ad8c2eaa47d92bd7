"""The evidence outbox: stored records leave a change per indicator in their own transaction,
nothing else does, and positions only grow (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from rules.plan import LoadedPlan
from store import Store

SEC, INC = "sec.security_incidents", "cap.police_per_1000"


def rec(rid: str, indicator: str = SEC, value: Any = 3, **kw: Any) -> dict[str, Any]:
    src = {SEC: "sage", INC: "moi_hr"}[indicator]
    return {"id": rid, "mission": "valdoria", "indicator": indicator, "value": value,
            "observed_at": "2024-01-31T00:00:00Z", "source": src, **kw}


def test_each_stored_batch_leaves_one_change_per_indicator(store: Store, sample_plan: LoadedPlan) -> None:
    assert {SEC, INC} <= set(sample_plan.indicators), sorted(sample_plan.indicators)
    assert store.pending_changes() == [] and store.evidence_position("valdoria", [SEC]) == 0
    store.ingest(sample_plan, [rec("a1"), rec("a2", value=4), rec("b1", INC, 1.5)], actor="t")
    first = store.pending_changes()
    assert sorted(c.indicator for c in first) == sorted([SEC, INC])
    p_sec = store.evidence_position("valdoria", [SEC])
    assert p_sec > 0 and store.evidence_position("valdoria", [SEC, INC]) == max(c.id for c in first)

    # A retry (duplicates) and a batch of rejections store nothing, and tell nothing.
    store.ingest(sample_plan, [rec("a1"), {"id": "bad", "mission": "valdoria"}], actor="t")
    assert store.pending_changes() == first
    assert store.evidence_position("valdoria", [SEC]) == p_sec

    store.ingest(sample_plan, [rec("a3", value=5)], actor="t")
    assert store.evidence_position("valdoria", [SEC]) > p_sec
    assert store.evidence_position("valdoria", [INC]) < store.evidence_position("valdoria", [SEC])
    assert store.evidence_position("elsewhere", [SEC]) == 0

    store.changes_delivered([c.id for c in first])
    [left] = store.pending_changes()
    assert left.indicator == SEC and store.pending_changes(mission="elsewhere") == []
    assert store.evidence_position("valdoria", [SEC]) > p_sec  # delivery does not move positions


def test_a_chunk_per_transaction_leaves_a_change_per_chunk(store_url: str, open_store: Any,
                                                           sample_plan: LoadedPlan) -> None:
    store = open_store(store_url)
    store.chunk_size = 1
    store.ingest(sample_plan, [rec("c1"), rec("c2"), rec("c3")], actor="t")
    changes = store.pending_changes()
    assert [c.indicator for c in changes] == [SEC] * 3
    assert [c.id for c in changes] == sorted(c.id for c in changes)


def test_a_position_as_of_an_instant_leaves_out_records_received_later(store: Store, sample_plan: LoadedPlan) -> None:
    t1 = 1_717_200_000_000_000  # 2024-06-01, after the records' observed_at
    assert store.ingest(sample_plan, [rec("e1")], received_at=t1, actor="t")[0].status == "stored"
    early = store.evidence_position("valdoria", [SEC])
    assert store.ingest(sample_plan, [rec("e2", value=4)], received_at=t1 + 1000, actor="t")[0].status == "stored"
    assert store.evidence_position("valdoria", [SEC], received_by=t1 + 999) == early > 0
    assert store.evidence_position("valdoria", [SEC], received_by=t1 + 1000) > early
    assert store.evidence_position("valdoria", [SEC], received_by=t1 - 1) == 0
