"""A separate process that imports a file into a store: the concurrency and crash tests run it."""

from __future__ import annotations

import sys

from rules.plan import load_plan_file
from store import Store

if __name__ == "__main__":
    url, plan_path, evidence_path, chunk = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    store = Store(Store.from_url(url).engine, chunk_size=chunk)
    plan = load_plan_file(plan_path)
    with open(evidence_path, encoding="utf-8") as fh:
        store.ingest(plan, fh.read().splitlines(), backfill=True, actor=f"importer-{chunk}", lines=True)
