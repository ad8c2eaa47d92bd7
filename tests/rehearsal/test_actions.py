"""Each action accepted and refused, through the real workflows; the order within an instant;
two runs of a scenario give the same bytes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .helpers import day, outcomes, plan_doc, record, run, write

V1 = plan_doc(timers={"remind_after": "P1D", "escalate_after": "P2D"}, valid_for="P3D")
V2 = plan_doc("2", timers={"remind_after": "P1D", "escalate_after": "P2D"}, valid_for="P3D")
V2["phases"][0]["gates"][0]["rule"]["all"][0]["benchmark"]["threshold"] = 4

ACTIONS: list[dict[str, Any]] = [
    {"at": day(1, 6), "do": "approve", "gate": "ga", "person": "hana", "role": "head"},               # 1 nothing to sign yet
    # r1 arrives at day 2: it is evaluated before the actions of that instant, which run in file order.
    {"at": day(2), "do": "approve", "gate": "ga", "person": "hana", "role": "head"},                 # 2
    {"at": day(2), "do": "withdraw", "gate": "ga", "person": "hana", "reason": "too quick"},         # 3
    {"at": day(2), "do": "withdraw", "gate": "ga", "person": "hana", "reason": "again"},             # 4 NoCountedVote
    {"at": day(2), "do": "approve", "gate": "ga", "person": "hana", "role": "head"},                 # 5
    {"at": day(2), "do": "reject", "gate": "ga", "person": "dino", "role": "deputy", "reason": "no"},  # 6 rejected
    {"at": day(2), "do": "reject", "gate": "ga", "person": "dara", "role": "deputy", "reason": "no"},  # 7 NotAwaiting
    {"at": day(3), "do": "waive", "gate": "ga", "benchmark": "ga.low", "person": "hana", "role": "head",
     "justification": "j", "until": day(9)},                                                         # 8 new digest
    {"at": day(3), "do": "waive", "gate": "ga", "benchmark": "ga.neg", "person": "hana", "role": "head",
     "justification": "j"},                                                                          # 9 NotWaivable
    {"at": day(3), "do": "waive", "gate": "ga", "benchmark": "ga.low", "person": "hana", "role": "head",
     "justification": "j"},                                                                          # 10 AlreadyWaived
    {"at": day(3), "do": "revoke_waiver", "gate": "ga", "benchmark": "ga.low", "person": "hana", "role": "head"},  # 11
    {"at": day(3), "do": "revoke_waiver", "gate": "ga", "benchmark": "ga.low", "person": "hana", "role": "head"},  # 12
    {"at": day(3), "do": "approve", "gate": "ga", "person": "hana", "role": "head"},                 # 13
    {"at": day(3), "do": "approve", "gate": "ga", "person": "dara", "role": "deputy"},               # 14 approved
    {"at": day(4), "do": "reopen", "phase": "p2", "person": "cora", "role": "coordinator", "reason": "r"},  # 15
    {"at": day(4), "do": "reopen", "phase": "p1", "person": "hana", "role": "head", "reason": "r"},  # 16 RoleNotAllowed
    {"at": day(4), "do": "reopen", "phase": "p1", "person": "cora", "role": "coordinator", "reason": "review"},  # 17
    {"at": day(4), "do": "approve", "gate": "gb", "person": "dara", "role": "deputy"},               # 18 PhasePaused
    {"at": day(5), "do": "migrate", "plan": "plan-v2.json", "person": "cora", "role": "coordinator"},  # 19
    {"at": day(5), "do": "migrate", "plan": "plan-v2.json", "person": "cora", "role": "coordinator"},  # 20 SamePlan
    {"at": day(5, 1), "do": "approve", "gate": "ga", "person": "hana", "role": "head"},              # 21 expires day 8, 1h
    {"at": day(7), "do": "approve", "gate": "ga", "person": "hana", "role": "head"},                 # 22 AlreadyVoted
    {"at": day(8, 1), "do": "approve", "gate": "ga", "person": "hana", "role": "head"},              # 23 expired at this instant
]
RECORDS = [record("r1", "ind.a", 1, day(2))]
CHECKPOINTS = [day(2, 12), day(3, 12), day(4, 12), day(5, 12), day(8), day(8, 2)]


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("story")
    path = write(folder, ACTIONS, RECORDS, CHECKPOINTS, plan=V1, extra_plans={"plan-v2.json": V2})
    return path, run(path)


def test_each_action_is_accepted_and_refused(story: tuple[Path, dict[str, Any]]) -> None:
    _, t = story
    assert outcomes(t) == [
        (0, "accepted", None),
        (1, "refused", "NotAwaitingApproval"),
        (2, "accepted", None), (3, "accepted", None), (4, "refused", "NoCountedVote"),
        (5, "accepted", None), (6, "accepted", None), (7, "refused", "NotAwaitingApproval"),
        (8, "accepted", None), (9, "refused", "NotWaivable"), (10, "refused", "AlreadyWaived"),
        (11, "accepted", None), (12, "refused", "NoActiveWaiver"),
        (13, "accepted", None), (14, "accepted", None),
        (15, "refused", "PhaseNotComplete"), (16, "refused", "RoleNotAllowed"), (17, "accepted", None),
        (18, "refused", "PhasePaused"),
        (19, "accepted", None), (20, "refused", "SamePlan"),
        (21, "accepted", None), (22, "refused", "AlreadyVoted"), (23, "accepted", None),
    ]


def test_the_state_at_each_checkpoint(story: tuple[Path, dict[str, Any]]) -> None:
    _, t = story
    cps = {c["at"]: c for c in t["checkpoints"]}
    ga = cps[day(2, 12)]["gates"]["ga"]
    # Rejected at day 2 (dino): votes void, collecting until the digest changes.
    assert (ga["state"], ga["rejected"], ga["approvals"], ga["rule_status"]) == ("collecting", True, [], "pass")
    c3 = cps[day(3, 12)]
    assert c3["phases"] == {"p1": "complete", "p2": "running"}
    assert [a["person"] for a in c3["gates"]["ga"]["approvals"]] == ["hana", "dara"]
    assert c3["gates"]["ga"]["approvals"][0]["at"] == day(3)
    assert c3["gates"]["ga"]["approvals"][0]["expires"] == day(6)
    c4 = cps[day(4, 12)]
    assert c4["phases"] == {"p1": "running", "p2": "paused"}
    assert c4["gates"]["ga"]["state"] == "awaiting_approval" and c4["gates"]["ga"]["approvals"] == []
    # Reminders every day from the reopen (day 4, 00:00), none while... the episode is p1's own.
    assert c4["gates"]["ga"]["reminders_sent"] == 0
    c5 = cps[day(5, 12)]
    assert c5["plan_sha256"] != t["plan_sha256"]
    assert [a["person"] for a in c5["gates"]["ga"]["approvals"]] == ["hana"]
    c8 = cps[day(8)]
    ga = c8["gates"]["ga"]
    # Migrated at day 5, 00:00: a new episode; reminders at days 6, 7, 8 (a timer due at the
    # checkpoint has happened), escalated at day 7.
    assert (ga["reminders_sent"], ga["escalated"]) == (3, True)
    assert [(a["person"], a["at"], a["expires"]) for a in ga["approvals"]] == [("hana", day(5, 1), day(8, 1))]


def test_two_runs_give_the_same_bytes(story: tuple[Path, dict[str, Any]]) -> None:
    path, first = story
    assert json.dumps(run(path)) == json.dumps(first)


def test_a_refused_start_leaves_the_exit_unstarted(tmp_path: Path) -> None:
    path = write(tmp_path, [
        {"at": day(2), "do": "approve", "gate": "ga", "person": "hana", "role": "head"},
        {"at": day(2), "do": "reopen", "phase": "p1", "person": "cora", "role": "coordinator", "reason": "r"},
    ], [record("r1", "ind.a", 1, day(1))], [day(3)], start={"at": day(1), "person": "hana", "role": "coordinator"})
    t = run(path)
    assert outcomes(t) == [(0, "refused", "RoleNotHeld"), (1, "refused", "PhaseNotStarted"),
                           (2, "refused", "MissionNotStarted")]
    assert t["checkpoints"][0]["phases"] == {"p1": "not_started", "p2": "not_started"}
    assert t["checkpoints"][0]["gates"]["ga"]["state"] == "not_started"


REGISTER_ACTIONS: list[dict[str, Any]] = [
    {"at": day(2, 1), "do": "grant", "person": "nina", "role": "host", "until": day(9), "by": "cora",
     "by_role": "coordinator"},                                                                        # 1
    {"at": day(2, 1), "do": "grant", "person": "otto", "role": "host", "by": "hana", "by_role": "head"},  # 2
    {"at": day(2, 2), "do": "approve", "gate": "ga", "person": "nina", "role": "host"},                # 3
    {"at": day(2, 3), "do": "delegate", "person": "dara", "role": "deputy", "to": "hugo", "until": day(6),
     "gates": ["ga"], "reason": "on leave"},                                                            # 4
    {"at": day(2, 3), "do": "delegate", "person": "hugo", "role": "deputy", "to": "hana", "until": day(6)},  # 5
    {"at": day(2, 4), "do": "approve", "gate": "ga", "person": "hugo", "role": "deputy", "on_behalf_of": "dara"},  # 6
    {"at": day(3), "do": "end_role", "person": "nina", "role": "host", "by": "cora", "by_role": "coordinator"},  # 7
    {"at": day(3), "do": "end_role", "person": "nina", "role": "host", "by": "cora", "by_role": "coordinator"},  # 8
    {"at": day(3, 1), "do": "approve", "gate": "gb", "person": "nina", "role": "host"},                # 9
]


def test_the_register_grants_ends_and_delegates(tmp_path: Path) -> None:
    path = write(tmp_path, REGISTER_ACTIONS, [record("r1", "ind.a", 1, day(2)), record("r2", "ind.b", 1, day(2))],
                 [day(2, 12), day(3, 12)])
    t = run(path)
    assert outcomes(t) == [
        (0, "accepted", None), (1, "accepted", None), (2, "refused", "RoleNotAllowed"), (3, "accepted", None),
        (4, "accepted", None), (5, "refused", "CannotRedelegate"), (6, "accepted", None),
        (7, "accepted", None), (8, "refused", "NoActiveAssignment"), (9, "refused", "RoleNotHeld")]
    ga = t["checkpoints"][0]["gates"]["ga"]
    assert ga["state"] == "approved"
    assert [(v["person"], v["role"], v["principal"]) for v in ga["approvals"]] == [
        ("nina", "host", "nina"), ("hugo", "deputy", "dara")]
    assert t["checkpoints"][1]["phases"] == {"p1": "complete", "p2": "running"}
