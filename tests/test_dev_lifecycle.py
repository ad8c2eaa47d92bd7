"""`exitgate dev` started as a user or a service manager starts it: where it keeps its data,
what its banner says, and that it never leaves processes behind.

Real processes throughout: the dev server, an `exitgate worker`, an `exitgate api`. Each wait
is on a condition with a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cli.supervisor import PortInUse, Process, Supervisor, free_port, port_in_use

from .devstack import until

BANNER_END = "Ctrl-C stops everything"


@dataclass
class Dev:
    popen: subprocess.Popen[bytes]
    out: Path
    api_port: int
    temporal_port: int

    def output(self) -> str:
        return self.out.read_text(errors="replace")


@contextmanager
def running_dev(tmp: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Dev]:
    """`exitgate dev` on free ports, its output in a file (a pipe nobody reads could block it);
    stopped and reaped afterwards whatever the test did to it."""
    api_port, tport, ui = free_port(), free_port(), free_port()
    out = tmp / "dev.out"
    with out.open("wb") as fh:
        popen = subprocess.Popen(
            [sys.executable, "-m", "cli", "dev", "--api-port", str(api_port), "--temporal-port", str(tport),
             "--ui-port", str(ui), *args],
            stdout=fh, stderr=subprocess.STDOUT, cwd=tmp, env={**os.environ, "COLUMNS": "200", **(env or {})})
    dev = Dev(popen, out, api_port, tport)
    try:
        yield dev
    finally:
        kids = _children(popen.pid)
        if popen.poll() is None:
            popen.send_signal(signal.SIGINT)
        try:
            popen.wait(60)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()
        with _no_orphans_left(kids):
            pass


def wait_until_up(dev: Dev) -> None:
    def up() -> bool:
        assert dev.popen.poll() is None, dev.output()
        return BANNER_END in dev.output()
    until(up, "the dev banner", 120)
    assert httpx.get(f"http://127.0.0.1:{dev.api_port}/healthz", timeout=30).status_code == 200


def test_dev_keeps_its_data_where_exitgate_data_dir_says_and_the_export_hint_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / ("a-rather-long-folder-name-so-that-the-hint-is-wider-than-the-terminal" * 2)
    with running_dev(tmp_path, env={"EXITGATE_DATA_DIR": str(data), "COLUMNS": "60"}) as dev:
        wait_until_up(dev)
        until(lambda: (data / "exitgate.sqlite").exists(), "the store in EXITGATE_DATA_DIR", 30)
        assert not (tmp_path / ".exitgate").exists()
        exports = [line for line in dev.output().splitlines() if line.startswith("export ")]
        assert exports == [f"export EXITGATE_DATA_DIR={data} EXITGATE_TEMPORAL_ADDRESS=127.0.0.1:{dev.temporal_port}"], \
            dev.output()
        # What the hint exports reaches the same store: a key created with it works on the API.
        env = {**os.environ, "EXITGATE_DATA_DIR": str(data), "EXITGATE_TEMPORAL_ADDRESS": f"127.0.0.1:{dev.temporal_port}"}
        made = subprocess.run([sys.executable, "-m", "cli", "api-key", "create", "--person", "alice", "--json"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        assert made.returncode == 0, made.stderr
        key = json.loads(made.stdout)["key"]
        r = httpx.get(f"http://127.0.0.1:{dev.api_port}/v1/me", headers={"X-API-Key": key}, timeout=30)
        assert r.status_code == 200, r.text


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:  # field 4, after the command name
                out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@contextmanager
def _no_orphans_left(kids: list[int]) -> Iterator[None]:
    """Whatever the assertions find, leave no process of the test running on the machine."""
    try:
        yield
    finally:
        for pid in kids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "kill -9"])
def test_stopping_dev_by_signal_leaves_no_process_behind(tmp_path: Path, sig: signal.Signals) -> None:
    with running_dev(tmp_path, "--data-dir", str(tmp_path / "data")) as dev:
        wait_until_up(dev)
        kids = _children(dev.popen.pid)
        assert len(kids) == 3, kids  # the dev server, the worker, the API
        with _no_orphans_left(kids):
            os.kill(dev.popen.pid, sig)
            dev.popen.wait(60)
            if sig == signal.SIGTERM:
                assert dev.popen.returncode == 0 and "stopped" in dev.output(), dev.output()
            until(lambda: not any(_alive(p) for p in kids), "every child to exit", 60)
            until(lambda: not port_in_use(dev.api_port) and not port_in_use(dev.temporal_port), "the ports to close", 30)


def test_a_second_dev_on_taken_ports_fails_at_once_naming_the_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        api, ui = free_port(), free_port()
        done = subprocess.run([sys.executable, "-m", "cli", "dev", "--data-dir", str(tmp_path / "d"), "--api-port",
                               str(api), "--temporal-port", str(port), "--ui-port", str(ui)],
                              capture_output=True, text=True, timeout=60, cwd=tmp_path,
                              env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"port {port} (Temporal) is already in use" in done.stdout, done.stdout
    assert "is running" not in done.stdout
    assert not (tmp_path / "d" / "logs").exists()  # nothing was started


def test_supervisor_refuses_a_process_whose_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with Supervisor(tmp_path) as sup:
            with pytest.raises(PortInUse) as exc:
                sup.start(Process("api", [sys.executable, "-c", "pass"], port=port))
            assert exc.value.port == port and not sup.procs
