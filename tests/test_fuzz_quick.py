"""The quick fuzz pass (scripts/fuzz.py --quick): schema-drawn and hostile evidence, plans and
action bodies against `exitgate dev`; every invariant must hold. The pass runs once; each test
below reads its result."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from .devstack import ROOT

# About a minute here (the dev stack's start and drawing the examples are most of it).
HARD_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def quick_pass() -> dict[str, Any]:
    try:
        proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "fuzz.py"), "--quick", "--json"],
                              capture_output=True, text=True, timeout=HARD_TIMEOUT_S, cwd=ROOT)
    except subprocess.TimeoutExpired as exc:
        tail = exc.stderr[-3000:] if isinstance(exc.stderr, str) else (exc.stderr or b"")[-3000:].decode()
        raise AssertionError(f"the quick fuzz pass took over {HARD_TIMEOUT_S} s; its progress:\n{tail}") from None
    assert proc.returncode in (0, 1), f"the fuzz run itself failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    # A crash also exits 1 (a traceback): then there is no result to read, and its stderr says why.
    assert proc.stdout.strip(), f"the fuzz run printed no result (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(proc.stdout)
    result["exit_code"] = proc.returncode
    return result


def test_quick_pass_sends_every_kind_of_input(quick_pass: dict[str, Any]) -> None:
    records = quick_pass["records"]
    assert quick_pass["records_sent"] >= 400 and quick_pass["plans_sent"] >= 40 and quick_pass["action_bodies_sent"] >= 80
    assert all(records.get(f"sent {kind}", 0) > 0 for kind in ("good", "schema", "hostile", "utf8")), records
    assert records.get("stored good", 0) > 0 and records.get("rejected hostile", 0) > 0, records
    status = quick_pass["status"]
    assert status.get("plan 200", 0) > 0 and status.get("plan 422", 0) > 0, status  # drawn plans reach both


@pytest.mark.parametrize("invariant", ["server_error", "unnamed_4xx", "rejected_stored", "store_count",
                                       "good_not_stored", "hostile_stored"])
def test_quick_pass_keeps_invariant(quick_pass: dict[str, Any], invariant: str) -> None:
    assert quick_pass["violations"][invariant] == 0, quick_pass["examples"].get(invariant)
