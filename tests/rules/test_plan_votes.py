"""The plan's vote settings (CONTRACT section 1): reject_threshold, veto_roles,
approval_valid_for are validated with their JSON paths; leaving them out changes nothing."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from rules.plan import PlanError, load_plan

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "valdoria" / "plan.json"
GATE = "$.phases[0].gates[0].approval"


def with_approval(**fields: Any) -> dict[str, Any]:
    doc = json.loads(SAMPLE.read_text())
    doc = copy.deepcopy(doc)
    doc["phases"][0]["gates"][0]["approval"].update(fields)
    return doc


def problems(doc: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(PlanError) as info:
        load_plan(doc)
    return [(p.path, p.message) for p in info.value.problems]


def test_valid_vote_settings_load() -> None:
    roles = json.loads(SAMPLE.read_text())["phases"][0]["gates"][0]["approval"]["roles"]
    plan = load_plan(with_approval(reject_threshold=2, veto_roles=[roles[0]], approval_valid_for="P60D"))
    a = plan.model.phases[0].gates[0].approval
    assert (a.reject_threshold, a.veto_roles, a.approval_valid_for) == (2, [roles[0]], "P60D")
    assert load_plan(with_approval(reject_threshold=1)).model.phases[0].gates[0].approval.reject_threshold == 1


@pytest.mark.parametrize(("fields", "path", "words"), [
    ({"reject_threshold": 0}, f"{GATE}.reject_threshold", "at least 1"),
    ({"veto_roles": ["nobody"]}, f"{GATE}.veto_roles[0]", "not one of the gate's roles"),
    ({"approval_valid_for": "P2M"}, f"{GATE}.approval_valid_for", "days"),
    ({"reject_threshold": "2"}, f"{GATE}.reject_threshold", ""),
])
def test_bad_vote_settings_are_refused_with_their_path(fields: dict[str, Any], path: str, words: str) -> None:
    found = problems(with_approval(**fields))
    assert any(p == path and words in m for p, m in found), found


def test_absent_settings_leave_the_plan_and_its_sha256_as_before() -> None:
    doc = json.loads(SAMPLE.read_text())
    assert load_plan(doc).sha256 == load_plan(copy.deepcopy(doc)).sha256
    a = load_plan(doc).model.phases[0].gates[0].approval
    assert (a.reject_threshold, a.veto_roles, a.approval_valid_for) == (None, None, None)
