"""The hash-chained audit log: each entry's hash covers its canonical JSON and the previous hash.

Anyone can check an export without exitgate (see README): recompute
sha256(canonical_json({"seq", "at", "kind", "actor", "payload", "prev_hash"})) line by line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from schemas.jsonfmt import canonical_json, sha256_canonical

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: int
    kind: str
    actor: str | None
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at, "kind": self.kind, "actor": self.actor,
                "payload": self.payload, "prev_hash": self.prev_hash, "hash": self.hash}


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    first_bad: int | None = None
    reason: str | None = None


def entry_hash(seq: int, at: int, kind: str, actor: str | None, payload: dict[str, Any], prev_hash: str) -> str:
    return sha256_canonical({"seq": seq, "at": at, "kind": kind, "actor": actor, "payload": payload,
                             "prev_hash": prev_hash})


def payload_text(payload: dict[str, Any]) -> str:
    return canonical_json(payload).decode("utf-8")


def verify_rows(rows: Iterable[tuple[int, int, str, str | None, str, str, str]],
                head: tuple[int, str] | None) -> VerifyResult:
    """rows: (seq, at, kind, actor, payload_text, prev_hash, hash) in seq order."""
    prev = GENESIS
    expected_seq = 1
    count = 0
    for seq, at, kind, actor, payload, prev_hash, digest in rows:
        count += 1
        if seq != expected_seq:
            return VerifyResult(False, count, expected_seq, f"entry {expected_seq} is missing (found {seq} next)")
        if prev_hash != prev:
            return VerifyResult(False, count, seq, "prev_hash does not match the previous entry's hash")
        try:
            body = json.loads(payload)
        except ValueError:
            return VerifyResult(False, count, seq, "payload is not JSON")
        if payload_text(body) != payload or entry_hash(seq, at, kind, actor, body, prev_hash) != digest:
            return VerifyResult(False, count, seq, "hash does not match the entry's content")
        prev = digest
        expected_seq += 1
    if head is None and count:
        # The head row is written with the first entry: without it, trailing deletions would pass.
        return VerifyResult(False, count, count, "the chain head is missing")
    if head is not None and (head[0] != count or head[1] != prev):
        return VerifyResult(False, count, count + 1 if head[0] > count else head[0],
                            f"the chain head records entry {head[0]} but the log ends at entry {count}")
    return VerifyResult(True, count)
