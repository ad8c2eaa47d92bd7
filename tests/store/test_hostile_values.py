"""Hostile values through the store's ingest, on SQLite and PostgreSQL: refused with field and
reason without losing the batch's good records, and nothing stored can break evaluation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from rules.evaluate import evaluate
from rules.plan import LoadedPlan, load_plan
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


SURROGATE = "\ud800"


@pytest.mark.parametrize(("bad", "field"), [
    (_rec("s1", source="sage" + SURROGATE), "source"),
    (_rec("s1", provenance={"uri": "http://x/" + SURROGATE}), "provenance.uri"),
    (_rec("s1", provenance={"k" + SURROGATE: "v"}), "provenance.k\\ud800"),
    (_rec("s1", provenance={"list": ["ok", SURROGATE]}), "provenance.list[1]"),
    (_rec("s1", mission=SURROGATE), "mission"),
    (_rec("s1", **{"typo" + SURROGATE: 1}), "typo\\ud800"),
    (_rec("s1" + SURROGATE), "id"),
], ids=["source", "provenance value", "provenance key", "provenance list", "mission", "unknown key", "id"])
def test_lone_surrogate_is_refused_and_the_batch_survives(store: Store, sample_plan: LoadedPlan,
                                                         bad: dict[str, Any], field: str) -> None:
    outcomes = store.ingest(sample_plan, [_rec("good1"), bad, _rec("good2", value=6)], actor="system:sage",
                            received_at=parse_timestamp("2025-03-01T00:00:00Z"))
    assert [o.status for o in outcomes] == ["stored", "rejected", "stored"]
    assert [e.field for e in outcomes[1].errors] == [field]
    assert "lone surrogate" in outcomes[1].errors[0].reason
    assert _ids(store) == {"good1", "good2"}
    assert store.audit_verify().ok  # the refusal is in the audit log, and the chain still hashes


def test_lone_surrogate_in_a_json_line(store: Store, sample_plan: LoadedPlan) -> None:
    lines = ['{"id": "a", "mission": "valdoria", "indicator": "sec.security_incidents", "value": 1, '
             '"observed_at": "2025-01-31T12:00:00Z", "source": "sage", "provenance": {"n": "\\ud800"}}',
             '{"id": "b", "mission": "valdoria", "indicator": "sec.security_incidents", "value": 1, '
             '"observed_at": "2025-01-31T12:00:00Z", "source": "sage"}']
    outcomes = store.ingest(sample_plan, lines, actor="t", backfill=True, lines=True)
    assert [o.status for o in outcomes] == ["rejected", "stored"]
    assert outcomes[0].errors[0].field == "provenance.n" and outcomes[0].line == 1
    assert _ids(store) == {"b"}


@pytest.mark.parametrize("bad", ['{"id": "x", "id": "y"} trailing', '{"id": "x", "value": NaN', '[NaN, ]'],
                         ids=["repeated key then extra data", "NaN then no close", "NaN then trailing comma"])
def test_a_line_refused_twice_over_is_rejected_not_fatal(store: Store, sample_plan: LoadedPlan, bad: str) -> None:
    # Found by tests/rules/test_fast_paths.py: the first parse stopped at the repeated key or
    # NaN, the second at the syntax error, which escaped as a raw JSONDecodeError and failed
    # the whole import.
    good = json.dumps(_rec("g1"))
    outcomes = store.ingest(sample_plan, [good, bad], actor="t", backfill=True, lines=True)
    assert [o.status for o in outcomes] == ["stored", "rejected"]
    assert outcomes[1].errors[0].field == "$" and outcomes[1].errors[0].reason.startswith("invalid JSON: ")
    assert _ids(store) == {"g1"}


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


def test_a_nul_in_source_is_refused_and_the_batch_survives(store: Store) -> None:
    # PostgreSQL's text holds no NUL: stored, it failed the whole chunk's COPY (an indicator
    # without `sources` took any text). Refused in acceptance, on both backends alike.
    doc = json.loads((Path(__file__).parents[2] / "samples" / "valdoria" / "plan.json").read_text())
    del doc["indicators"][0]["sources"]
    plan = load_plan(doc)
    store.register_mission(plan, "test")
    outcomes = store.ingest(plan, [_rec("good1"), _rec("n1", source="sa\x00ge"), _rec("good2", value=6)],
                            actor="system:sage", received_at=parse_timestamp("2025-03-01T00:00:00Z"))
    assert [o.status for o in outcomes] == ["stored", "rejected", "stored"]
    assert [(e.field, e.reason) for e in outcomes[1].errors] == [
        ("source", "must not contain the NUL character (U+0000)")]
    assert _ids(store) == {"good1", "good2"}
    assert store.audit_verify().ok
