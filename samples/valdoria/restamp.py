"""Print JSON Lines evidence with every `observed_at` and `reported_at` moved by one amount, so
the newest report is an hour ago (or at --end). Standard library only.

Why: the sample's records are dated 2023-2025, and benchmarks go stale (`max_age`), so as of
today they cannot open a gate. The README's walk-through submits `records.jsonl` restamped:

    python3 samples/valdoria/restamp.py samples/valdoria/records.jsonl > records.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

FIELDS = ("observed_at", "reported_at")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def restamp(records: list[dict[str, object]], end: datetime) -> list[dict[str, object]]:
    newest = max(parse(str(r.get("reported_at") or r["observed_at"])) for r in records)
    # Whole seconds, so the output keeps the input's precision.
    delta = timedelta(seconds=int((end - newest).total_seconds()))
    return [{**r, **{f: (parse(str(r[f])) + delta).strftime("%Y-%m-%dT%H:%M:%SZ") for f in FIELDS if f in r}}
            for r in records]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", type=Path, help="JSON Lines, one record per line")
    ap.add_argument("--end", help="RFC 3339 instant of the newest report (default: an hour ago)")
    args = ap.parse_args()
    end = parse(args.end) if args.end else datetime.now(UTC) - timedelta(hours=1)
    lines = [ln for ln in args.file.read_text(encoding="utf-8").splitlines() if ln.strip()]
    for r in restamp([json.loads(ln) for ln in lines], end):
        sys.stdout.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
