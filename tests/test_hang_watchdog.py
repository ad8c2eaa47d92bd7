"""A test that hangs is interrupted (tests/conftest.py, HANG_S) with the stack of what it waits
on, instead of holding the run: one hung 35 minutes with an idle event loop and said nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT


def test_a_hung_async_test_is_interrupted_with_where_it_waits(tmp_path: Path) -> None:
    (tmp_path / "test_hangs.py").write_text(
        "import asyncio\n\n\nasync def test_waits_forever() -> None:\n    await asyncio.Event().wait()\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-q",
         "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), str(tmp_path / "test_hangs.py")],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env={**os.environ, "EXITGATE_TEST_HANG_S": "2"})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out  # pytest's "interrupted"
    assert "test_waits_forever still running after 2 s: interrupting it" in out, out
    assert "test_waits_forever (test_hangs.py:5) > wait (locks.py" in out, out
