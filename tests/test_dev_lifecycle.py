"""`exitgate dev` started as a user or a service manager starts it: where it keeps its data,
what its banner says, and that it never leaves processes behind.

Real processes throughout: the dev server, an `exitgate worker`, an `exitgate api`. Each wait
is on a condition with a deadline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from cli.supervisor import free_port

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
        if popen.poll() is None:
            popen.terminate()
        try:
            popen.wait(60)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


def wait_until_up(dev: Dev) -> None:
    def up() -> bool:
        assert dev.popen.poll() is None, dev.output()
        return BANNER_END in dev.output()
    until(up, "the dev banner", 120)
    assert httpx.get(f"http://127.0.0.1:{dev.api_port}/healthz").status_code == 200


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
        made = subprocess.run([sys.executable, "-m", "cli", "api-key", "create", "--person", "alice", "--roles", "srsg",
                               "--json"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        assert made.returncode == 0, made.stderr
        key = json.loads(made.stdout)["key"]
        r = httpx.get(f"http://127.0.0.1:{dev.api_port}/v1/me", headers={"X-API-Key": key})
        assert r.status_code == 200, r.text
