"""`exitgate timeline` end to end through the Typer app: outputs and bad arguments."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from rules.evaluate import evaluate
from rules.plan import LoadedPlan
from rules.series import EvidenceIndex
from schemas.timefmt import parse_timestamp

from .compare import benchmark_nodes

runner = CliRunner()


def _args(sample_dir: Path, *extra: str, start: str = "2024-06-28T12:00:00Z", end: str = "2024-07-02T12:00:00Z") -> list[str]:
    return ["timeline", "--plan", str(sample_dir / "plan.json"), "--evidence", str(sample_dir / "evidence.jsonl"),
            "--from", start, "--to", end, *extra]


def test_json_steps_equal_evaluate(sample_dir: Path, valdoria: tuple[LoadedPlan, EvidenceIndex]) -> None:
    plan, index = valdoria
    res = runner.invoke(app, _args(sample_dir, "--format", "json"))
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["plan_sha256"] == plan.sha256 and doc["step"] == "P1D"
    assert doc["evidence"] == {"accepted": 295, "duplicates": 1, "rejected": 10}
    assert [s["as_of"] for s in doc["steps"]] == [f"2024-0{m}-{d}T12:00:00Z" for m, d in
                                                 (("6", "28"), ("6", "29"), ("6", "30"), ("7", "01"), ("7", "02"))]
    for step in doc["steps"]:
        want = evaluate(plan, index, parse_timestamp(step["as_of"]))
        for g in want["gates"]:
            assert step["gates"][g["gate"]]["status"] == g["status"]
            for node in benchmark_nodes(g["explanation"]):
                got = step["gates"][g["gate"]]["benchmarks"][node["benchmark"]]
                assert got["status"] == node["status"] and got["points"] == node["points"]
    assert set(doc["summary"]) == set(plan.gates)


def test_csv_rows_and_gate_filter(sample_dir: Path) -> None:
    res = runner.invoke(app, _args(sample_dir, "--format", "csv", "--gate", "g1", "--step", "P2D"))
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert {r["gate"] for r in rows} == {"g1"}
    assert sorted({r["as_of"] for r in rows}) == ["2024-06-28T12:00:00Z", "2024-06-30T12:00:00Z", "2024-07-02T12:00:00Z"]
    assert len(rows) == 3 * (1 + 4)  # the gate and its four benchmarks at each step


def test_table_and_chart(sample_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.png"
    res = runner.invoke(app, _args(sample_dir, "--chart", str(out), start="2023-01-01T00:00:00Z",
                                   end="2025-08-01T00:00:00Z"))
    assert res.exit_code == 0, res.output
    assert "first pass" in res.stdout and "g3.2" in res.stdout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("extra", "message"), [
    (["--from", "2024-01-01"], "--from: '2024-01-01' is not an RFC 3339 timestamp"),
    (["--to", "2024-13-01T00:00:00Z"], "--to:"),
    (["--step", "P1M"], "--step:"),
    (["--to", "2020-01-01T00:00:00Z"], "--to: must not be before --from"),
    (["--gate", "nope"], "--gate: unknown gate 'nope'"),
    (["--chart", "out.gif"], "--chart: 'out.gif' must end in .png or .svg"),
    (["--evidence", "/nonexistent/e.jsonl"], "--evidence: cannot read"),
])
def test_bad_arguments_name_the_option(sample_dir: Path, extra: list[str], message: str) -> None:
    option, value = extra
    args = _args(sample_dir)
    if option in args:
        args[args.index(option) + 1] = value
    else:
        args += [option, value]
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert message in res.stderr


def test_bad_plan_lists_problems(tmp_path: Path, sample_dir: Path) -> None:
    bad = tmp_path / "plan.json"
    bad.write_text('{"plan": "x"}')
    res = runner.invoke(app, ["timeline", "--plan", str(bad), "--evidence", str(sample_dir / "evidence.jsonl"),
                              "--from", "2024-01-01T00:00:00Z", "--to", "2024-01-02T00:00:00Z"])
    assert res.exit_code == 2
    assert "required field is missing" in res.stderr
