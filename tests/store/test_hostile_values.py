"""Hostile values through the store's ingest, on SQLite and PostgreSQL: refused with field and
reason without losing the batch's good records, and nothing stored can break evaluation."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from rules.evaluate import evaluate
from rules.plan import LoadedPlan
from schemas.timefmt import parse_timestamp
from store import Store


def _rec(rid: str, **kw: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"id": rid, "mission": "valdoria", "indicator": "sec.security_incidents", "value": 5,
                           "observed_at": "2025-01-31T12:00:00Z", "source": "sage"}
    raw.update(kw)
    return raw


def _ids(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return {r[0] for r in conn.execute(text("SELECT id FROM evidence"))}


def test_huge_integer_is_refused_at_ingest(store: Store, sample_plan: LoadedPlan) -> None:
    outcomes = store.ingest(sample_plan, [_rec("huge", value=10**400), _rec("ok")], actor="t", backfill=True)
    assert [o.status for o in outcomes] == ["rejected", "stored"]
    assert outcomes[0].errors[0].field == "value" and "2^53 - 1" in outcomes[0].errors[0].reason
    assert _ids(store) == {"ok"}


def test_a_huge_value_stored_before_the_rule_does_not_break_evaluation(store: Store, sample_plan: LoadedPlan) -> None:
    store.ingest(sample_plan, [_rec("a", reported_at="2025-02-01T00:00:00Z")], actor="t", backfill=True)
    cols = "mission, indicator, observed_at, reported_at, received_at, known_at, source, supersedes, provenance, backfill"
    with store.engine.begin() as conn:  # as a record accepted before acceptance refused it
        conn.execute(text(f"INSERT INTO evidence (id, value, {cols}) SELECT 'old', :v, {cols} FROM evidence "
                          "WHERE id = 'a'"), {"v": "1" + "0" * 400})
    as_of = parse_timestamp("2025-03-01T00:00:00Z")
    out = evaluate(sample_plan, store.evidence_index("valdoria", as_of), as_of)
    assert out["unusable_records"][0]["id"] == "old"
    used = {rid for g in out["gates"] for rid in _evidence(g["explanation"])}
    assert "old" not in used and "a" in used


def _evidence(node: dict[str, Any]) -> list[str]:
    if node["node"] == "benchmark":
        return list(node["evidence"])
    return [rid for c in node["children"] for rid in _evidence(c)]
