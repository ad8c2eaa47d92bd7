"""Fixtures for the timeline tests: the sample mission loaded once."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.evidence import read_jsonl
from rules.plan import LoadedPlan, load_plan_file
from rules.series import EvidenceIndex


@pytest.fixture(scope="session")
def valdoria(sample_dir: Path) -> tuple[LoadedPlan, EvidenceIndex]:
    plan = load_plan_file(sample_dir / "plan.json")
    ledger, _ = read_jsonl((sample_dir / "evidence.jsonl").read_text(), plan)
    return plan, EvidenceIndex(ledger.records.values())
