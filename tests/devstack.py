"""`exitgate dev` as a user runs it, for the tests that need the whole embedded stack."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from cli.supervisor import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class DevStack:
    base: str
    env: dict[str, str]
    api_port: int
    temporal_port: int
    output: str = ""
    returncode: int | None = None

    def cli(self, *args: str, ok: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """An `exitgate` command in its own process, reaching the stack through settings only."""
        proc = subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, timeout=120,
                              env={**os.environ, **self.env, "COLUMNS": "200"}, input=stdin, cwd=ROOT)
        if ok:
            assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return proc


def until(pred: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def dev_stack(data_dir: Path) -> Iterator[DevStack]:
    """Start `exitgate dev` on free ports; on exit send it SIGINT (Ctrl-C) and wait for it."""
    api_port, tport, ui = free_port(), free_port(), free_port()
    stack = DevStack(f"http://127.0.0.1:{api_port}",
                     {"EXITGATE_DATA_DIR": str(data_dir), "EXITGATE_TEMPORAL_ADDRESS": f"127.0.0.1:{tport}"},
                     api_port, tport)
    dev = subprocess.Popen([sys.executable, "-m", "cli", "dev", "--data-dir", str(data_dir), "--api-port",
                            str(api_port), "--temporal-port", str(tport), "--ui-port", str(ui)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env={**os.environ, "COLUMNS": "200"})
    try:
        try:
            wait_for_port(api_port, 120, dev)  # type: ignore[arg-type]
            until(lambda: httpx.get(f"{stack.base}/healthz").status_code == 200, "the API")
        except (RuntimeError, TimeoutError, AssertionError) as exc:
            # Say why: `dev` prints what stopped it (a port taken, a process that exited).
            dev.kill()
            said = dev.communicate(timeout=30)[0]
            logs = "".join(f"\n--- {p.name} ---\n" + p.read_text(errors="replace")[-3000:]
                           for p in sorted((data_dir / "logs").glob("*.log"))) if (data_dir / "logs").is_dir() else ""
            raise AssertionError(f"exitgate dev did not come up: {exc}\n--- exitgate dev ---\n{said}{logs}") from None
        yield stack
    finally:
        dev.send_signal(signal.SIGINT)
        try:
            stack.output = dev.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            dev.kill()
            stack.output = dev.communicate()[0]
        stack.returncode = dev.returncode
