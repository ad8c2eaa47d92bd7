"""Values evaluation cannot hold exactly: refused at acceptance, and harmless once stored.

Evaluation runs on IEEE doubles, so acceptance takes integers only within +/-(2^53 - 1) and
finite numbers only (docs/semantics.md); a record stored before that rule existed must not
make evaluation, the timeline or `evidence show` fail.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from rules.evaluate import evaluate
from rules.evidence import Ledger, Outcome, Record, read_jsonl
from rules.plan import LoadedPlan, load_plan
from rules.series import EvidenceIndex, unusable_value
from rules.timeline import timeline
from schemas.timefmt import DAY, parse_timestamp

from .helpers import base_plan, bench, first_gate, record

LIMIT = 2**53 - 1
BIG = {"indicator": "big", "source": "any"}


@pytest.fixture(scope="module")
def plan() -> LoadedPlan:
    doc = base_plan()
    # A number indicator with no range: nothing but the magnitude rule can refuse a value.
    doc["indicators"].append({"id": "big", "name": "Unbounded", "kind": "number"})
    first_gate(doc)["rule"]["all"].append(bench("b9", "big", aggregate="latest", op=">=", threshold=0))
    return load_plan(doc)


def _one(plan: LoadedPlan, raw: Any) -> Outcome:
    return Ledger(plan).add(raw)


def _refused_on_value(out: Outcome, words: str) -> str:
    assert out.status == "rejected", out
    assert [e.field for e in out.errors] == ["value"], out.errors
    reason = out.errors[0].reason
    assert words in reason, reason
    return reason


@pytest.mark.parametrize("value", [LIMIT, -LIMIT, 0])
def test_integer_within_the_exact_range_is_stored(plan: LoadedPlan, value: int) -> None:
    raw = record(value=value) if value >= 0 else record(value=value, **BIG)
    assert _one(plan, raw).status == "stored"


@pytest.mark.parametrize(("value", "extra"), [
    (LIMIT + 1, {}), (10**400, {}), (-(LIMIT + 1), BIG), (LIMIT + 2, BIG), (10**400, BIG), (-(10**400), BIG),
], ids=["integer 2^53", "integer 1e400", "number -2^53", "number 2^53+1", "number int 1e400", "number int -1e400"])
def test_integer_beyond_the_exact_range_is_refused(plan: LoadedPlan, value: int, extra: dict[str, str]) -> None:
    reason = _refused_on_value(_one(plan, record(value=value, **extra)), "2^53 - 1")
    assert len(reason) < 300, "the reason must not echo hundreds of digits"


def test_number_indicator_hint_names_the_exponent_form(plan: LoadedPlan) -> None:
    _refused_on_value(_one(plan, record(value=2**60, **BIG)), "exponent form")
    assert _one(plan, record(value=1.5e20, **BIG)).status == "stored"


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_number_is_refused(plan: LoadedPlan, value: float) -> None:
    _refused_on_value(_one(plan, record(value=value, **BIG)), "not a finite number")


def test_overflowing_number_in_a_file_is_refused_naming_value(plan: LoadedPlan) -> None:
    good = '{"id": "ok", "mission": "lakeland", "indicator": "big", "value": 1e308, "source": "s", ' \
           '"observed_at": "2025-03-31T00:00:00Z"}'
    bad = good.replace('"ok"', '"huge"').replace("1e308", "1e400")
    ledger, outcomes = read_jsonl(f"{bad}\n{good}\n", plan)
    assert [o.status for o in outcomes] == ["rejected", "stored"]
    assert outcomes[0].errors[0].field == "value"
    assert "range of a double" in outcomes[0].errors[0].reason
    assert list(ledger.records) == ["ok"]


def _stored(plan: LoadedPlan, rid: str, value: Any, day: int, **kw: Any) -> Record:
    """A record as the store holds it, built past acceptance (as one accepted before the rule)."""
    ledger = Ledger(plan)
    rec = ledger.add(record(rid=rid, value=1, **BIG))
    assert rec.status == "stored"
    base = ledger.records[rid]
    t = parse_timestamp("2025-03-01T00:00:00Z") + day * DAY
    return replace(base, value=value, observed_at=t, reported_at=t, known_at=t, **kw)


def test_stored_huge_value_counts_as_no_point_and_says_why(plan: LoadedPlan) -> None:
    recs = [_stored(plan, "a", 3.0, 0), _stored(plan, "huge", 10**400, 1), _stored(plan, "inf", float("inf"), 2)]
    index = EvidenceIndex(recs)
    as_of = parse_timestamp("2025-04-01T00:00:00Z")
    out = evaluate(plan, index, as_of)
    b9 = next(c for c in out["gates"][0]["explanation"]["children"] if c["benchmark"] == "b9")
    assert b9["value"] == 3.0 and b9["evidence"] == ["a"] and b9["points"] == 1
    assert [u["id"] for u in out["unusable_records"]] == ["huge", "inf"]
    assert all(u["reason"] for u in out["unusable_records"])
    # Before the records were known they are not reported either.
    assert "unusable_records" not in evaluate(plan, index, parse_timestamp("2025-03-01T12:00:00Z"))


def test_stored_huge_correction_still_replaces_what_it_corrects(plan: LoadedPlan) -> None:
    recs = [_stored(plan, "a", 3.0, 0), _stored(plan, "b", 4.0, 1),
            _stored(plan, "fix", 10**400, 2, supersedes="b")]
    out = evaluate(plan, EvidenceIndex(recs), parse_timestamp("2025-04-01T00:00:00Z"))
    b9 = next(c for c in out["gates"][0]["explanation"]["children"] if c["benchmark"] == "b9")
    assert b9["evidence"] == ["a"]


def test_timeline_survives_a_stored_huge_value(plan: LoadedPlan) -> None:
    recs = [_stored(plan, "a", 3.0, 0), _stored(plan, "huge", -(10**400), 1)]
    start = parse_timestamp("2025-03-01T00:00:00Z")
    timeline(plan, EvidenceIndex(recs), start, start + 5 * DAY, DAY)


def test_the_ends_of_the_exact_range_count_and_a_record_is_listed_from_its_knowledge_time(plan: LoadedPlan) -> None:
    assert unusable_value(2**53 - 1) is None and unusable_value(-(2**53 - 1)) is None
    assert unusable_value(2**53) is not None and unusable_value(-(2**53)) is not None
    index = EvidenceIndex([_stored(plan, "huge", 10**400, 1)])
    known = parse_timestamp("2025-03-02T00:00:00Z")
    assert [u["id"] for u in index.unusable_known(known)] == ["huge"]
    assert index.unusable_known(known - 1) == []
