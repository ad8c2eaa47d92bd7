"""Evidence ingestion into PostgreSQL through the real path, beside PostgreSQL's own COPY.

    python benchmarks/ingest_bench.py [--records 100000] [--eval-records 1000000] [--repeat 15] [--json]

(a) records/s for a JSON Lines import through Store.ingest (parse, CONTRACT section 2 checks,
    chunked transactions, audit entries) vs `COPY evidence FROM STDIN` of the same rows in the
    same run (the floor: no checks at all); goal >= 10,000 records/s. Also the CPU seconds of
    each (this process plus the server's backends, where PostgreSQL runs on this machine):
    under load wall time is a share of the CPU, and the share differs between this process
    and the server's.
(b) as-of evaluation of a 50-benchmark gate over --eval-records stored records, as the
    evaluate_gate activity reads it: cold (the gate's windows read from PostgreSQL) against warm
    (a worker's evidence index kept up to date from the outbox, store/warm.py), alternating,
    a new record stored before each repeat; both must give the evaluation of a full read.
Each part uses a throwaway database, dropped at the end (--keep-db keeps part (b)'s, and
--eval-db NAME reuses it without loading the records again).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
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
    def __init__(self, reuse: str | None = None) -> None:
        self.name = reuse or f"exitgate_bench_{uuid.uuid4().hex[:10]}"
        if reuse is None:
            with psycopg.connect(ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.name}"')
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.name}"
        self.dsn = f"postgresql://postgres@127.0.0.1:5432/{self.name}"

    def drop(self) -> None:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def _backend_cpu(dsn: str, pid: int | None = None) -> float | None:
    """CPU seconds the server's backends for this database (or one backend) have used, read
    from /proc: only where PostgreSQL runs on this machine (None elsewhere)."""
    if pid is None:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            db = dsn.rsplit("/", 1)[-1]
            pids = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s "
                                               "AND pid <> pg_backend_pid()", (db,))]
    else:
        pids = [pid]
    total = 0.0
    try:
        for p in pids:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, IndexError, ValueError):
        return None
    return total


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _copy_rows(dsn: str, lines: list[str]) -> tuple[float, float | None]:
    """Seconds for PostgreSQL's COPY of the same rows, already converted, into a table shaped
    like evidence (its indexes too): the floor, with no checks at all; and the CPU seconds it
    took, this process's and its backend's (None if the backend's cannot be read)."""
    rows = [(r["id"], r["mission"], r["indicator"], json.dumps(r["value"]), parse_timestamp(r["observed_at"]),
             parse_timestamp(r["reported_at"]), None, parse_timestamp(r["reported_at"]), r["source"], None, None, True)
            for r in (json.loads(x) for x in lines)]
    with psycopg.connect(dsn) as conn:
        conn.execute("DROP TABLE IF EXISTS evidence_copy")
        conn.execute("CREATE TABLE evidence_copy (LIKE evidence INCLUDING ALL)")
        conn.commit()
        pid = conn.info.backend_pid
        s0 = _backend_cpu(dsn, pid)
        t0, c0 = time.perf_counter(), time.process_time()
        with conn.cursor() as cur, cur.copy(
            "COPY evidence_copy (id, mission, indicator, value, observed_at, reported_at, received_at, "
            "known_at, source, supersedes, provenance, backfill) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        wall, client = time.perf_counter() - t0, time.process_time() - c0
        s1 = _backend_cpu(dsn, pid)
        return wall, (client + s1 - s0) if s0 is not None and s1 is not None else None


def _sizes(dsn: str, n: int) -> dict[str, Any]:
    """What an import of n records left in the store, per million records: rows, table and
    index bytes (PostgreSQL's own accounting, after VACUUM ANALYZE)."""
    out: dict[str, Any] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in ("evidence", "evidence_changes", "audit_log"):
            conn.execute(f"VACUUM ANALYZE {table}")
            rows, heap, idx = conn.execute(f"SELECT count(*), pg_table_size('{table}'), pg_indexes_size('{table}') "
                                           f"FROM {table}").fetchone() or (0, 0, 0)
            per = 1_000_000 / n
            out[table] = {"rows_per_million": round(rows * per), "table_mib_per_million": round(heap * per / 2**20, 1),
                          "index_mib_per_million": round(idx * per / 2**20, 1)}
    return out


def bench_ingest(n: int, repeat: int) -> dict[str, Any]:
    """Each repeat in a fresh database: the import, then COPY (or the other way round, in
    alternate repeats); a second import of the same lines, which must store nothing."""
    end = parse_timestamp("2026-01-01T00:00:00Z")
    plan = load_plan(plan_doc())
    lines = [json.dumps(r) for r in records(n, end)]
    ingest_t: list[float] = []
    copy_t: list[float] = []
    ingest_cpu: list[float | None] = []
    copy_cpu: list[float | None] = []
    sizes: dict[str, Any] = {}
    for i in range(repeat):
        db = Database()
        try:
            with Store.from_url(db.url) as store:
                store.register_mission(plan, "bench")

                def ingest(store: Store = store, dsn: str = db.dsn) -> None:
                    s0 = _backend_cpu(dsn)
                    t0, c0 = time.perf_counter(), time.process_time()
                    outcomes = store.ingest(plan, lines, backfill=True, actor="bench", lines=True)
                    ingest_t.append(time.perf_counter() - t0)
                    client, s1 = time.process_time() - c0, _backend_cpu(dsn)
                    ingest_cpu.append(client + s1 - s0 if s0 is not None and s1 is not None else None)
                    assert sum(o.status == "stored" for o in outcomes) == n

                def copy(dsn: str = db.dsn) -> None:
                    wall, cpu = _copy_rows(dsn, lines)
                    copy_t.append(wall)
                    copy_cpu.append(cpu)

                for step in ((ingest, copy) if i % 2 == 0 else (copy, ingest)):
                    step()
                if i == 0:
                    sizes = _sizes(db.dsn, n)
                again = store.ingest(plan, lines[: min(n, 5000)], backfill=True, actor="bench", lines=True)
                assert all(o.status == "duplicate" for o in again), "a re-sent import must store nothing"
        finally:
            db.drop()
    ratios = sorted(c / t for c, t in zip(copy_t, ingest_t, strict=True))
    ing, cop = statistics.median(ingest_t), statistics.median(copy_t)
    # Under load, wall time is mostly a share of the CPU, and the import's work is in this
    # (niced) process while COPY's is in the server's: CPU seconds, client plus server, compare
    # the work itself.
    cpu_ratios = sorted(c / t for c, t in zip(copy_cpu, ingest_cpu, strict=True) if c is not None and t is not None)
    cpu: dict[str, Any] = {}
    if cpu_ratios:
        cpu = {"ingest_cpu_s_all": [round(x, 2) for x in ingest_cpu if x is not None],
               "copy_cpu_s_all": [round(x, 2) for x in copy_cpu if x is not None],
               "ingest_vs_copy_cpu": round(statistics.median(cpu_ratios), 3),
               "ingest_vs_copy_cpu_range": [round(cpu_ratios[0], 3), round(cpu_ratios[-1], 3)]}
    return {"records": n, "repeats": repeat, "ingest_s": round(ing, 3), "ingest_per_s": round(n / ing),
            "ingest_s_all": [round(x, 3) for x in ingest_t], "copy_s": round(cop, 3), "copy_per_s": round(n / cop),
            "copy_s_all": [round(x, 3) for x in copy_t],
            "ingest_vs_copy": round(statistics.median(ratios), 3),
            "ingest_vs_copy_range": [round(ratios[0], 3), round(ratios[-1], 3)],
            **cpu, "load_average": round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None,
            "goal_per_s": 10_000, "goal_vs_copy": 0.4, "store_per_million": sizes}


def _load_eval_db(db: Database, n: int, end: int) -> None:
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


def _spread(xs: list[float]) -> dict[str, float]:
    xs = sorted(x * 1e3 for x in xs)
    return {"median": round(statistics.median(xs), 2), "min": round(xs[0], 2), "max": round(xs[-1], 2)}


def bench_eval(n: int, repeat: int, reuse: str | None, keep: bool) -> dict[str, Any]:
    """The gate read of the evaluate_gate activity, cold (the windowed read of the database) and
    warm (store/warm.py), alternating; in each repeat a new record arrives first, as before
    every evaluation an evidence signal starts."""
    end = parse_timestamp("2026-01-01T00:00:00Z")
    plan = load_plan(plan_doc())
    db = Database(reuse)
    run = uuid.uuid4().hex[:6]
    try:
        with Store.from_url(db.url) as store, Store.from_url(db.url) as worker:
            store.register_mission(plan, "bench")
            if reuse is None:
                _load_eval_db(db, n, end)
            stored = store.evidence_count("bench")
            as_of = end
            t0 = time.perf_counter()
            index = store.evidence_index("bench", as_of)
            load_s = time.perf_counter() - t0
            evals = []
            for _ in range(5):
                t1 = time.perf_counter()
                full = evaluate_gate(plan, "g", index, as_of)
                evals.append(time.perf_counter() - t1)
            del index
            inds, horizons = plan.gate_indicators("g"), plan.gate_horizons("g")
            warm = worker.keep_evidence_warm(2 * stored + 1000)
            t0 = time.perf_counter()
            first = evaluate_gate(plan, "g", worker.evidence_index("bench", as_of, inds, horizons), as_of)
            warm_load_s = time.perf_counter() - t0
            assert first == full, "the warm index must give the evaluation of a full read"
            cold_t: list[float] = []
            warm_t: list[float] = []
            quiet_t: list[float] = []
            quiet_cpu: list[float] = []
            warm_cpu: list[float] = []  # this process's CPU (the database's own is not in it)
            for i in range(repeat):
                at = as_of + 1000 * (i + 1)
                rec = {"id": f"new-{run}-{i}", "mission": "bench", "indicator": f"i{i % INDICATORS}",
                       "value": 50, "observed_at": format_timestamp(at - DAY), "source": "feed"}
                assert store.ingest(plan, [rec], received_at=at, actor="bench")[0].status == "stored"
                results = {}
                for name, who, times in (("warm", worker, warm_t), ("cold", store, cold_t))[:: 1 if i % 2 else -1]:
                    t1, c1 = time.perf_counter(), time.process_time()
                    results[name] = evaluate_gate(plan, "g", who.evidence_index("bench", at, inds, horizons), at)
                    times.append(time.perf_counter() - t1)
                    if name == "warm":
                        warm_cpu.append(time.process_time() - c1)
                t1, c1 = time.perf_counter(), time.process_time()  # nothing stored since: one outbox query
                again = evaluate_gate(plan, "g", worker.evidence_index("bench", at, inds, horizons), at)
                quiet_t.append(time.perf_counter() - t1)
                quiet_cpu.append(time.process_time() - c1)
                assert results["warm"] == results["cold"] == again, "warm and cold reads must agree"
            held = warm.stats()
    finally:
        if keep or reuse:
            print(f"kept database {db.name} (reuse with --eval-db {db.name})", file=sys.stderr)
        else:
            db.drop()
    warm_s, cold_s, quiet_s = _spread(warm_t), _spread(cold_t), _spread(quiet_t)
    return {"records": stored, "repeats": repeat, "load_index_s": round(load_s, 3),
            # The first evaluation of a new index works everything out; the others reuse it.
            "evaluate_gate_first_ms": round(evals[0] * 1e3, 2), "evaluate_gate_ms_best": round(min(evals) * 1e3, 2),
            "evaluate_gate_ms_median": round(statistics.median(evals) * 1e3, 2),
            "full_read_and_evaluate_s": round(load_s + min(evals), 3),
            "gate_read_and_evaluate_ms_median": warm_s["median"], "gate_read_and_evaluate_ms": warm_s,
            "warm_nothing_new_ms": quiet_s, "warm_cpu_ms": _spread(warm_cpu),
            "warm_nothing_new_cpu_ms": _spread(quiet_cpu), "cold_gate_read_and_evaluate_ms": cold_s,
            "cold_vs_warm": round(cold_s["median"] / warm_s["median"], 1), "warm_first_load_s": round(warm_load_s, 3),
            "warm_held": held, "goal_ms": 20}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--eval-records", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=15, help="alternating cold/warm gate reads")
    ap.add_argument("--eval-db", help="a database kept by --keep-db: its records are not loaded again")
    ap.add_argument("--keep-db", action="store_true", help="keep part (b)'s database for --eval-db")
    ap.add_argument("--ingest-repeat", type=int, default=3, help="alternating import/COPY repeats")
    ap.add_argument("--skip-ingest", action="store_true")
    ap.add_argument("--skip-eval", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    figures = {"ingest": None if args.skip_ingest else bench_ingest(args.records, args.ingest_repeat),
               "as_of_gate": None if args.skip_eval else bench_eval(args.eval_records, args.repeat, args.eval_db,
                                                                    args.keep_db)}
    if args.json:
        print(json.dumps(figures))
        return 0
    a, b = figures["ingest"], figures["as_of_gate"]
    if a is not None:
        lo, hi = a["ingest_vs_copy_range"]
        print(f"(a) {a['records']:,} records via JSON Lines import: {a['ingest_per_s']:,}/s ({a['ingest_s']} s median "
              f"of {a['repeats']}); COPY of the same rows: {a['copy_per_s']:,}/s; ingestion = "
              f"{a['ingest_vs_copy']:.3f}x COPY ({lo}-{hi}; goal >= {a['goal_vs_copy']}x), load average {a['load_average']}")
        if "ingest_vs_copy_cpu" in a:
            clo, chi = a["ingest_vs_copy_cpu_range"]
            print(f"    CPU (this process and the server's backends): import {a['ingest_cpu_s_all']} s, COPY "
                  f"{a['copy_cpu_s_all']} s; ingestion = {a['ingest_vs_copy_cpu']:.3f}x COPY by CPU ({clo}-{chi})")
    if b is None:
        return 0
    w, c, q, h = b["gate_read_and_evaluate_ms"], b["cold_gate_read_and_evaluate_ms"], b["warm_nothing_new_ms"], b["warm_held"]
    print(f"(b) gate of 50 benchmarks over {b['records']:,} stored records, a new record before each of "
          f"{b['repeats']} alternating repeats: warm index {w['median']} ms median ({w['min']}-{w['max']}), "
          f"cold windowed read {c['median']} ms ({c['min']}-{c['max']}): {b['cold_vs_warm']}x; warm with nothing new "
          f"{q['median']} ms (goal < {b['goal_ms']} ms)")
    print(f"    warm index: first load {b['warm_first_load_s']} s, holds {h['records']:,} records in "
          f"{h['bytes'] / 2**20:.0f} MiB; reading every record: {b['load_index_s']} s, "
          f"then evaluate {b['evaluate_gate_first_ms']} ms (again: {b['evaluate_gate_ms_median']} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
