"""`exitgate evaluate` on the bundled sample reproduces expected.json exactly (issue 2)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app


def _benchmarks(node: dict[str, Any]) -> list[dict[str, Any]]:
    if node["node"] == "benchmark":
        return [node]
    return [b for child in node["children"] for b in _benchmarks(child)]


@pytest.fixture(scope="module")
def run(sample_dir: Path) -> tuple[list[dict[str, Any]], str]:
    checkpoints = json.loads((sample_dir / "checkpoints.json").read_text())
    args = ["evaluate", "--plan", str(sample_dir / "plan.json"),
            "--evidence", str(sample_dir / "evidence.jsonl"), "--format", "json"]
    for cp in checkpoints:
        args += ["--as-of", cp]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def test_evidence_counts_and_rejected_lines(run: tuple[list[dict[str, Any]], str], sample_dir: Path) -> None:
    expected = json.loads((sample_dir / "expected.json").read_text())
    _, stderr = run
    stderr = " ".join(stderr.split())  # Rich may wrap long lines
    m = re.search(r"(\d+) accepted, (\d+) duplicate, (\d+) rejected", stderr)
    assert m is not None, stderr
    assert int(m.group(1)) == expected["accepted"]
    assert int(m.group(2)) == expected["duplicates"]
    lines = sorted(int(n) for n in re.findall(r"rejected line (\d+)", stderr))
    assert lines == expected["rejected_lines"]


def test_every_checkpoint_gate_and_benchmark(run: tuple[list[dict[str, Any]], str], sample_dir: Path) -> None:
    expected = json.loads((sample_dir / "expected.json").read_text())["checkpoints"]
    results, _ = run
    assert [r["as_of"] for r in results] == list(expected)
    for result in results:
        want = expected[result["as_of"]]
        assert {g["gate"] for g in result["gates"]} == set(want)
        for gate in result["gates"]:
            wg = want[gate["gate"]]
            assert gate["status"] == wg["status"], (result["as_of"], gate["gate"])
            got = {b["benchmark"]: b for b in _benchmarks(gate["explanation"])}
            assert set(got) == set(wg["benchmarks"])
            for bid, wb in wg["benchmarks"].items():
                b = got[bid]
                where = (result["as_of"], bid)
                assert b["status"] == wb["status"], where
                assert b["points"] == wb["points"], where
                if wb["value"] is None:
                    assert b["value"] is None, where
                else:
                    assert type(b["value"]) is type(wb["value"]), where
                    if isinstance(wb["value"], bool):
                        assert b["value"] is wb["value"], where
                        continue
                    assert round(b["value"], 9) == pytest.approx(wb["value"], abs=1e-9), where


def test_output_shape_per_contract(run: tuple[list[dict[str, Any]], str]) -> None:
    results, _ = run
    r = results[0]
    assert {"plan", "plan_sha256", "mission", "as_of", "evidence_digest", "gates"} <= set(r)
    assert r["plan"] == "valdoria-exit" and r["mission"] == "valdoria"
    gate = r["gates"][0]
    assert {"phase", "gate", "status", "digest", "valid_until", "explanation"} <= set(gate)
    bench = _benchmarks(gate["explanation"])[0]
    assert {"node", "benchmark", "status", "value", "op", "threshold", "points",
            "newest_observed_at", "evidence", "reason"} <= set(bench)
    # Digests differ across checkpoints where evidence differs, and are hex sha256.
    assert len({x["evidence_digest"] for x in results}) == len(results)
    assert re.fullmatch(r"[0-9a-f]{64}", gate["digest"])
