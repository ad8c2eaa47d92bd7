"""`exitgate rehearse`: the table, the JSON transcript, the chart, and a refused scenario."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app

from .helpers import day, record, write


def test_table_json_and_chart(tmp_path: Path) -> None:
    path = write(tmp_path, [{"at": day(2, 1), "do": "approve", "gate": "ga", "person": "hana", "role": "head"},
                            {"at": day(2, 1), "do": "approve", "gate": "ga", "person": "hana", "role": "head"}],
                 [record("r1", "ind.a", 1, day(2))], [day(3)])
    out, chart = tmp_path / "t.json", tmp_path / "c.png"
    res = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["rehearse", str(path), "--out", str(out), "--chart", str(chart)])
    assert res.exit_code == 0, res.output
    assert "AlreadyVoted" in res.stdout and "hana (head)" in res.stdout
    t = json.loads(out.read_text())
    assert [a["outcome"] for a in t["actions"]] == ["accepted", "accepted", "refused"]
    assert chart.read_bytes().startswith(b"\x89PNG")
    res = CliRunner().invoke(app, ["rehearse", str(path), "--format", "json"])
    assert res.exit_code == 0
    assert json.loads(res.stdout) == t  # stdout holds the transcript and nothing else


def test_a_refused_scenario_exits_2_listing_its_problems(tmp_path: Path) -> None:
    path = write(tmp_path, [{"at": day(2), "do": "approve", "gate": "zz", "person": "hana", "role": "head"}], [], [day(3)])
    res = CliRunner().invoke(app, ["rehearse", str(path)])
    assert res.exit_code == 2
    assert "$.actions[0].gate: unknown gate 'zz'" in res.stderr
