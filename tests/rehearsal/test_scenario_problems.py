"""A scenario is refused before anything runs, with every problem listed by JSON path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rehearsal import ScenarioError, load_scenario
from schemas import files

from .helpers import PEOPLE, T0, day, plan_doc, record, write


def problems(path: Path) -> dict[str, str]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return {p.path: p.message for p in info.value.problems}


def test_every_kind_of_problem_is_listed_by_path(tmp_path: Path) -> None:
    actions = [
        {"at": day(10), "do": "approve", "gate": "nope", "person": "hana", "role": "head"},
        {"at": day(11), "do": "reopen", "phase": "p9", "person": "cora", "role": "coordinator", "reason": "r"},
        {"at": day(12), "do": "waive", "gate": "ga", "benchmark": "zz", "person": "hana", "role": "head",
         "justification": "j"},
        {"at": day(13), "do": "approve", "gate": "ga", "person": "zoe", "role": "head"},
        {"at": day(14), "do": "frobnicate", "person": "hana"},
        {"at": day(15), "do": "approve", "gate": "ga", "person": "hana", "role": "head", "comentt": "typo"},
        {"at": day(5), "do": "approve", "gate": "ga", "person": "hana", "role": "head", "note": "free text is fine"},
        {"at": day(16), "do": "waive", "gate": "ga", "benchmark": "ga.low", "person": "hana", "role": "head",
         "justification": "j", "until": day(16)},
        {"at": day(17), "do": "end_role", "person": "ghost", "role": "head", "by": "cora", "by_role": "coordinator"},
        {"at": day(40), "do": "withdraw", "gate": "ga", "person": "hana", "reason": "after the end"},
    ]
    roles = [{"person": p, "role": r, "from": "2023-01-01T00:00:00Z"} for p, r in PEOPLE.items()]
    roles.append({"person": "merlin", "role": "wizard", "from": "2023-01-01T00:00:00Z"})
    path = write(tmp_path, actions, [], [day(20), day(20), day(19)], end=day(30), roles=roles)
    found = problems(path)
    assert found == {
        "$.actions[0].gate": "unknown gate 'nope'",
        "$.actions[1].phase": "unknown phase 'p9'",
        "$.actions[2].benchmark": "gate 'ga' has no benchmark 'zz'",
        "$.actions[3].person": "unknown person 'zoe': name them in `roles`, a grant or a delegation first",
        "$.actions[4]": "unknown action 'frobnicate' (allowed: approve, reject, withdraw, waive, revoke_waiver, "
                        "reopen, migrate, grant, end_role, delegate)",
        "$.actions[5].comentt": "unknown field",
        # Actions 4 and 5 are not actions at all: the one before is action 3.
        "$.actions[6].at": f"{day(5)} is before the previous action's {day(13)}: actions are listed in time order",
        "$.actions[7].until": f"{day(16)} is not after the action's instant {day(16)}",
        "$.actions[9].at": f"{day(40)} is after the scenario's end {day(30)}",
        "$.actions[8].person": "unknown person 'ghost': name them in `roles`, a grant or a delegation first",
        "$.roles[5].role": "'wizard' is not a role of the plan (its roles: coordinator, deputy, head, host)",
        "$.checkpoints[1]": f"{day(20)} is not after {day(20)}: checkpoints strictly increase",
        "$.checkpoints[2]": f"{day(19)} is not after {day(20)}: checkpoints strictly increase",
    }


def test_bad_plan_and_evidence_files_are_named_with_their_own_messages(tmp_path: Path) -> None:
    bad = plan_doc()
    bad["phases"][0]["gates"][0]["approval"]["quorum"] = 0
    bad["phases"][1]["depends_on"] = ["p7"]
    path = write(tmp_path, [{"at": day(3), "do": "migrate", "plan": "missing.json", "person": "cora",
                             "role": "coordinator"}], [], [day(20)], plan=bad)
    (tmp_path / "evidence.jsonl").unlink()
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert [(p.path, p.message.replace(str(tmp_path), "DIR")) for p in info.value.problems] == [
        ("$.actions[0].plan", "cannot read DIR/missing.json: No such file or directory"),
        ("$.evidence", "cannot read DIR/evidence.jsonl: No such file or directory"),
        # The plan loader's own words, after the file's name.
        ("$.plan", "plan.json $.phases[0].gates[0].approval.quorum: quorum must be at least 1, got 0"),
        ("$.plan", "plan.json $.phases[1].depends_on[0]: unknown phase 'p7'"),
    ]


def test_shape_problems_of_the_scenario_itself(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"scenario": "bad id!", "plan": "plan.json", "start": {"at": "yesterday"},
                                    "checkpoints": [], "colour": "blue"}))
    found = problems(path)
    assert set(found) >= {"$.scenario", "$.start.at", "$.start.person", "$.start.role", "$.colour"}
    assert found["$.colour"] == "unknown field"


def test_no_checkpoint_and_no_end(tmp_path: Path) -> None:
    assert problems(write(tmp_path, [], [], [])) == {"$.checkpoints": "give at least one checkpoint, or `end`"}


def test_strict_evidence_makes_a_rejected_record_a_problem(tmp_path: Path) -> None:
    recs = [record("r1", "ind.a", 1, day(1)), record("r2", "ind.nope", 1, day(2))]
    loose = load_scenario(write(tmp_path, [], recs, [day(3)]))
    assert [(o.status, o.id) for o in loose.evidence_outcomes] == [("stored", "r1"), ("rejected", "r2")]
    found = problems(write(tmp_path, [], recs, [day(3)], strict_evidence=True))
    assert found == {"$.evidence": "line 2, record 'r2': indicator: unknown indicator 'ind.nope'"}


def test_records_are_checked_in_arrival_order(tmp_path: Path) -> None:
    # r2 corrects r1; in the file it comes first, but it arrives later: accepted.
    recs = [record("r2", "ind.a", 2, day(1), day(5)) | {"supersedes": "r1"}, record("r1", "ind.a", 1, day(1), day(2))]
    scn = load_scenario(write(tmp_path, [], recs, [day(6)]))
    assert [(a.line, a.record["id"]) for a in scn.arrivals] == [(2, "r1"), (1, "r2")]


def test_the_published_schema_takes_the_sample_scenario(sample_dir: Path) -> None:
    from rules.documents import load_document

    doc = load_document(sample_dir / "scenario.yaml")
    assert list(files.validator("scenario.schema.json").iter_errors(doc)) == []
    assert load_scenario(sample_dir / "scenario.yaml").doc.start.at == T0
