"""verify_rows on chains built by hand (no database): each way a chain can be broken is named,
with the first bad entry."""

from __future__ import annotations

from store.audit import GENESIS, entry_hash, payload_text, verify_rows

Row = tuple[int, int, str, str | None, str, str, str]


def _chain(n: int) -> list[Row]:
    rows: list[Row] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        payload = {"n": seq}
        digest = entry_hash(seq, 1000 + seq, "k", "amara", payload, prev)
        rows.append((seq, 1000 + seq, "k", "amara", payload_text(payload), prev, digest))
        prev = digest
    return rows


def test_an_intact_chain_verifies() -> None:
    rows = _chain(3)
    got = verify_rows(rows, (3, rows[-1][6]))
    assert (got.ok, got.entries, got.first_bad, got.reason) == (True, 3, None, None)
    assert verify_rows([], None).ok


def test_a_payload_that_is_not_json() -> None:
    rows = _chain(3)
    rows[1] = (*rows[1][:4], "{not json", *rows[1][5:])
    got = verify_rows(rows, (3, rows[-1][6]))
    assert (got.ok, got.first_bad, got.reason) == (False, 2, "payload is not JSON")


def test_a_head_that_does_not_match_the_last_entry() -> None:
    rows = _chain(3)
    wrong_hash = verify_rows(rows, (3, "f" * 64))  # right count, another hash
    assert (wrong_hash.ok, wrong_hash.first_bad) == (False, 3)
    assert wrong_hash.reason == "the chain head records entry 3 but the log ends at entry 3"
    longer = verify_rows(rows[:2], (3, rows[-1][6]))  # the newest entry deleted
    assert (longer.ok, longer.first_bad) == (False, 3)
    shorter = verify_rows(rows, (2, rows[1][6]))
    assert (shorter.ok, shorter.first_bad) == (False, 2)
    missing = verify_rows(rows, None)
    assert (missing.ok, missing.reason) == (False, "the chain head is missing")
