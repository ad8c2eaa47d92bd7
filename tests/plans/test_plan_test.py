"""`exitgate plan test`: cases run by the engine, readable failures, exit codes, bad test files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from rules.evaluate import evaluate
from rules.evidence import read_jsonl
from rules.plan import load_plan_file
from rules.plantest import TestFileError, load_suite, run_suite
from rules.series import EvidenceIndex
from schemas.timefmt import parse_timestamp

from ..rules.helpers import base_plan
from .conftest import Writer

runner = CliRunner()

# Two points of b1 (mean <= 5 over P90D, 2 points, max_age P45D) and one of b2 (latest >= 1.5).
RECORDS = [
    {"indicator": "inc", "value": 4, "observed_at": "2025-02-28T00:00:00Z"},
    {"indicator": "inc", "value": 6, "observed_at": "2025-03-31T00:00:00Z"},
    {"indicator": "pol", "value": 1.2, "observed_at": "2025-03-31T00:00:00Z", "source": "moi"},
]
AS_OF = "2025-04-10T00:00:00Z"


def _suite(write: Writer, cases: list[dict[str, Any]], **top: Any) -> Path:
    write("plan.json", base_plan())
    return write("plan.test.yaml", {"plan": "plan.json", **top, "cases": cases})


def _case(expect: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {"name": kw.pop("name", "case"), "as_of": AS_OF, "records": RECORDS, "expect": expect, **kw}


def test_sample_passes_with_full_benchmark_coverage(sample_dir: Path) -> None:
    res = runner.invoke(app, ["plan", "test", str(sample_dir / "plan.test.yaml"), "--coverage", "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["failed"] == 0 and doc["passed"] == len(doc["files"][0]["cases"]) >= 9
    (cov,) = doc["coverage"]
    assert cov["benchmark_percent"] == 100.0
    assert all(not b["missing"] for b in cov["benchmarks"])


def test_a_failing_case_says_expected_and_got(write: Writer) -> None:
    path = _suite(write, [
        _case({"gates": {"g1": "fail"}, "benchmarks": {"b1": "pass", "b2": "fail"}}, name="police too thin"),
        _case({"gates": {"g1": "pass"},
               "benchmarks": {"b1": {"status": "fail", "value": {"min": 5.5}, "points": 3, "reason": "over 3 points"},
                              "b2": {"value": 1.5}}},
              name="wrong on purpose"),
    ])
    res = runner.invoke(app, ["plan", "test", str(path)])
    assert res.exit_code == 1
    lines = res.stdout.splitlines()
    assert lines[0].startswith(f"{path} (lakeland-exit, sha256 ")
    assert lines[1:] == [
        "  PASS  police too thin  [as of 2025-04-10T00:00:00Z]",
        "  FAIL  wrong on purpose  [as of 2025-04-10T00:00:00Z]",
        "        gate g1 status: expected pass, got fail",
        "        benchmark b1 status: expected fail, got pass (mean 5 <= 5 over 2 points)",
        "        benchmark b1 reason: expected to contain 'over 3 points', got 'mean 5 <= 5 over 2 points'",
        "        benchmark b1 value: expected >= 5.5, got 5 (mean 5 <= 5 over 2 points)",
        "        benchmark b1 points: expected 3, got 2 (mean 5 <= 5 over 2 points)",
        "        benchmark b2 value: expected 1.5, got 1.2 (latest 1.2 is not >= 1.5 over 1 point)",
        "1 passed, 1 failed",
    ]


def test_json_output_carries_each_mismatch(write: Writer) -> None:
    path = _suite(write, [_case({"benchmarks": {"b2": {"value": {"min": 1, "max": 1.1}}}})])
    res = runner.invoke(app, ["plan", "test", str(path), "--format", "json"])
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    assert (doc["passed"], doc["failed"]) == (0, 1)
    (case,) = doc["files"][0]["cases"]
    assert case["passed"] is False
    assert case["mismatches"] == [{
        "subject": "benchmark b2", "field": "value", "expected": "between 1 and 1.1", "got": "1.2",
        "detail": "latest 1.2 is not >= 1.5 over 1 point",
        "text": "benchmark b2 value: expected between 1 and 1.1, got 1.2 (latest 1.2 is not >= 1.5 over 1 point)"}]


def test_results_are_the_engines(write: Writer) -> None:
    """Every case's evaluation is `evaluate` over the same evidence; digests are computed only
    for the gates a case pins one for (the rest of the evaluation is the same either way)."""
    path = _suite(write, [_case({"gates": {"g1": "fail"}}), _case({"gates": {"g1": {"status": "fail", "digest": "0" * 64}}})])
    suite = load_suite(path)
    plain, pinned = run_suite(suite)
    plan = load_plan_file(path.parent / "plan.json")

    def engine(case: int) -> dict[str, Any]:
        ledger, _ = read_jsonl("", plan)
        for n, raw in enumerate(RECORDS, start=1):
            ledger.add({"id": f"case{case}:{n}", "mission": plan.mission_id, "source": "jmac", **raw})
        return evaluate(plan, EvidenceIndex(ledger.records.values()), parse_timestamp(AS_OF))

    want = engine(1)
    unhashed = {**want, "evidence_digest": None, "gates": [{**g, "digest": None} for g in want["gates"]]}
    assert plain.evaluation == unhashed
    assert pinned.evaluation["gates"][0] == engine(2)["gates"][0] and pinned.evaluation["gates"][1]["digest"] is None


def test_digest_waiver_and_exact_values(write: Writer) -> None:
    digest = "0" * 64
    path = _suite(write, [
        _case({"gates": {"g1": {"status": "pass", "digest": digest}},
               "benchmarks": {"b2": {"status": "pass", "waived": True, "reason": "rule alone: latest 1.2"},
                              "b1": {"value": 5, "waived": False}}},
              waivers=[{"benchmark": "b2", "by": "head", "justification": "census pending"}]),
        _case({"benchmarks": {"b2": {"waived": True}}}, name="no waiver"),
    ])
    (waived, plain) = run_suite(load_suite(path))
    (m,) = waived.mismatches
    assert m.text == f"gate g1 digest: expected {digest}, got {waived.evaluation['gates'][0]['digest']}"
    assert [x.text for x in plain.mismatches] == [
        "benchmark b2 waived: expected waived, got not waived (latest 1.2 is not >= 1.5 over 1 point)"]


def test_true_is_never_one(write: Writer) -> None:
    plan = base_plan()
    write("plan.json", plan)
    path = write("t.yaml", {"plan": "plan.json", "cases": [
        {"name": "election", "as_of": AS_OF,
         "records": [{"indicator": "elect", "value": True, "observed_at": "2025-03-01T00:00:00Z", "source": "nec"}],
         "expect": {"benchmarks": {"b3": {"status": "pass", "value": 1}}}}]})
    (r,) = run_suite(load_suite(path))
    assert [m.text for m in r.mismatches] == ["benchmark b3 value: expected 1, got true (latest true == true over 1 point)"]


def test_evidence_file_shared_and_rejections_tolerated(write: Writer) -> None:
    write("plan.json", base_plan())
    lines = [{"id": f"r{n}", "mission": "lakeland", "source": "jmac", **r} for n, r in enumerate(RECORDS)]
    lines.append({"id": "bad", "mission": "lakeland", "indicator": "inc", "value": "7", "source": "jmac",
                  "observed_at": "2025-03-01T00:00:00Z"})
    write("ev.jsonl", lines)
    path = write("t.yaml", {"plan": "plan.json", "evidence": "ev.jsonl", "cases": [
        {"name": "a", "as_of": AS_OF, "expect": {"gates": {"g1": "fail"}}},
        {"name": "b", "as_of": AS_OF, "records": [{"indicator": "pol", "value": 2, "observed_at": "2025-04-01T00:00:00Z",
                                                  "source": "moi"}],
         "evidence": "ev.jsonl", "expect": {"gates": {"g1": "pass"}}},
        {"name": "c", "as_of": AS_OF, "expect": {"benchmarks": {"b2": {"value": 1.2}}}},
    ]})
    suite = load_suite(path)
    results = run_suite(suite)
    assert [r.passed for r in results] == [True, True, True]
    assert [r.file_rejections for r in results] == [1, 1, 1]
    assert len(suite._files) == 1  # read once for the three cases


def test_cases_out_of_time_order_each_equal_their_own_evaluation_in_file_order(write: Writer) -> None:
    # run_suite runs cases in the order of their instants (views and results are shared) and
    # reports them in the file's; a case with records gets the file's index plus those records.
    write("plan.json", base_plan())
    lines = [{"id": f"r{n}", "mission": "lakeland", "source": "jmac", **r} for n, r in enumerate(RECORDS)]
    write("ev.jsonl", lines)
    extra = [{"indicator": "inc", "value": 9, "observed_at": "2025-04-05T00:00:00Z"}]
    instants = ["2025-05-20T00:00:00Z", "2025-03-01T00:00:00Z", AS_OF, "2025-04-06T00:00:00Z", "2025-03-01T00:00:00Z"]
    cases = [{"name": f"c{k}", "as_of": t, "evidence": "ev.jsonl", "expect": {"gates": {"g1": "pass"}},
              **({"records": extra} if k % 2 else {})} for k, t in enumerate(instants)]
    path = write("t.yaml", {"plan": "plan.json", "evidence": "ev.jsonl", "cases": cases})
    results = run_suite(load_suite(path))
    assert [r.name for r in results] == [c["name"] for c in cases]
    plan = load_plan_file(path.parent / "plan.json")
    for k, (t, r) in enumerate(zip(instants, results, strict=True)):
        ledger, _ = read_jsonl((path.parent / "ev.jsonl").read_text(), plan)
        if k % 2:
            ledger.add({"id": f"case{k + 1}:1", "mission": "lakeland", "source": "jmac", **extra[0]})
        want = evaluate(plan, EvidenceIndex(ledger.records.values()), parse_timestamp(t), digests=[])
        assert r.evaluation == want, r.name


def test_a_rejected_inline_record_fails_its_case(write: Writer) -> None:
    path = _suite(write, [_case({"gates": {"g1": "unknown"}},
                                records=[{"indicator": "inc", "value": 2.5, "observed_at": "2025-03-01T00:00:00Z"}])])
    (r,) = run_suite(load_suite(path))
    assert [m.text for m in r.mismatches] == [
        "record 1 evidence: expected accepted, got rejected: record 'case1:1': value: 'inc' is an integer "
        "indicator: the value must be a JSON integer, not 2.5"]


@pytest.mark.parametrize(("case", "path", "words"), [
    ({"expect": {"gates": {"g9": "pass"}}}, "$.cases[0].expect.gates.g9", "unknown gate 'g9' (the plan has g1, g2)"),
    ({"expect": {"benchmarks": {"b9": "pass"}}}, "$.cases[0].expect.benchmarks.b9", "unknown benchmark 'b9'"),
    ({"expect": {"gates": {"g1": "passed"}}}, "$.cases[0].expect.gates.g1", "Input should be 'pass', 'fail' or 'unknown'"),
    ({"expect": {}}, "$.cases[0].expect", "expects nothing"),
    ({"as_of": "2025-04-10", "expect": {"gates": {"g1": "pass"}}}, "$.cases[0].as_of", "not an RFC 3339 timestamp"),
    ({"expect": {"benchmarks": {"b1": {"value": {"min": 3, "max": 2}}}}}, "$.cases[0].expect.benchmarks.b1.value",
     "min 3 is above max 2"),
    ({"expect": {"benchmarks": {"b1": {"statuss": "pass"}}}}, "$.cases[0].expect.benchmarks.b1.statuss",
     "Extra inputs are not permitted"),
    ({"waivers": [{"benchmark": "b9"}], "expect": {"gates": {"g1": "pass"}}}, "$.cases[0].waivers[0].benchmark",
     "unknown benchmark 'b9'"),
    ({"records": None, "expect": {"gates": {"g1": "pass"}}}, "$.cases[0].evidence", "give an evidence file or records"),
])
def test_bad_test_files_name_the_field(write: Writer, case: dict[str, Any], path: str, words: str) -> None:
    body = {"name": "c", "as_of": AS_OF, "records": [], **case}
    if body.get("records") is None:
        body.pop("records")
    p = _suite(write, [body])
    with pytest.raises(TestFileError) as info:
        load_suite(p)
    assert any(pr.path == path and words in pr.message for pr in info.value.problems), info.value.problems
    res = runner.invoke(app, ["plan", "test", str(p)])
    assert res.exit_code == 2 and path in res.stderr


def test_a_waiver_under_not_is_refused(write: Writer) -> None:
    plan = base_plan()
    plan["phases"][0]["gates"][0]["rule"] = {"not": plan["phases"][0]["gates"][0]["rule"]}
    write("plan.json", plan)
    p = write("t.yaml", {"plan": "plan.json", "cases": [
        {"name": "c", "as_of": AS_OF, "records": [], "waivers": [{"benchmark": "b1"}], "expect": {"gates": {"g1": "pass"}}}]})
    with pytest.raises(TestFileError, match=r"\$\.cases\[0\]\.waivers\[0\]\.benchmark: benchmark 'b1' sits under a `not`"):
        load_suite(p)


def test_missing_plan_and_evidence_files(write: Writer, tmp_path: Path) -> None:
    p = write("t.yaml", {"plan": "nowhere.json", "cases": [_case({"gates": {"g1": "pass"}})]})
    with pytest.raises(TestFileError, match=r"\$\.plan \(nowhere\.json\): \$: cannot read"):
        load_suite(p)
    p = _suite(write, [{"name": "c", "as_of": AS_OF, "evidence": "missing.jsonl", "expect": {"gates": {"g1": "pass"}}}])
    res = runner.invoke(app, ["plan", "test", str(p)])
    assert res.exit_code == 2 and "cannot read evidence" in res.stderr
    res = runner.invoke(app, ["plan", "test", str(tmp_path / "absent.yaml")])
    assert res.exit_code == 2 and "cannot read" in res.stderr


def test_the_published_schema_agrees_with_the_model(sample_dir: Path) -> None:
    from pydantic import ValidationError

    from rules.documents import load_document
    from schemas import files
    from schemas.plantest import PlanTestFile

    good = load_document(sample_dir / "plan.test.yaml")
    bad = [{**good, "cases": []}, {**good, "extra": 1}, {**good, "cases": [{**good["cases"][0], "as_of": "2024-01-01"}]},
           {**good, "cases": [{**good["cases"][0], "expect": {"gates": {"g1": "maybe"}}}]}]
    validator = files.validator("plan-test.schema.json")
    assert validator.is_valid(good)
    PlanTestFile.model_validate(good)
    for doc in bad:
        assert not validator.is_valid(doc)
        with pytest.raises(ValidationError):
            PlanTestFile.model_validate(doc)
