"""Replay the recorded histories with today's workflow code: a determinism break fails here.

Regenerate after an intended, versioned change with
`EXITGATE_RECORD_HISTORIES=1 .venv/bin/pytest tests/workflows`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.registry import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_are_recorded() -> None:
    names = {p.stem for p in HISTORIES}
    for scenario in ("pass_then_approve", "regression", "digest_change", "quorum", "rejection", "waiver",
                     "escalation", "mission_reopen", "mission_migrate", "continue_as_new_last_run", "mission_phase_failed",
                     "audit_group_commit", "register_ended_before_update", "register_delegation", "register_mission",
                     "register_mission_delegate", "mission_reopen_after_complete", "evaluate_local",
                     "timer_keep_near", "gate_round_2"):
        assert scenario in names, f"tests/workflows/histories/{scenario}.json is missing"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_replay(path: Path) -> None:
    doc = json.loads(path.read_text())
    history = WorkflowHistory.from_json(f"replay-{path.stem}", doc)
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
