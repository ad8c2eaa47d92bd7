"""Evidence throughput and latency through the HTTP API, against the service called in process.

Starts uvicorn on loopback in a child process serving the real app over the service (the
sample Valdoria plan) on a fresh database (`--store sqlite`: a SQLite file; `postgresql`: a new
database in the PostgreSQL on 127.0.0.1:5432), as `exitgate api` serves it, then measures:

- records/s posted as JSON arrays of `--batch` records (goal: >= 5,000/s in batches of 1,000);
- single-record POST latency, p50 and p99;
- the baseline: the same records through `Service.ingest` called in process, no HTTP.

No Temporal: there is no running phase to tell, so both sides measure acceptance alone (the
in-memory mode went with api/inprocess.py).

    python benchmarks/api_bench.py [--records 20000] [--batch 1000] [--singles 300]
                                   [--store sqlite|postgresql] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PLAN = ROOT / "samples" / "valdoria" / "plan.json"


def store_service(url: str) -> Any:
    from rules.plan import load_plan_file
    from service import Service
    from store import Store

    store = Store.from_url(url)
    store.register_mission(load_plan_file(PLAN), "bench")
    return Service(store, None)  # type: ignore[arg-type]  # no Temporal: no workflow to tell in a benchmark


def fresh_database(kind: str, tmp: str, name: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{Path(tmp) / name}.sqlite"
    import psycopg

    db = f"exitgate_apibench_{name}_{os.getpid()}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}"


def drop_database(url: str) -> None:
    if url.startswith("postgresql"):
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def bench_app() -> Any:
    """uvicorn factory for the child process: the service over the database EXITGATE_BENCH_STORE
    names; keys from EXITGATE_API_KEYS_FILE."""
    from api.app import create_app
    from api.settings import ApiSettings
    from service.keys import KeyRegistry

    settings = ApiSettings(max_body_bytes=64 * 1024 * 1024)
    return create_app(settings, store_service(os.environ["EXITGATE_BENCH_STORE"]),
                      KeyRegistry(settings.api_keys_file))


def records(n: int, prefix: str) -> list[dict[str, Any]]:
    base = 1_600_000_000  # 2020-09-13, well before any time of receipt
    return [{"id": f"{prefix}-{i}", "mission": "valdoria", "indicator": "sec.security_incidents",
             "value": i % 50, "observed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + i * 60)),
             "source": "sage"} for i in range(n)]


def baseline(recs: list[dict[str, Any]], batch: int, singles: list[dict[str, Any]],
             store_url: str) -> tuple[float, list[float]]:
    evidence = store_service(store_url)

    async def run() -> None:
        for i in range(0, len(recs), batch):
            out = await evidence.ingest("valdoria", recs[i:i + batch], actor="bench")
            assert all(o.status == "stored" for o in out)

    async def one_by_one() -> list[float]:
        lat = []
        for rec in singles:
            t = time.perf_counter()
            await evidence.ingest("valdoria", [rec], actor="bench")
            lat.append((time.perf_counter() - t) * 1000)
        return lat

    start = time.perf_counter()
    asyncio.run(run())
    rps = len(recs) / (time.perf_counter() - start)
    return rps, asyncio.run(one_by_one())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=1_000)
    ap.add_argument("--singles", type=int, default=300)
    ap.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from service.keys import KeyRegistry

    with tempfile.TemporaryDirectory() as tmp:
        keys_file = Path(tmp) / "keys.json"
        key, _ = KeyRegistry(keys_file).create_system("sage", ["valdoria"], ["sage"])
        port = free_port()
        env = {**os.environ, "EXITGATE_API_KEYS_FILE": str(keys_file), "PYTHONPATH": str(ROOT)}
        http_db, base_db = fresh_database(args.store, tmp, "http"), fresh_database(args.store, tmp, "base")
        env["EXITGATE_BENCH_STORE"] = http_db
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "benchmarks.api_bench:bench_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
            cwd=ROOT, env=env)
        try:
            url = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as client:
                for _ in range(1200):  # the child migrates its database first
                    try:
                        client.get("/healthz")
                        break
                    except httpx.TransportError:
                        time.sleep(0.05)
                endpoint = "/v1/missions/valdoria/evidence"
                client.post(endpoint, json=records(args.batch, "warmup"))
                recs = records(args.records, "batch")
                start = time.perf_counter()
                for i in range(0, len(recs), args.batch):
                    r = client.post(endpoint, json=recs[i:i + args.batch])
                    assert r.status_code == 200 and r.json()["stored"] == len(recs[i:i + args.batch]), r.text
                http_rps = len(recs) / (time.perf_counter() - start)

                lat = []
                for rec in records(args.singles, "single"):
                    t = time.perf_counter()
                    r = client.post(endpoint, json=rec)
                    lat.append((time.perf_counter() - t) * 1000)
                    assert r.status_code == 200 and r.json()["stored"] == 1
        finally:
            server.terminate()
            server.wait(10)

        base_rps, base_lat = baseline(records(args.records, "base"), args.batch, records(args.singles, "single"),
                                      base_db)
        for url in (http_db, base_db):
            if url:
                drop_database(url)
    q = statistics.quantiles(lat, n=100)
    bq = statistics.quantiles(base_lat, n=100)
    figures = {
        "records": args.records, "batch": args.batch, "store": args.store,
        "http_records_per_s": round(http_rps), "inprocess_records_per_s": round(base_rps),
        "http_vs_inprocess": round(http_rps / base_rps, 3),
        "goal_records_per_s": 5000, "meets_goal": http_rps >= 5000,
        "single_p50_ms": round(q[49], 2), "single_p99_ms": round(q[98], 2), "singles": args.singles,
        "inprocess_single_p50_ms": round(bq[49], 3), "inprocess_single_p99_ms": round(bq[98], 3),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"store: {args.store}")
        print(f"HTTP, batches of {args.batch}: {http_rps:,.0f} records/s "
              f"({'meets' if http_rps >= 5000 else 'MISSES'} the 5,000/s goal)")
        print(f"in process, same port, no HTTP: {base_rps:,.0f} records/s  (HTTP = {http_rps / base_rps:.2f}x)")
        print(f"single record: p50 {q[49]:.2f} ms, p99 {q[98]:.2f} ms over {args.singles} requests "
              f"(in process: p50 {bq[49]:.3f} ms, p99 {bq[98]:.3f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
