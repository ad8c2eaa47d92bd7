"""Every store test runs twice: on a SQLite file and on a fresh database in the real PostgreSQL
at 127.0.0.1:5432 (user postgres, trust auth; scripts/check.py starts it if it is down)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from rules.plan import LoadedPlan, load_plan_file
from store import Store

PG_ADMIN = os.environ.get("EXITGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_url(db: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0]
    return f"{base}/{db}".replace("postgresql://", "postgresql+psycopg://", 1)


class Databases:
    """Creates databases on demand and drops them all at the end of the session."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.pg: list[str] = []

    def url(self, backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{self.tmp / (uuid.uuid4().hex + '.sqlite')}"
        name = f"exitgate_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.pg.append(name)
        return _pg_url(name)

    def drop_all(self) -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            for name in self.pg:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    dbs = Databases(tmp_path_factory.mktemp("stores"))
    yield dbs
    dbs.drop_all()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, databases: Databases) -> str:
    return databases.url(request.param)


@pytest.fixture
def open_store() -> Iterator[Callable[..., Store]]:
    """Open stores in a test; all are closed after it (an undisposed pool leaks connections)."""
    opened: list[Store] = []

    def _open(url: str, **kw: Any) -> Store:
        s = Store.from_url(url, **kw)
        opened.append(s)
        return s

    yield _open
    for s in opened:
        s.close()


@pytest.fixture
def store(store_url: str, open_store: Callable[..., Store]) -> Store:
    return open_store(store_url)


@pytest.fixture(scope="session")
def sample_plan(sample_dir: Path) -> LoadedPlan:
    return load_plan_file(sample_dir / "plan.json")


@pytest.fixture(scope="session")
def sample_lines(sample_dir: Path) -> list[str]:
    return (sample_dir / "evidence.jsonl").read_text().splitlines()
