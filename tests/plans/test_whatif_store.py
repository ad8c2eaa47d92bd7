"""`timeline --compare NEW --mission M`: the stored plan and evidence against a new version (SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()


def test_store_mode_equals_file_mode(sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXITGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'store.sqlite'}")
    imp = runner.invoke(app, ["evidence", "import", str(sample_dir / "evidence.jsonl"), "--plan",
                              str(sample_dir / "plan.json"), "--backfill"])
    assert imp.exit_code == 0, imp.stderr
    span = ["--compare", str(sample_dir / "plan-v3.json"), "--from", "2024-01-01T00:00:00Z",
            "--to", "2025-07-31T00:00:00Z", "--step", "P1W", "--format", "json"]
    from_store = runner.invoke(app, ["timeline", "--mission", "valdoria", *span])
    from_file = runner.invoke(app, ["timeline", "--plan", str(sample_dir / "plan.json"), "--evidence",
                                    str(sample_dir / "evidence.jsonl"), *span])
    assert from_store.exit_code == 0 and from_file.exit_code == 0, from_store.stderr
    assert json.loads(from_store.stdout) == json.loads(from_file.stdout)
    bad = runner.invoke(app, ["timeline", "--mission", "atlantis", *span])
    assert bad.exit_code == 2 and "--mission: unknown mission 'atlantis'" in bad.stderr
    both = runner.invoke(app, ["timeline", "--mission", "valdoria", "--plan", str(sample_dir / "plan.json"),
                               *span])
    assert both.exit_code == 2 and "do not combine" in both.stderr
