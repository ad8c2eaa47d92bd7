"""The project's test command: prepare what the suite needs, then lint, type-check and test.

Run it through uv so the environment is built first:
    python3 -m pip install -q uv && python3 -m uv run --locked python scripts/check.py
Extra arguments go to pytest (e.g. `-k store -x`).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(cmd: list[str], **kw: object) -> int:
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT, **kw)  # type: ignore[arg-type]


def _postgres_up(host: str = "127.0.0.1", port: int = 5432) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def ensure_postgres() -> None:
    """The store's tests run against a real PostgreSQL on 127.0.0.1:5432 (trust auth)."""
    if _postgres_up():
        return
    if not glob.glob("/etc/postgresql/*"):
        if shutil.which("apt-get") is None:
            sys.exit("PostgreSQL is not running on 127.0.0.1:5432 and cannot be installed here")
        _run(["apt-get", "update", "-q"])
        _run(["apt-get", "install", "-y", "-q", "postgresql"])
        # Trust local TCP connections for the test user, as the CI machines are set up.
        for hba in glob.glob("/etc/postgresql/*/main/pg_hba.conf"):
            with open(hba, "a") as fh:
                fh.write("\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n")
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    _run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"])
    for _ in range(30):
        if _postgres_up():
            return
        time.sleep(1)
    sys.exit("PostgreSQL did not come up on 127.0.0.1:5432")


def ensure_chromium() -> None:
    """The approver page's browser test drives Debian's chromium (Playwright never downloads one)."""
    if shutil.which("chromium") is not None:
        return
    if shutil.which("apt-get") is None:
        sys.exit("chromium is not installed and cannot be installed here (apt-get install chromium)")
    _run(["apt-get", "update", "-q"])
    if _run(["apt-get", "install", "-y", "-q", "chromium"]) != 0 or shutil.which("chromium") is None:
        sys.exit("installing chromium failed")


def main(argv: list[str]) -> int:
    ensure_postgres()
    ensure_chromium()
    for cmd in (
        [sys.executable, "-m", "ruff", "check", "."],
        [sys.executable, "-m", "mypy"],
        [sys.executable, "-m", "schemas.generate", "--check"],
        # The layers of DESIGN.md (contracts in pyproject.toml, [tool.importlinter]).
        [os.path.join(os.path.dirname(sys.executable), "lint-imports")],
    ):
        if _run(cmd) != 0:
            return 1
    if argv:
        return _run([sys.executable, "-m", "pytest", *argv])
    # The workflow tests own a session-wide Temporal test server and event loop; in their own
    # process they are isolated from the hundreds of other async tests (sharing one session
    # loop made a continue-as-new burst test hang now and then).
    first = _run([sys.executable, "-m", "pytest", "tests", "--ignore=tests/workflows", "--ignore=tests/api"])
    # The API tests own a session-wide Temporal dev server and a worker per test: their own
    # process too.
    api = _run([sys.executable, "-m", "pytest", "tests/api"])
    # No hypothesis plugin there (those tests do not use it): on this CPython its report hook
    # crashed pytest (INTERNALERROR, SystemError from the AST) on a failing workflow test,
    # hiding which assertion failed.
    second = _run([sys.executable, "-m", "pytest", "tests/workflows", "-p", "no:hypothesispytest"])
    return first or api or second


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
