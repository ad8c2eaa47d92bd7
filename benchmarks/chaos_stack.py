"""The chaos run's stack: the Temporal dev server, two `exitgate worker`s and one `exitgate
api`, each a separate process on a fresh PostgreSQL database, and the faults done to them.

Every child runs in its own session, so Ctrl-C in the terminal reaches only the harness,
which kills them all (SIGKILL, whole process groups) when it leaves, however it leaves.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cli.supervisor import free_port, temporal_binary  # noqa: E402
from runtime import SEARCH_ATTRIBUTES_CLI  # noqa: E402

__all__ = ["FAULT_KINDS", "Stack", "StackError", "drop_database", "fresh_database"]

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
FAULT_KINDS = ("kill_worker", "kill_api", "kill_server", "stop_server")

_MIGRATING = threading.Lock()
_LIVE: list[subprocess.Popen[bytes]] = []  # every child ever started, for the exit hooks


class StackError(RuntimeError):
    """The stack could not be brought up (or back up) in time: names the process and its log."""


def _kill_all() -> None:
    for p in _LIVE:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(p.pid, signal.SIGCONT)  # a stopped process must not linger either
    for p in _LIVE:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(5)


atexit.register(_kill_all)


def _on_signal(signum: int, _frame: object) -> None:
    _kill_all()
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


def fresh_database(tag: str) -> str:
    import psycopg

    name = f"exitgate_chaos_{tag}_{os.getpid()}"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[-1]
    with contextlib.suppress(psycopg.Error), psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Child:
    name: str  # temporal | worker-1 | worker-2 | api
    argv: list[str]
    port: int | None
    popen: subprocess.Popen[bytes] | None = None
    stopped: bool = False  # SIGSTOPped by a fault
    held: bool = False  # killed by a fault and not restarted yet: not an unexpected exit

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


@dataclass
class Stack:
    """One deployment. `tag` names its database and folder (chaos, replica)."""

    tag: str
    keep: bool = False
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="exitgate-chaos-")))
    db_url: str = ""
    temporal_port: int = 0
    api_port: int = 0
    children: dict[str, Child] = field(default_factory=dict)
    faults: Counter[str] = field(default_factory=Counter)
    unexpected_exits: Counter[str] = field(default_factory=Counter)
    # Each unexpected exit: which process, its exit code and the end of its log, to tell why.
    exit_notes: list[dict[str, Any]] = field(default_factory=list)
    notes_written: int = 0  # how many of exit_notes are in the --progress file
    task_queue: str = "exitgate-chaos"

    @property
    def env(self) -> dict[str, str]:
        return {"EXITGATE_TEMPORAL_ADDRESS": f"127.0.0.1:{self.temporal_port}",
                "EXITGATE_DATABASE_URL": self.db_url, "EXITGATE_TASK_QUEUE": self.task_queue,
                "EXITGATE_DATA_DIR": str(self.dir), "EXITGATE_API_PORT": str(self.api_port),
                "EXITGATE_API_HOST": "127.0.0.1", "EXITGATE_ENVIRONMENT": "local"}

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    # --- bringing it up ---

    def prepare(self) -> None:
        """The fresh database, migrated (so keys can be made while the processes start), and ports."""
        from store import Store

        self.db_url = fresh_database(self.tag)
        with _MIGRATING:  # Alembic keeps its context in module globals: one migration at a time
            Store.from_url(self.db_url).close()
        self.temporal_port, self.api_port = free_port(), free_port()

    def up(self, timeout_s: float) -> None:
        me = [sys.executable, "-m", "cli"]
        argv = [temporal_binary(), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(self.temporal_port),
                "--headless", "--db-filename", str(self.dir / "temporal.sqlite"), "--log-level", "warn"]
        for name, kind in SEARCH_ATTRIBUTES_CLI.items():
            argv += ["--search-attribute", f"{name}={kind}"]
        self.children = {
            "temporal": Child("temporal", argv, self.temporal_port),
            "worker-1": Child("worker-1", [*me, "worker"], None),
            "worker-2": Child("worker-2", [*me, "worker"], None),
            "api": Child("api", [*me, "api", "--port", str(self.api_port)], self.api_port),
        }
        self.start("temporal")
        self.wait_port("temporal", timeout_s)
        for name in ("worker-1", "worker-2", "api"):
            self.start(name)
        self.wait_port("api", timeout_s)

    def start(self, name: str) -> None:
        child = self.children[name]
        log = self.dir / f"{name}.log"
        with log.open("ab") as fh:
            child.popen = subprocess.Popen(child.argv, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT,
                                           env={**os.environ, **self.env}, start_new_session=True)
        child.stopped = child.held = False
        _LIVE.append(child.popen)

    def wait_port(self, name: str, timeout_s: float) -> None:
        child = self.children[name]
        assert child.port is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if _listening(child.port):
                return
            if not child.alive():
                self.note_exit(name)
                self.start(name)  # e.g. the API started while Temporal was still coming up
            time.sleep(0.2)
        raise StackError(f"{name} is not listening on 127.0.0.1:{child.port} after {timeout_s:.0f} s; "
                         f"see {self.dir / (name + '.log')}")

    def revive(self) -> None:
        """Restart whatever died on its own (a worker or the API that gave up while Temporal
        was away): a service manager would. Counted, not hidden."""
        for name, child in self.children.items():
            if child.popen is not None and not child.alive() and not child.held:
                self.note_exit(name)
                self.start(name)

    def note_exit(self, name: str) -> None:
        child = self.children[name]
        self.unexpected_exits[name] += 1
        log = self.dir / f"{name}.log"
        tail: list[str] = []
        if log.exists():
            with log.open("rb") as fh:
                fh.seek(max(0, log.stat().st_size - 2000))
                tail = fh.read().decode(errors="replace").splitlines()[-10:]
        self.exit_notes.append({"process": name, "returncode": child.popen.returncode if child.popen else None,
                                "at": time.time(), "log_tail": tail})

    def healthy(self, timeout_s: float) -> None:
        """Everything running and listening (after the faults of a trial)."""
        deadline = time.monotonic() + timeout_s
        for child in self.children.values():
            if child.stopped:
                self.cont(child.name)
            if child.held:
                self.start(child.name)
        while True:
            self.revive()
            if all(c.alive() for c in self.children.values()) and all(
                    _listening(c.port) for c in self.children.values() if c.port is not None):
                return
            if time.monotonic() > deadline:
                down = [c.name for c in self.children.values()
                        if not c.alive() or (c.port is not None and not _listening(c.port))]
                raise StackError(f"the stack did not come back within {timeout_s:.0f} s: {', '.join(down)} "
                                 f"down; logs in {self.dir}")
            time.sleep(0.2)

    # --- faults ---

    def kill(self, name: str) -> None:
        child = self.children[name]
        child.held = True
        if child.popen is not None and child.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.popen.pid, signal.SIGKILL)
            child.popen.wait(10)

    def stop(self, name: str) -> None:
        child = self.children[name]
        if child.popen is not None and child.alive():
            os.kill(child.popen.pid, signal.SIGSTOP)
            child.stopped = True

    def cont(self, name: str) -> None:
        child = self.children[name]
        if child.popen is not None and child.alive():
            os.kill(child.popen.pid, signal.SIGCONT)
        child.stopped = False

    # --- leaving ---

    def down(self) -> None:
        for child in self.children.values():
            if child.stopped:
                self.cont(child.name)
        for name in ("api", "worker-2", "worker-1", "temporal"):
            if name in self.children:
                self.kill(name)
        if self.db_url:
            drop_database(self.db_url)
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.down()
