"""The timeline on the sample mission equals `evaluate` at every instant it shows."""

from __future__ import annotations

import json
from pathlib import Path

from rules.evaluate import evaluate
from rules.plan import LoadedPlan
from rules.series import EvidenceIndex
from rules.timeline import timeline
from schemas.timefmt import DAY, parse_timestamp

from .compare import benchmark_nodes, mismatches, same_value

Sample = tuple[LoadedPlan, EvidenceIndex]


def test_daily_steps_equal_independent_evaluation(valdoria: Sample) -> None:
    plan, index = valdoria
    tl = timeline(plan, index, parse_timestamp("2023-01-01T00:00:00Z"),
                  parse_timestamp("2025-08-01T00:00:00Z"), DAY)
    assert len(tl.instants) == 944
    assert mismatches(plan, index, tl) == []


def test_checkpoints_equal_evaluate(valdoria: Sample, sample_dir: Path) -> None:
    plan, index = valdoria
    checkpoints = [parse_timestamp(c) for c in json.loads((sample_dir / "checkpoints.json").read_text())]
    # All checkpoints are at noon: a daily timeline from a noon passes through each of them.
    tl = timeline(plan, index, parse_timestamp("2023-01-01T12:00:00Z"), checkpoints[-1], DAY)
    for c in checkpoints:
        i = tl.instants.index(c)
        step = tl.at(i)
        full = evaluate(plan, index, c)
        for g in full["gates"]:
            assert step[g["gate"]]["status"] == g["status"]
            for node in benchmark_nodes(g["explanation"]):
                got = step[g["gate"]]["benchmarks"][node["benchmark"]]
                assert (got["status"], got["points"]) == (node["status"], node["points"])
                assert same_value(got["value"], node["value"], node["aggregate"]), (c, node, got)


def test_checkpoints_match_expected(valdoria: Sample, sample_dir: Path) -> None:
    plan, index = valdoria
    expected = json.loads((sample_dir / "expected.json").read_text())["checkpoints"]
    for when, gates in expected.items():
        t = parse_timestamp(when)
        step = timeline(plan, index, t, t, DAY).at(0)
        for gid, want in gates.items():
            assert step[gid]["status"] == want["status"], (when, gid)
            for bid, wb in want["benchmarks"].items():
                got = step[gid]["benchmarks"][bid]
                assert got["status"] == wb["status"] and got["points"] == wb["points"], (when, bid)
                if wb["value"] is None or isinstance(wb["value"], bool):
                    assert got["value"] == wb["value"]
                else:
                    assert round(got["value"], 9) == wb["value"], (when, bid)
