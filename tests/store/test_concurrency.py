"""Concurrent importers, an importer killed mid-way, and concurrent audit writers, on both
backends: nothing lost, nothing twice, one valid chain."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text

from rules.plan import LoadedPlan
from store import Store

ROOT = Path(__file__).resolve().parents[2]
IMPORTER = [sys.executable, str(Path(__file__).with_name("importer.py"))]


def _synthetic(path: Path, n: int) -> Path:
    """n records over several indicators, with corrections of earlier ones mixed in."""
    rng = random.Random(7)
    lines = []
    for i in range(n):
        day = 1 + i % 28
        month = 1 + (i // 28) % 12
        year = 2020 + i // (28 * 12)
        ts = f"{year}-{month:02d}-{day:02d}T12:00:00Z"
        rec: dict[str, Any] = {"id": f"S-{i}", "mission": "valdoria", "indicator": "sec.security_incidents",
                               "value": rng.randint(0, 90), "observed_at": ts, "reported_at": ts, "source": "sage"}
        if i % 10 == 9:
            rec["supersedes"] = f"S-{i - 5}"
        lines.append(json.dumps(rec))
    path.write_text("\n".join(lines) + "\n")
    return path


def _dump(store: Store) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT id, indicator, value, observed_at, reported_at, known_at, source, supersedes "
            "FROM evidence ORDER BY id"))]


def test_two_processes_import_the_same_file(store_url: str, sample_plan: LoadedPlan, sample_dir: Path,
                                            tmp_path: Path, open_store: Callable[..., Store]) -> None:
    data = _synthetic(tmp_path / "e.jsonl", 3000)
    open_store(store_url).register_mission(sample_plan, "c")
    procs = [subprocess.Popen([*IMPORTER, store_url, str(sample_dir / "plan.json"), str(data), str(chunk)], cwd=ROOT)
             for chunk in (250, 400)]
    assert [p.wait(300) for p in procs] == [0, 0]
    store = open_store(store_url)
    rows = _dump(store)
    assert len(rows) == 3000 and len({r[0] for r in rows}) == 3000
    # Each correction target corrected exactly once.
    targets = [r[7] for r in rows if r[7] is not None]
    assert len(targets) == len(set(targets)) == 300
    result = store.audit_verify()
    assert result.ok, result
    stored = sum(e.payload["stored"] for e in store.audit_entries())
    assert stored == 3000  # every record stored by exactly one of the two importers


def test_killed_import_then_rerun_equals_clean_import(databases: Any, store_url: str, sample_dir: Path,
                                                      tmp_path: Path, open_store: Callable[..., Store]) -> None:
    data = _synthetic(tmp_path / "e.jsonl", 20000)
    plan_path = str(sample_dir / "plan.json")
    store = open_store(store_url)
    proc = subprocess.Popen([*IMPORTER, store_url, plan_path, str(data), "100"], cwd=ROOT)
    deadline = time.monotonic() + 120
    while store.evidence_count() < 500 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = store.evidence_count()
    assert 0 < partial < 20000, partial  # killed mid-way, whole chunks only
    assert partial % 100 == 0 or partial < 100
    subprocess.run([*IMPORTER, store_url, plan_path, str(data), "100"], cwd=ROOT, check=True)

    clean_url = databases.url("sqlite" if store_url.startswith("sqlite") else "postgresql")
    subprocess.run([*IMPORTER, clean_url, plan_path, str(data), "2000"], cwd=ROOT, check=True)
    assert _dump(store) == _dump(open_store(clean_url))
    assert store.audit_verify().ok


def test_concurrent_audit_writers_form_one_chain(store: Store, store_url: str) -> None:
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        local = Store.from_url(store_url, migrate_db=False)
        try:
            for i in range(25):
                local.audit_append("test.event", {"writer": k, "i": i}, f"w{k}")
        except BaseException as exc:
            errors.append(exc)
        finally:
            local.engine.dispose()

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    result = store.audit_verify()
    assert result.ok and result.entries == 100
