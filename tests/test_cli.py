"""The command line's error paths: each names the option or field and the reason, exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()


def test_plan_validate_ok(sample_dir: Path) -> None:
    result = runner.invoke(app, ["plan", "validate", str(sample_dir / "plan.json")])
    assert result.exit_code == 0
    assert "sha256=" in result.stdout and "6 gates" in result.stdout


def test_plan_validate_lists_every_problem_with_its_path(tmp_path: Path, sample_dir: Path) -> None:
    doc = json.loads((sample_dir / "plan.json").read_text())
    doc["phases"][0]["depends_on"] = ["p4"]
    doc["phases"][1]["gates"][0]["rule"]["all"][1]["benchmark"]["indicator"] = "nope"
    bad = tmp_path / "plan.json"
    bad.write_text(json.dumps(doc))
    result = runner.invoke(app, ["plan", "validate", str(bad)])
    assert result.exit_code == 2
    assert "$.phases[1].gates[0].rule.all[1].benchmark.indicator: unknown indicator 'nope'" in result.stderr
    assert "dependency cycle" in result.stderr


def test_plan_validate_yaml_same_sha256(tmp_path: Path, sample_dir: Path) -> None:
    import yaml

    doc = json.loads((sample_dir / "plan.json").read_text())
    y = tmp_path / "plan.yaml"
    y.write_text(yaml.safe_dump(doc, sort_keys=True))
    a = runner.invoke(app, ["plan", "validate", str(sample_dir / "plan.json")]).stdout.split("sha256=")[1]
    b = runner.invoke(app, ["plan", "validate", str(y)]).stdout.split("sha256=")[1]
    assert a == b


def test_plan_validate_unreadable(tmp_path: Path) -> None:
    result = runner.invoke(app, ["plan", "validate", str(tmp_path / "missing.json")])
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


def test_evaluate_bad_as_of(sample_dir: Path) -> None:
    result = runner.invoke(app, ["evaluate", "--plan", str(sample_dir / "plan.json"), "--evidence",
                                 str(sample_dir / "evidence.jsonl"), "--as-of", "2025-01-15"])
    assert result.exit_code == 2
    assert "--as-of" in result.stderr and "RFC 3339" in result.stderr


def test_evaluate_needs_an_instant(sample_dir: Path) -> None:
    result = runner.invoke(app, ["evaluate", "--plan", str(sample_dir / "plan.json"), "--evidence",
                                 str(sample_dir / "evidence.jsonl")])
    assert result.exit_code == 2 and "--as-of" in result.stderr


def test_evaluate_bad_format(sample_dir: Path) -> None:
    result = runner.invoke(app, ["evaluate", "--plan", str(sample_dir / "plan.json"), "--evidence",
                                 str(sample_dir / "evidence.jsonl"), "--as-of", "2025-01-15T00:00:00Z",
                                 "--format", "xml"])
    assert result.exit_code == 2 and "--format" in result.stderr


def test_evaluate_missing_evidence_file(sample_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", "--plan", str(sample_dir / "plan.json"), "--evidence",
                                 str(tmp_path / "none.jsonl"), "--as-of", "2025-01-15T00:00:00Z"])
    assert result.exit_code == 2 and "--evidence" in result.stderr


def test_evaluate_table_renders(sample_dir: Path) -> None:
    result = runner.invoke(app, ["evaluate", "--plan", str(sample_dir / "plan.json"), "--evidence",
                                 str(sample_dir / "evidence.jsonl"), "--as-of", "2024-07-29T12:00:00Z"])
    assert result.exit_code == 0
    assert "p3/g3.1" in result.stdout and "B3.1" in result.stdout and "2 points, 3 needed" in result.stdout


def test_demo_rules_only_runs() -> None:
    result = runner.invoke(app, ["demo", "--rules-only"])
    assert result.exit_code == 0
    assert "295 accepted, 1 duplicate, 10 rejected" in " ".join(result.stdout.split())
