"""The sample's rehearsal gives the committed transcript (samples/valdoria/expected-rehearsal.json).

When the story or the product changes on purpose, rewrite it with
`exitgate rehearse samples/valdoria/scenario.yaml --format json --out samples/valdoria/expected-rehearsal.json`
and read the diff."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .helpers import run


def test_the_sample_rehearsal_gives_the_expected_transcript(sample_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    got = run(sample_dir / "scenario.yaml")
    # The runner plays a scenario again when the test server loses a workflow task; the phase's
    # timers (patch timer-keep-near) avoid the one known way: a replay here is a new one to find.
    assert not [r.getMessage() for r in caplog.records if "lost a workflow task" in r.getMessage()]
    expected = json.loads((sample_dir / "expected-rehearsal.json").read_text())
    assert got["actions"] == expected["actions"]
    for g, e in zip(got["checkpoints"], expected["checkpoints"], strict=True):
        assert g == e, g["at"]
    assert got == expected
    # Times are the scenario's own: nothing of the server's moved clock shows.
    assert not re.search(r"\b2[4-9]\d\d-\d\d-\d\dT", json.dumps(got))
    # Every refusal type the sample can reach, reached.
    assert {a["refusal"] for a in got["actions"] if a["outcome"] == "refused"} == {
        "MissionNotStarted", "RoleAlreadyCounted", "AlreadyVoted", "RoleNotHeld", "RoleNotAllowed",
        "SeparationOfDuties", "StaleDigest", "NoCountedVote", "NotAwaitingApproval", "PhaseNotStarted",
        "GateDecided", "NotWaivable", "NoActiveWaiver", "PhasePaused", "PhaseNotComplete", "SamePlan",
        "AlreadyWaived", "NoActiveAssignment", "CannotRedelegate"}
