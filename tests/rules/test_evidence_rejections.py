"""Evidence acceptance, a test per rejection reason of CONTRACT section 2."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rules.evidence import Ledger, Outcome, read_jsonl
from rules.plan import LoadedPlan, load_plan
from schemas.timefmt import parse_timestamp

from .helpers import base_plan, record


@pytest.fixture(scope="module")
def plan() -> LoadedPlan:
    return load_plan(base_plan())


def _one(plan: LoadedPlan, raw: Any, *before: dict[str, Any], **kw: Any) -> Outcome:
    ledger = Ledger(plan)
    for r in before:
        assert ledger.add(r).status == "stored", r
    return ledger.add(raw, **kw)


def _assert_rejected(out: Outcome, field: str, words: str) -> None:
    assert out.status == "rejected", out
    assert any(e.field == field and words in e.reason for e in out.errors), out.errors
    assert field in out.message and words in out.message


POL = {"indicator": "pol", "source": "moi"}
ELECT = {"indicator": "elect", "source": "nec"}

REJECTIONS: list[tuple[str, Any, str, str]] = [
    ("not an object", [record()], "$", "must be a JSON object"),
    ("string", "record", "$", "must be a JSON object"),
    ("missing id", {k: v for k, v in record().items() if k != "id"}, "id", "required field is missing"),
    ("bad id", record(rid="a b"), "id", "not a valid evidence id"),
    ("id too long", record(rid="a" * 129), "id", "not a valid evidence id"),
    ("id trailing newline", record(rid="abc\n"), "id", "not a valid evidence id"),
    ("id not a string", record(rid=7), "id", "not a valid evidence id"),
    ("unknown field", record(valeu=3), "valeu", "unknown field"),
    ("missing mission", {k: v for k, v in record().items() if k != "mission"}, "mission", "required field is missing"),
    ("missing indicator", {k: v for k, v in record().items() if k != "indicator"}, "indicator", "required field is missing"),
    ("missing value", {k: v for k, v in record().items() if k != "value"}, "value", "required field is missing"),
    ("missing observed_at", {k: v for k, v in record().items() if k != "observed_at"}, "observed_at", "required field is missing"),
    # Found by scripts/fuzz.py: a null observed_at passed every check and failed an assertion (500).
    ("null observed_at", record(observed_at=None), "observed_at", "must be an RFC 3339 timestamp string, not null"),
    ("missing source", {k: v for k, v in record().items() if k != "source"}, "source", "required field is missing"),
    ("unknown mission", record(mission="hillside"), "mission", "unknown mission 'hillside'"),
    ("unknown indicator", record(indicator="nope"), "indicator", "unknown indicator 'nope'"),
    ("source not allowed", record(source="rumour"), "source", "source 'rumour' may not report 'inc'"),
    ("source empty", record(source=""), "source", "non-empty string"),
    ("integer given 5.0", record(value=5.0), "value", "must be a JSON integer"),
    ("integer given '5'", record(value="5"), "value", "must be a JSON integer"),
    ("integer given true", record(value=True), "value", "must be a JSON integer"),
    ("number given '5'", record(value="5", **POL), "value", "must be a number"),
    ("number given true", record(value=True, **POL), "value", "must be a number"),
    ("boolean given 1", record(value=1, **ELECT), "value", "must be true or false"),
    ("boolean given 'true'", record(value="true", **ELECT), "value", "must be true or false"),
    ("below min", record(value=-1), "value", "below the indicator's minimum 0"),
    ("above max", record(value=20.5, **POL), "value", "above the indicator's maximum 20"),
    ("null without supersedes", record(value=None), "value", "null is allowed only in a correction"),
    ("observed after reported", record(observed_at="2025-04-04T00:00:00Z"), "observed_at", "later than reported_at"),
    ("observed after reported by offsets", record(observed_at="2025-04-03T10:00:00-00:01"), "observed_at", "later than reported_at"),
    ("no offset", record(observed_at="2025-03-31T00:00:00"), "observed_at", "not an RFC 3339 timestamp"),
    ("no seconds", record(observed_at="2025-03-31T00:00Z"), "observed_at", "not an RFC 3339 timestamp"),
    ("space separator", record(observed_at="2025-03-31 00:00:00Z"), "observed_at", "not an RFC 3339 timestamp"),
    ("date only", record(observed_at="2025-03-31"), "observed_at", "not an RFC 3339 timestamp"),
    ("7-digit fraction", record(observed_at="2025-03-31T00:00:00.1234567Z"), "observed_at", "not an RFC 3339 timestamp"),
    ("leap second", record(observed_at="2016-12-31T23:59:60Z"), "observed_at", "leap seconds"),
    ("February 30", record(observed_at="2025-02-30T00:00:00Z"), "observed_at", "day is out of range"),
    ("offset out of range", record(observed_at="2025-03-31T00:00:00+24:00"), "observed_at", "out of range"),
    ("timestamp not a string", record(observed_at=1743379200), "observed_at", "must be an RFC 3339 timestamp string"),
    ("bad reported_at", record(reported_at="2025-04-03"), "reported_at", "not an RFC 3339 timestamp"),
    ("provenance not an object", record(provenance="http://x"), "provenance", "must be an object"),
    ("supersedes bad id", record(rid="r2", supersedes="a b"), "supersedes", "not a valid evidence id"),
    ("supersedes unknown", record(rid="r2", supersedes="nope"), "supersedes", "no record 'nope' was accepted before"),
]


@pytest.mark.parametrize(("label", "raw", "field", "words"), REJECTIONS, ids=[c[0] for c in REJECTIONS])
def test_each_rejection_names_field_and_reason(plan: LoadedPlan, label: str, raw: Any, field: str, words: str) -> None:
    _assert_rejected(_one(plan, raw), field, words)


def test_all_field_problems_reported_together(plan: LoadedPlan) -> None:
    out = _one(plan, record(mission="x", value="7", colour=1, source="rumour"))
    assert {e.field for e in out.errors} == {"mission", "value", "colour", "source"}


# --- corrections -------------------------------------------------------------------------------


def test_supersedes_other_indicator(plan: LoadedPlan) -> None:
    out = _one(plan, record("r2", supersedes="p1", value=3), record("p1", value=3.5, **POL))
    _assert_rejected(out, "supersedes", "belongs to indicator 'pol'")


def test_supersedes_already_corrected(plan: LoadedPlan) -> None:
    out = _one(plan, record("r3", supersedes="r1", value=4), record("r1"), record("r2", supersedes="r1", value=5))
    _assert_rejected(out, "supersedes", "already corrected; correct the correction instead")


def test_correct_the_correction(plan: LoadedPlan) -> None:
    out = _one(plan, record("r3", supersedes="r2", value=4), record("r1"), record("r2", supersedes="r1", value=5))
    assert out.status == "stored"


def test_supersedes_reported_later_than_correction(plan: LoadedPlan) -> None:
    out = _one(plan, record("r2", supersedes="r1", reported_at="2025-04-02T00:00:00Z"), record("r1"))
    _assert_rejected(out, "supersedes", "a correction cannot be known before what it corrects")


def test_correction_reported_at_same_instant_is_fine(plan: LoadedPlan) -> None:
    out = _one(plan, record("r2", supersedes="r1", value=8, reported_at="2025-04-03T13:00:00+03:00"), record("r1"))
    assert out.status == "stored"


def test_withdrawal(plan: LoadedPlan) -> None:
    ledger = Ledger(plan)
    ledger.add(record("r1"))
    assert ledger.add(record("r2", supersedes="r1", value=None)).status == "stored"
    assert ledger.records["r2"].withdrawal
    assert ledger.is_corrected("r1") and "r1" in ledger.records  # nothing is ever deleted


# --- retries: duplicate or conflict ------------------------------------------------------------


@pytest.mark.parametrize(("first", "again"), [
    (record(value=7, **POL), record(value=7.0, **POL)),
    (record(value=7.0, **POL), record(value=7, **POL)),
    (record(), record(reported_at="2025-05-01T00:00:00Z", provenance={"uri": "retry"})),
    (record(), {k: v for k, v in record().items() if k != "reported_at"}),
    (record(), record(observed_at="2025-03-31T03:00:00+03:00")),
    (record(), record(observed_at="2025-03-30T19:00:00.000-05:00")),
    (record(value=True, **ELECT), record(value=True, **ELECT)),
    # No other check on a retry: the plan's rules are not applied again.
    (record(), record(colour="red")),
])
def test_duplicates(plan: LoadedPlan, first: dict[str, Any], again: dict[str, Any]) -> None:
    ledger = Ledger(plan)
    assert ledger.add(first).status == "stored"
    out = ledger.add(again)
    assert out.status == "duplicate", out
    assert ledger.records["r1"].value == first["value"] and ledger.records["r1"].provenance is None


@pytest.mark.parametrize(("first", "again", "field"), [
    (record(), record(value=8), "value"),
    (record(value=True, **ELECT), record(value=1, **ELECT), "value"),
    (record(value=1, **POL), record(value=True, **POL), "value"),
    (record(), record(observed_at="2025-03-31T00:00:00.000001Z"), "observed_at"),
    (record(), record(observed_at="2025-03-31T00:00:00+01:00"), "observed_at"),
    (record(), record(source="other"), "source"),
    (record(), record(mission="hillside"), "mission"),
    (record(), record(value=3, **POL), "indicator"),
    (record(), {k: v for k, v in record().items() if k != "value"}, "value"),
    (record(), record(supersedes="r0"), "supersedes"),
])
def test_conflicts(plan: LoadedPlan, first: dict[str, Any], again: dict[str, Any], field: str) -> None:
    ledger = Ledger(plan)
    assert ledger.add(first).status == "stored"
    out = ledger.add(again)
    _assert_rejected(out, field, "conflicts with the record already accepted under id 'r1'")
    assert ledger.records["r1"].value == first["value"]


# --- files: line numbers, good lines kept -------------------------------------------------------


def test_file_lines_counted_with_blanks_and_good_lines_kept(plan: LoadedPlan) -> None:
    lines = [
        json.dumps(record("a")),                 # 1 stored
        "",                                      # 2 blank
        "   ",                                   # 3 blank
        "{not json",                             # 4 invalid JSON
        json.dumps(record("b", value="x")),      # 5 bad value
        json.dumps(record("a")),                 # 6 duplicate
        '{"id": "c", "value": NaN}',             # 7 NaN
        '{"id": "d", "id": "e"}',                # 8 repeated key
        "[1, 2]",                                # 9 not an object
        json.dumps(record("f", value=3)),        # 10 stored
        json.dumps(record("a", value=9)),        # 11 conflict
    ]
    ledger, outcomes = read_jsonl("\n".join(lines) + "\n", plan)
    got = [(o.line, o.status) for o in outcomes]
    assert got == [(1, "stored"), (4, "rejected"), (5, "rejected"), (6, "duplicate"), (7, "rejected"),
                   (8, "rejected"), (9, "rejected"), (10, "stored"), (11, "rejected")]
    assert set(ledger.records) == {"a", "f"}
    by_line = {o.line: o for o in outcomes}
    assert "invalid JSON" in by_line[4].message and by_line[4].message.startswith("line 4")
    assert by_line[5].errors[0].field == "value" and "line 5, record 'b'" in by_line[5].message
    assert "NaN is not allowed" in by_line[7].message
    assert "repeated key 'id'" in by_line[8].message
    assert "must be a JSON object" in by_line[9].message
    assert by_line[11].to_json()["errors"][0]["field"] == "value"


def test_file_mode_missing_reported_at_is_observed_at(plan: LoadedPlan) -> None:
    ledger = Ledger(plan)
    ledger.add({k: v for k, v in record().items() if k != "reported_at"})
    r = ledger.records["r1"]
    assert r.reported_at == r.known_at == r.observed_at == parse_timestamp("2025-03-31T00:00:00Z")


def test_file_mode_knowledge_time_is_reported_at(plan: LoadedPlan) -> None:
    ledger = Ledger(plan)
    ledger.add(record(reported_at="2025-04-03T13:00:00+03:00"))
    assert ledger.records["r1"].known_at == parse_timestamp("2025-04-03T10:00:00Z")


# --- service mode: received_at given ------------------------------------------------------------

RECEIVED = parse_timestamp("2025-04-05T00:00:00Z")


def test_service_rejects_reported_at_after_receipt(plan: LoadedPlan) -> None:
    out = _one(plan, record(reported_at="2025-04-06T00:00:00Z"), received_at=RECEIVED)
    _assert_rejected(out, "reported_at", "later than the time of receipt 2025-04-05T00:00:00Z")


def test_service_missing_reported_at_gets_receipt_time(plan: LoadedPlan) -> None:
    ledger = Ledger(plan)
    assert ledger.add({k: v for k, v in record().items() if k != "reported_at"}, received_at=RECEIVED).status == "stored"
    r = ledger.records["r1"]
    assert r.reported_at == r.known_at == r.received_at == RECEIVED


def test_service_observed_after_receipt_rejected(plan: LoadedPlan) -> None:
    raw = {k: v for k, v in record(observed_at="2025-04-06T00:00:00Z").items() if k != "reported_at"}
    _assert_rejected(_one(plan, raw, received_at=RECEIVED), "observed_at", "later than reported_at")


def test_service_knowledge_time_is_max_of_reported_and_received(plan: LoadedPlan) -> None:
    ledger = Ledger(plan)
    ledger.add(record(), received_at=RECEIVED)
    r = ledger.records["r1"]
    assert r.reported_at == parse_timestamp("2025-04-03T10:00:00Z")
    assert r.known_at == RECEIVED


def test_service_reported_at_equal_to_receipt_is_fine(plan: LoadedPlan) -> None:
    out = _one(plan, record(reported_at="2025-04-05T00:00:00Z"), received_at=RECEIVED)
    assert out.status == "stored"


def test_backfill_keeps_reported_at(plan: LoadedPlan) -> None:
    ledger = Ledger(plan)
    ledger.add(record(), received_at=RECEIVED, backfill=True)
    r = ledger.records["r1"]
    assert r.known_at == r.reported_at == parse_timestamp("2025-04-03T10:00:00Z")
    assert r.received_at == RECEIVED


# --- boundaries and the JSON forms ---------------------------------------------------------------


@pytest.mark.parametrize("raw", [record(value=0), record(value=20, **POL), record(value=0.0, **POL)],
                         ids=["integer at min", "number at max", "number at min"])
def test_range_is_inclusive(plan: LoadedPlan, raw: dict[str, Any]) -> None:
    assert _one(plan, raw).status == "stored"


def test_retried_withdrawal_and_unreadable_retry(plan: LoadedPlan) -> None:
    ledger = Ledger(plan)
    withdrawal = record("w", supersedes="r1", value=None)
    assert [ledger.add(r).status for r in (record(), withdrawal)] == ["stored", "stored"]
    assert ledger.add(dict(withdrawal)).status == "duplicate"  # null equals null
    _assert_rejected(ledger.add(dict(withdrawal, value=7)), "value", "conflicts")
    _assert_rejected(ledger.add(record(value=None)), "value", "conflicts")  # a value retried as null
    _assert_rejected(ledger.add(record(observed_at="not a time")), "observed_at", "conflicts")
    _assert_rejected(ledger.add(record(observed_at=20250331)), "observed_at", "conflicts")


def test_records_and_outcomes_as_json(plan: LoadedPlan) -> None:
    ledger = Ledger(plan)
    ledger.add(record())
    ledger.add(record("r2", supersedes="r1", value=5, provenance={"uri": "s3://x", "sha256": "ab"}))
    assert ledger.records["r1"].to_json() == {
        "id": "r1", "mission": "lakeland", "indicator": "inc", "value": 7, "observed_at": "2025-03-31T00:00:00Z",
        "reported_at": "2025-04-03T10:00:00Z", "source": "jmac"}
    assert ledger.records["r2"].to_json() == {**record("r2", value=5), "supersedes": "r1",
                                              "provenance": {"uri": "s3://x", "sha256": "ab"}}
    assert Outcome("stored", "r1").to_json() == {"status": "stored", "id": "r1"}
    bad = ledger.add(record("r3", value=-1), line=4)
    assert bad.to_json() == {"status": "rejected", "id": "r3", "line": 4, "errors": [
        {"field": "value", "reason": "-1 is below the indicator's minimum 0"}]}
    assert "line" not in ledger.add(record("r3", value=-1)).to_json()


def test_a_lone_surrogate_rejection_keeps_the_records_id_when_it_is_one(plan: LoadedPlan) -> None:
    kept = Ledger(plan).add(record(rid="r-lone", provenance={"uri": "x\ud800"}), line=1)
    lost = Ledger(plan).add(record(rid="bad id", provenance={"uri": "x\ud800"}), line=1)
    assert (kept.status, kept.id, lost.status, lost.id) == ("rejected", "r-lone", "rejected", None)
    assert kept.errors[0].field == "provenance.uri"
