"""The quick chaos pass (benchmarks/chaos.py --quick): the real stack as separate processes,
kill -9 and SIGSTOP faults, and every invariant of docs/chaos.md must hold."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .devstack import ROOT

# The quick pass takes about 3 minutes here (two stacks started, a killed worker's task waits
# out the workflows' 2-minute activity timeout); the margin is for a busy machine.
HARD_TIMEOUT_S = 600


@pytest.mark.xfail(strict=True, reason=(
    "invariant (d): the API does not pass the store's evidence_position with approvals yet "
    "(api/production.py, to be wired by the lead through the service layer), so bob's vote on "
    "a digest read just before new evidence was stored is counted and approves g-steady on an "
    "evaluation behind the store; remove this marker when the wiring lands"))
def test_quick_chaos_pass_violates_no_invariant() -> None:
    try:
        proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "chaos.py"), "--quick", "--json"],
                              capture_output=True, text=True, timeout=HARD_TIMEOUT_S, cwd=ROOT)
    except subprocess.TimeoutExpired as exc:
        tail = (exc.stderr or b"")[-3000:]
        raise AssertionError(f"the quick chaos pass took over {HARD_TIMEOUT_S} s; its progress:\n"
                             f"{tail.decode() if isinstance(tail, bytes) else tail}") from None
    assert proc.returncode in (0, 1), f"the chaos run itself failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    result = json.loads(proc.stdout)
    assert result["trials"] == 5 and result["faults"] >= 5, result
    assert set(k for k, n in result["faults_by_kind"].items() if n) == {
        "kill_worker", "kill_api", "kill_server", "stop_server"}, result["faults_by_kind"]
    assert result["violations"] == dict.fromkeys(result["violations"], 0), (
        result["violations"], result.get("examples"))
    assert result["replica_violations"] == dict.fromkeys(result["replica_violations"], 0), (
        result["replica_violations"], result.get("replica_examples"))
    assert proc.returncode == 0
