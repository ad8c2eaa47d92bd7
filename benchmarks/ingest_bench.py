"""Evidence ingestion into PostgreSQL through the real path, beside PostgreSQL's own COPY.

    python benchmarks/ingest_bench.py [--records 100000] [--eval-records 1000000] [--json]

(a) records/s for a JSON Lines import through Store.ingest (parse, CONTRACT section 2 checks,
    chunked transactions, audit entries) vs `COPY evidence FROM STDIN` of the same rows in the
    same run (the floor: no checks at all); goal >= 10,000 records/s.
(b) as-of evaluation of a 50-benchmark gate over --eval-records stored records: loading the
    index from PostgreSQL, then rules.evaluate.evaluate_gate.
Each part uses a throwaway database, dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rules.evaluate import evaluate_gate
from rules.plan import load_plan
from schemas.timefmt import DAY, format_timestamp, parse_timestamp
from store import Store

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
INDICATORS = 50


def plan_doc() -> dict[str, Any]:
    aggs = ["latest", "mean", "min", "max", "sum", "count", "change", "trend"]
    rng = random.Random(3)
    benches = [{"benchmark": {"id": f"b{k}", "indicator": f"i{k}", "aggregate": aggs[k % 8],
                              "op": rng.choice(["<=", ">="]), "threshold": rng.randint(0, 100),
                              "window": "P90D", **({"max_age": "P30D"} if k % 3 == 0 else {})}}
               for k in range(INDICATORS)]
    return {"plan": "bench", "mission": {"id": "bench", "name": "bench"},
            "indicators": [{"id": f"i{k}", "name": f"I{k}", "kind": "number", "sources": ["feed"]}
                           for k in range(INDICATORS)],
            "phases": [{"id": "p", "name": "p", "gates": [{"id": "g", "name": "g", "rule": {"all": benches},
                                                           "approval": {"roles": ["a"], "quorum": 1}}]}]}


def records(n: int, end: int) -> list[dict[str, Any]]:
    rng = random.Random(11)
    span = 3 * 365 * DAY
    out = []
    for i in range(n):
        obs = end - span + (i * span) // n
        out.append({"id": f"R{i}", "mission": "bench", "indicator": f"i{i % INDICATORS}",
                    "value": round(rng.uniform(0, 100), 3), "observed_at": format_timestamp(obs),
                    "reported_at": format_timestamp(obs + DAY), "source": "feed"})
    return out


class Database:
    def __init__(self) -> None:
        self.name = f"exitgate_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.name}"
        self.dsn = f"postgresql://postgres@127.0.0.1:5432/{self.name}"

    def drop(self) -> None:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def bench_ingest(n: int) -> dict[str, Any]:
    end = parse_timestamp("2026-01-01T00:00:00Z")
    plan = load_plan(plan_doc())
    lines = [json.dumps(r) for r in records(n, end)]
    db = Database()
    try:
        with Store.from_url(db.url) as store:
            store.register_mission(plan, "bench")
            t0 = time.perf_counter()
            outcomes = store.ingest(plan, lines, backfill=True, actor="bench", lines=True)
            ingest_s = time.perf_counter() - t0
            assert sum(o.status == "stored" for o in outcomes) == n
            # The floor: the same rows, already converted, copied straight into the table.
            with psycopg.connect(db.dsn) as conn:
                conn.execute("CREATE TABLE evidence_copy (LIKE evidence INCLUDING ALL)")
                rows = [(r["id"], r["mission"], r["indicator"], json.dumps(r["value"]),
                         parse_timestamp(r["observed_at"]), parse_timestamp(r["reported_at"]), None,
                         parse_timestamp(r["reported_at"]), r["source"], None, None, True)
                        for r in (json.loads(x) for x in lines)]
                t0 = time.perf_counter()
                with conn.cursor() as cur, cur.copy(
                    "COPY evidence_copy (id, mission, indicator, value, observed_at, reported_at, received_at, "
                    "known_at, source, supersedes, provenance, backfill) FROM STDIN"
                ) as copy:
                    for row in rows:
                        copy.write_row(row)
                conn.commit()
                copy_s = time.perf_counter() - t0
    finally:
        db.drop()
    return {"records": n, "ingest_s": round(ingest_s, 3), "ingest_per_s": round(n / ingest_s),
            "copy_s": round(copy_s, 3), "copy_per_s": round(n / copy_s),
            "ingest_vs_copy": round((n / ingest_s) / (n / copy_s), 3), "goal_per_s": 10_000}


def bench_eval(n: int) -> dict[str, Any]:
    end = parse_timestamp("2026-01-01T00:00:00Z")
    plan = load_plan(plan_doc())
    db = Database()
    try:
        with Store.from_url(db.url) as store:
            store.register_mission(plan, "bench")
            # Loading a million records goes through COPY: part (a) measures the ingestion path.
            with psycopg.connect(db.dsn) as conn, conn.cursor() as cur:
                with cur.copy("COPY evidence (id, mission, indicator, value, observed_at, reported_at, "
                              "received_at, known_at, source, supersedes, provenance, backfill) FROM STDIN") as copy:
                    for r in records(n, end):
                        obs = parse_timestamp(r["observed_at"])
                        copy.write_row((r["id"], "bench", r["indicator"], json.dumps(r["value"]), obs, obs + DAY,
                                        None, obs + DAY, "feed", None, None, True))
                conn.commit()
                cur.execute("ANALYZE evidence")
            as_of = end
            t0 = time.perf_counter()
            index = store.evidence_index("bench", as_of)
            load_s = time.perf_counter() - t0
            evals = []
            for i in range(5):
                t1 = time.perf_counter()
                full = evaluate_gate(plan, "g", index, as_of + i)
                evals.append(time.perf_counter() - t1)
            # What the evaluate_gate activity does: read only the gate's windows (and corrections).
            gated = []
            for _ in range(5):
                t1 = time.perf_counter()
                part_index = store.evidence_index("bench", as_of + 4, plan.gate_indicators("g"), plan.gate_horizons("g"))
                part = evaluate_gate(plan, "g", part_index, as_of + 4)
                gated.append(time.perf_counter() - t1)
            assert part == full, "a windowed read must give the very same evaluation"
    finally:
        db.drop()
    return {"records": n, "load_index_s": round(load_s, 3), "evaluate_gate_ms_best": round(min(evals) * 1e3, 2),
            "evaluate_gate_ms_median": round(sorted(evals)[2] * 1e3, 2),
            "full_read_and_evaluate_s": round(load_s + min(evals), 3),
            "gate_read_and_evaluate_ms_best": round(min(gated) * 1e3, 1),
            "gate_read_and_evaluate_ms_median": round(sorted(gated)[2] * 1e3, 1)}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--eval-records", type=int, default=1_000_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    figures = {"ingest": bench_ingest(args.records), "as_of_gate": bench_eval(args.eval_records)}
    if args.json:
        print(json.dumps(figures))
        return 0
    a, b = figures["ingest"], figures["as_of_gate"]
    print(f"(a) {a['records']:,} records via JSON Lines import: {a['ingest_per_s']:,}/s ({a['ingest_s']} s); "
          f"COPY of the same rows: {a['copy_per_s']:,}/s; ingestion = {a['ingest_vs_copy']:.3f}x COPY "
          f"(goal >= {a['goal_per_s']:,}/s)")
    print(f"(b) gate of 50 benchmarks over {b['records']:,} stored records: as of one instant, reading the gate's "
          f"windows and evaluating: {b['gate_read_and_evaluate_ms_median']} ms median "
          f"({b['gate_read_and_evaluate_ms_best']} ms best); reading every record instead: {b['load_index_s']} s, "
          f"then evaluate {b['evaluate_gate_ms_median']} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
