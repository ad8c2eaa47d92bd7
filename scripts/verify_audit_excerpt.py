"""Check an audit excerpt offline: a decision dossier's (its PDF, the PDF's text, or its
audit.jsonl) or any JSON Lines of audit entries. Needs only Python and rfc8785; pypdf to read
a PDF directly.

    python scripts/verify_audit_excerpt.py dossier.pdf
    python scripts/verify_audit_excerpt.py dossier.txt     # the PDF's text, copied out
    python scripts/verify_audit_excerpt.py audit-excerpt.jsonl --head 1234:<hash>

Each entry's hash is recomputed from its content (as README's export check does); entries that
follow each other in the log (seq n, n+1) must link by prev_hash; the entry that the excerpt's
chain head names must carry that hash. With --export, every excerpt entry must also appear,
identical, in a full export that itself verifies from entry 1 to its head.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import sys

import rfc8785

BEGIN, END = "-----BEGIN EXITGATE AUDIT EXCERPT-----", "-----END EXITGATE AUDIT EXCERPT-----"
FIELDS = ("seq", "at", "kind", "actor", "payload", "prev_hash")


def entry_hash(e: dict) -> str:
    return hashlib.sha256(rfc8785.dumps({k: e[k] for k in FIELDS})).hexdigest()


def read_input(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    if path.lower().endswith(".pdf"):
        from pypdf import PdfReader

        return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
    with open(path, encoding="utf-8") as fp:
        return fp.read()


def parse(text: str) -> tuple[list[dict], tuple[int, str] | None]:
    """Entries and the chain head (seq, hash) from an armored block, else from JSON Lines."""
    if BEGIN in text:
        block = text.split(BEGIN, 1)[1].split(END, 1)[0]
        fields = dict(re.findall(r"^\s*([A-Za-z-]+):\s*(\S+)\s*$", block, re.M))
        body = "".join(ln.strip() for ln in block.splitlines() if ln.strip() and ":" not in ln)
        lines = base64.b64decode(re.sub(r"\s+", "", body), validate=True).decode("utf-8").splitlines()
        head = (int(fields["Head-Seq"]), fields["Head-Hash"]) if "Head-Seq" in fields else None
        return [json.loads(ln) for ln in lines if ln.strip()], head
    return [json.loads(ln) for ln in text.splitlines() if ln.strip()], None


def check(entries: list[dict], head: tuple[int, str] | None) -> str:
    if not entries:
        raise SystemExit("no audit entries found")
    prev = None
    for e in entries:
        if entry_hash(e) != e["hash"]:
            raise SystemExit(f"entry {e['seq']}: its hash does not match its content")
        if prev is not None:
            if e["seq"] <= prev["seq"]:
                raise SystemExit(f"entry {e['seq']}: entries are not in log order")
            if e["seq"] == prev["seq"] + 1 and e["prev_hash"] != prev["hash"]:
                raise SystemExit(f"entry {e['seq']}: prev_hash does not link to entry {prev['seq']}")
        prev = e
    if head is not None:
        at_head = next((e for e in entries if e["seq"] == head[0]), None)
        if at_head is None:
            raise SystemExit(f"the chain head (entry {head[0]}) is not in the excerpt")
        if at_head["hash"] != head[1]:
            raise SystemExit(f"entry {head[0]} does not carry the chain head's hash")
    return f"OK: {len(entries)} entries" + (f", chain head {head[0]} {head[1]}" if head else "")


def check_export(entries: list[dict], export: str) -> None:
    full, prev = {}, "0" * 64
    with open(export, encoding="utf-8") as fp:
        for n, line in enumerate(fp, 1):
            e = json.loads(line)
            if e["seq"] != n or e["prev_hash"] != prev or entry_hash(e) != e["hash"]:
                raise SystemExit(f"the export is broken at entry {n}")
            full[n], prev = e, e["hash"]
    for e in entries:
        if full.get(e["seq"]) != e:
            raise SystemExit(f"entry {e['seq']} of the excerpt differs from the export's")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("path", help="a dossier PDF, its text, or JSON Lines of entries ('-': standard input)")
    ap.add_argument("--head", help="SEQ:HASH of the chain head, when the input does not carry it")
    ap.add_argument("--export", help="a full `exitgate audit export` to find every entry in")
    args = ap.parse_args()
    entries, head = parse(read_input(args.path))
    if args.head:
        seq, _, digest = args.head.partition(":")
        head = (int(seq), digest)
    result = check(entries, head)
    if args.export:
        check_export(entries, args.export)
        result += f"; all in {args.export}"
    print(result)


if __name__ == "__main__":
    main()
