"""`exitgate evidence import|show` and `evaluate --mission` against a real store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()


def test_import_show_and_evaluate_from_store(store_url: str, sample_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXITGATE_DATABASE_URL", store_url)
    imp = runner.invoke(app, ["evidence", "import", str(sample_dir / "evidence.jsonl"), "--plan",
                              str(sample_dir / "plan.json"), "--backfill", "--actor", "coordinator-1"])
    assert imp.exit_code == 0, imp.stderr
    assert "295" in imp.stdout and "rejected line 161" in imp.stderr

    show = runner.invoke(app, ["evidence", "show", "--mission", "valdoria", "--indicator",
                               "sec.security_incidents", "--as-of", "2023-06-01T00:00:00Z"])
    assert show.exit_code == 0 and "VAL-00022" in show.stdout and "VAL-00029" not in show.stdout

    args = ["--as-of", "2024-07-29T12:00:00Z", "--as-of", "2025-05-20T12:00:00Z", "--format", "json"]
    from_store = runner.invoke(app, ["evaluate", "--mission", "valdoria", *args])
    from_file = runner.invoke(app, ["evaluate", "--plan", str(sample_dir / "plan.json"), "--evidence",
                                    str(sample_dir / "evidence.jsonl"), *args])
    assert from_store.exit_code == 0 and from_file.exit_code == 0
    assert json.loads(from_store.stdout) == json.loads(from_file.stdout)


def test_errors_name_the_option(store_url: str, sample_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXITGATE_DATABASE_URL", store_url)
    r = runner.invoke(app, ["evaluate", "--mission", "atlantis", "--as-of", "2024-07-29T12:00:00Z"])
    assert r.exit_code == 2 and "--mission" in r.stderr and "atlantis" in r.stderr
    r = runner.invoke(app, ["evidence", "import", str(sample_dir / "evidence.jsonl"), "--mission", "atlantis"])
    assert r.exit_code == 2 and "--mission" in r.stderr
    r = runner.invoke(app, ["evidence", "show", "--mission", "valdoria", "--indicator", "x", "--as-of", "yesterday"])
    assert r.exit_code == 2 and "--as-of" in r.stderr


def test_timeline_from_store_equals_file_mode(store_url: str, sample_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXITGATE_DATABASE_URL", store_url)
    imp = runner.invoke(app, ["evidence", "import", str(sample_dir / "evidence.jsonl"), "--plan",
                              str(sample_dir / "plan.json"), "--backfill"])
    assert imp.exit_code == 0, imp.stderr
    span = ["--from", "2024-01-01T00:00:00Z", "--to", "2025-07-31T00:00:00Z", "--step", "P1W", "--format", "json"]
    from_store = runner.invoke(app, ["timeline", "--mission", "valdoria", *span])
    from_file = runner.invoke(app, ["timeline", "--plan", str(sample_dir / "plan.json"), "--evidence",
                                    str(sample_dir / "evidence.jsonl"), *span])
    assert from_store.exit_code == 0 and from_file.exit_code == 0, from_store.stderr
    a, b = json.loads(from_store.stdout), json.loads(from_file.stdout)
    assert a["steps"] == b["steps"] and a["summary"] == b["summary"] and a["plan_sha256"] == b["plan_sha256"]
    bad = runner.invoke(app, ["timeline", "--mission", "atlantis", *span])
    assert bad.exit_code == 2 and "--mission" in bad.stderr
