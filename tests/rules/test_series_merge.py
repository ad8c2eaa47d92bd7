"""An index grown by `with_records`, batch after batch, is the index built from all the records
at once: the same arrays in the same order, the same unusable records, the same count; a batch
given twice adds once; the index it grew from is left as it was."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from rules.evidence import Record, read_jsonl
from rules.plan import load_plan_file
from rules.series import EvidenceIndex

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "valdoria"


def _accepted() -> list[Record]:
    plan = load_plan_file(SAMPLE / "plan.json")
    ledger, _ = read_jsonl((SAMPLE / "evidence.jsonl").read_text(), plan)
    return list(ledger.records.values())  # acceptance order: a correction after its target


def assert_same(a: EvidenceIndex, b: EvidenceIndex) -> None:
    assert a.count == b.count and a.unusable == b.unusable and sorted(a.series) == sorted(b.series)
    for ind, s in a.series.items():
        t = b.series[ind]
        assert s.ids == t.ids, ind
        for name in ("obs", "known", "superseded_at", "is_point", "values"):
            assert np.array_equal(getattr(s, name), getattr(t, name)), (ind, name)


@pytest.mark.parametrize("seed", range(8))
def test_batches_in_acceptance_order_build_the_full_index(seed: int) -> None:
    recs = _accepted()
    assert any(r.supersedes for r in recs) and any(r.value is None for r in recs)
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(recs)), 12))
    index = EvidenceIndex(recs[:cuts[0]])
    for lo, hi in zip(cuts, [*cuts[1:], len(recs)], strict=True):
        before = index
        frozen = {k: (s.ids[:], s.superseded_at.copy()) for k, s in before.series.items()}
        index = index.with_records(rng.sample(recs[lo:hi], hi - lo))  # order within a batch: any
        for k, (ids, sup) in frozen.items():
            assert before.series[k].ids == ids and np.array_equal(before.series[k].superseded_at, sup)
    assert_same(index, EvidenceIndex(recs))


def test_records_already_held_are_skipped() -> None:
    recs = _accepted()
    full = EvidenceIndex(recs)
    assert_same(full.with_records(recs[100:160]), full)
    assert_same(EvidenceIndex(recs[:50]).with_records(recs[40:] + recs[40:60]), full)


def test_one_record_at_a_time_with_unusable_values() -> None:
    recs = _accepted()
    huge = Record("huge", recs[0].mission, recs[0].indicator, 2**60, recs[0].observed_at + 1,
                  recs[0].reported_at, recs[0].known_at, recs[0].source)
    index = EvidenceIndex(())
    for r in [*recs, huge]:
        index = index.with_records([r])
    assert "huge" in index.unusable
    assert_same(index, EvidenceIndex([*recs, huge]))


def test_a_large_batch_observed_before_the_records_held() -> None:
    # More than a few new records take the path that splices the id list; the records held
    # after the last new one must stay at its end.
    recs = _accepted()
    targets = {r.supersedes for r in recs if r.supersedes}
    plain = sorted((r for r in recs if r.supersedes is None and r.id not in targets), key=lambda r: r.observed_at)
    early, late = plain[:len(plain) // 2], plain[len(plain) // 2:]
    assert max(sum(r.indicator == i for r in early) for i in {r.indicator for r in early}) > 16
    assert_same(EvidenceIndex(late).with_records(early), EvidenceIndex(plain))
