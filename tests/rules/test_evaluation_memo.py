"""What evaluations keep to reuse (views serving an interval, benchmark results and their text
memoised on a view, each gate's digest resumed from where its text changed) never changes an
answer: after every kind of change to an index grown record by record, evaluating it again and
again gives exactly what a fresh index of the same records gives, digest included, and that
digest is the one CONTRACT 3 defines over the explanation shown."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from rules.evaluate import Waiver, evaluate_gate
from rules.evidence import Ledger, Record, read_jsonl
from rules.plan import LoadedPlan, load_plan_file
from rules.series import EvidenceIndex
from schemas.jsonfmt import sha256_canonical, sha256_canonical_resumed
from schemas.timefmt import DAY, parse_timestamp

from .helpers import bench, index_of, plan_with_rule, record

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "valdoria"
T = parse_timestamp


def _contract_digest(plan: LoadedPlan, out: dict[str, Any]) -> str:
    return sha256_canonical({"plan_sha256": plan.sha256, "gate": out["gate"], "explanation": out["explanation"]})


def _check(plan: LoadedPlan, warm: EvidenceIndex, records: list[Record], at: int,
           waivers: tuple[Waiver, ...] = ()) -> None:
    fresh = EvidenceIndex(records)
    for gate in plan.gates:
        got = evaluate_gate(plan, gate, warm, at, waivers)
        assert got == evaluate_gate(plan, gate, fresh, at, waivers), (gate, at)
        assert got["digest"] == _contract_digest(plan, got), (gate, at)


@pytest.mark.parametrize("seed", range(4))
def test_an_index_grown_and_evaluated_again_and_again_answers_as_a_fresh_one(seed: int) -> None:
    # The sample has corrections, withdrawals and late reports; records come in acceptance order
    # in batches, and each batch is evaluated around its knowledge times (just before, at, after,
    # and later, then earlier again), so memoised views and digests are met in every state.
    plan = load_plan_file(SAMPLE / "plan.json")
    ledger, _ = read_jsonl((SAMPLE / "evidence.jsonl").read_text(), plan)
    recs = list(ledger.records.values())
    assert any(r.supersedes for r in recs) and any(r.value is None for r in recs)
    rng = random.Random(seed)
    warm = EvidenceIndex(recs[:10])
    done = 10
    while done < len(recs):
        step = rng.randint(1, 40)
        batch = recs[done:done + step]
        done += len(batch)
        warm = warm.with_records(batch)
        newest = max(r.known_at for r in batch)
        for at in (newest - 1, newest, newest + 1, newest + 30 * DAY, newest):
            _check(plan, warm, recs[:done], at)


def test_each_kind_of_change_between_two_evaluations() -> None:
    plan = plan_with_rule({"all": [bench("m1", "inc", window="P30D", max_age="P10D"),
                                   bench("m2", "inc", aggregate="count", op=">=", threshold=2),
                                   bench("m3", "pol", aggregate="latest", op=">=", threshold=1)]})
    raws = [record("a", value=3, observed_at="2025-03-01T00:00:00Z", reported_at="2025-03-01T00:00:00Z"),
            record("b", value=4, observed_at="2025-03-05T00:00:00Z", reported_at="2025-03-05T00:00:00Z"),
            record("p", indicator="pol", value=2.0, source="moi", observed_at="2025-03-05T00:00:00Z",
                   reported_at="2025-03-05T00:00:00Z")]
    changes = [
        ("a new record", record("c", value=9, observed_at="2025-03-07T00:00:00Z",
                                reported_at="2025-03-07T00:00:00Z")),
        ("a correction", record("c2", value=1, supersedes="c", observed_at="2025-03-07T00:00:00Z",
                                reported_at="2025-03-08T00:00:00Z")),
        ("a withdrawal", record("w", value=None, supersedes="b", observed_at="2025-03-05T00:00:00Z",
                                reported_at="2025-03-09T00:00:00Z")),
        ("a late backfill", record("old", value=2, observed_at="2025-02-20T00:00:00Z",
                                   reported_at="2025-03-10T00:00:00Z")),
        ("a record known after the evaluation before it", record("late", value=5, observed_at="2025-03-08T00:00:00Z",
                                                                 reported_at="2025-03-12T00:00:00Z")),
    ]
    warm = index_of(plan, *raws)
    have = list(raws)
    waiver = (Waiver("m1", "ana", "agreed", until=T("2025-03-11T00:00:00Z")),)
    for what, raw in changes:
        at = T(raw["reported_at"])
        for t in (at - 1, at + DAY):  # evaluated (and memoised) before the index holds the change
            _check(plan, warm, _records(plan, have), t)
        have.append(raw)
        warm = warm.with_records([r for r in _records(plan, have) if r.id == raw["id"]])
        for t in (at - 1, at, at + DAY, at + 40 * DAY, at):
            _check(plan, warm, _records(plan, have), t)
            _check(plan, warm, _records(plan, have), t, waiver)
        assert warm.count == len(have), what


def _records(plan: LoadedPlan, raws: list[dict[str, Any]]) -> list[Record]:
    ledger = Ledger(plan)
    for raw in raws:
        assert ledger.add(raw).status == "stored", raw
    return list(ledger.records.values())


def test_an_explanation_changed_by_its_caller_changes_no_later_evaluation() -> None:
    plan = plan_with_rule({"all": [bench("b1", "inc")]})
    index = index_of(plan, record("a", value=3), record("b", value=4, observed_at="2025-04-01T00:00:00Z",
                                                         reported_at="2025-04-01T00:00:00Z"))
    at = T("2025-05-01T00:00:00Z")
    first = evaluate_gate(plan, next(iter(plan.gates)), index, at)
    kept = evaluate_gate(plan, first["gate"], index, at)
    first["explanation"]["children"][0]["evidence"].append("forged")
    assert evaluate_gate(plan, first["gate"], index, at + 1) == kept


def test_a_resumed_digest_is_the_digest_of_the_whole_text() -> None:
    rng = random.Random(5)

    def doc() -> dict[str, Any]:
        return {"gate": "g", "explanation": {"children": [
            {"evidence": [f"id{rng.randint(0, 9)}-{k}" for k in range(rng.choice([3, 400]))], "v": rng.randint(0, 3)}
            for _ in range(rng.randint(1, 6))]}}

    states = None
    docs = [doc() for _ in range(40)]
    for d in docs + docs[::-1] + [docs[0]] * 3:
        digest, states = sha256_canonical_resumed(d, states)
        assert digest == sha256_canonical(d)
    # A change in the middle, at the end, a shorter and a longer text, from the same states.
    base = doc()
    _, start = sha256_canonical_resumed(base, None)
    for change in ({**base, "gate": "h"}, {**base, "explanation": {"children": base["explanation"]["children"][:1]}},
                   {**base, "explanation": {"children": [*base["explanation"]["children"], {"v": 1}]}}):
        assert sha256_canonical_resumed(change, start)[0] == sha256_canonical(change)


def test_what_evaluations_keep_is_counted() -> None:
    plan = plan_with_rule({"all": [bench("b1", "inc")]})
    index = index_of(plan, record("a", value=3))
    assert index.memo_nbytes == 0
    evaluate_gate(plan, next(iter(plan.gates)), index, T("2025-05-01T00:00:00Z"))
    assert index.memo_nbytes > len('"evidence":["a"]')


def test_each_evidence_reference_a_memoised_result_holds_counts_8_bytes() -> None:
    # With no digest asked no explanation text is kept: what is left is the result memoised on
    # the view, listing one evidence id.
    plan = plan_with_rule({"all": [bench("b1", "inc")]})
    index = index_of(plan, record("a", value=3))
    evaluate_gate(plan, next(iter(plan.gates)), index, T("2025-05-01T00:00:00Z"), digest=False)
    assert index.memo_nbytes == 8
