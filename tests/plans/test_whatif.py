"""What-if: the comparison's first-pass dates are those of two separate `timeline` runs; the
benchmarks it names are the ones whose change moved the gate; the chart draws both lanes."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
from matplotlib.image import imread
from typer.testing import CliRunner

from cli.main import app
from reports.timeline_chart import COLOURS, _num, render_compare, save
from rules.evidence import read_jsonl
from rules.plan import LoadedPlan, load_plan, load_plan_file
from rules.series import EvidenceIndex
from rules.whatif import compare_timelines, what_if
from schemas.timefmt import DAY, parse_timestamp

from .conftest import Writer

runner = CliRunner()
RANGE = ["--from", "2023-01-01T00:00:00Z", "--to", "2025-08-01T00:00:00Z", "--step", "P1D"]


def _index(plan: LoadedPlan, sample_dir: Path) -> EvidenceIndex:
    ledger, _ = read_jsonl((sample_dir / "evidence.jsonl").read_text(), plan)
    return EvidenceIndex(ledger.records.values())


def test_first_passes_equal_two_timeline_runs(sample_dir: Path) -> None:
    evidence = ["--evidence", str(sample_dir / "evidence.jsonl")]
    runs = {}
    for name in ("plan.json", "plan-v3.json"):
        res = runner.invoke(app, ["timeline", "--plan", str(sample_dir / name), *evidence, *RANGE, "--format", "json"])
        assert res.exit_code == 0, res.output
        runs[name] = json.loads(res.stdout)["summary"]
    res = runner.invoke(app, ["timeline", "--plan", str(sample_dir / "plan.json"),
                              "--compare", str(sample_dir / "plan-v3.json"), *evidence, *RANGE, "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert (doc["old"]["version"], doc["new"]["version"]) == ("1", "3")
    gates = {g["gate"]: g for g in doc["gates"]}
    assert set(gates) == set(runs["plan.json"]) == set(runs["plan-v3.json"])
    for g, got in gates.items():
        old, new = runs["plan.json"][g]["first_pass"], runs["plan-v3.json"][g]["first_pass"]
        assert (got["first_pass_old"], got["first_pass_new"]) == (old, new)
        if old is not None and new is not None:
            assert got["days_gained"] == (parse_timestamp(old) - parse_timestamp(new)) / DAY
    # What the sample's renegotiation does (samples/valdoria/plan-v3.json against plan.json).
    assert {g: (v["days_gained"], v["responsible"]) for g, v in gates.items()} == {
        "g1": (-6.0, ["B1.1"]), "g2.1": (0.0, ["B2.2", "B2.4"]), "g2.2": (92.0, ["B2.6"]), "g3.1": (0.0, ["B3.2"]),
        "g3.2": (22.0, ["B3.9"]), "g4": (0.0, [])}


def test_table_names_days_and_benchmarks(sample_dir: Path) -> None:
    res = runner.invoke(app, ["timeline", "--plan", str(sample_dir / "plan.json"), "--compare",
                              str(sample_dir / "plan-v3.json"), "--evidence", str(sample_dir / "evidence.jsonl"), *RANGE])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].startswith("old = valdoria-exit 1 (") and ", new = valdoria-exit 3 (" in lines[0]
    assert "  g2.2           2025-04-21       2025-01-19     +92  B2.6" in lines
    assert "  g1             2023-07-05       2023-07-11      -6  B1.1" in lines


def test_gates_added_and_removed(sample_dir: Path) -> None:
    old = load_plan_file(sample_dir / "plan.json")
    doc = copy.deepcopy(old.document)
    gates = doc["phases"][1]["gates"]
    gates[1] = {**gates[1], "id": "g2.2b"}  # the DDR gate under a new id
    doc["phases"][0]["gates"][0]["rule"]["all"][0]["benchmark"]["threshold"] = 1  # g1 never passes
    new = load_plan(doc)
    t0, t1 = parse_timestamp("2023-01-01T00:00:00Z"), parse_timestamp("2025-08-01T00:00:00Z")
    w = what_if(old, _index(old, sample_dir), new, _index(new, sample_dir), t0, t1, DAY)
    assert list(w.gates) == ["g1", "g2.1", "g2.2", "g3.1", "g3.2", "g4", "g2.2b"]
    assert (w.gates["g2.2"].outcome, w.gates["g2.2b"].outcome) == ("removed", "added")
    assert w.gates["g2.2b"].responsible == ["B2.5", "B2.6"]
    assert (w.gates["g1"].outcome, w.gates["g1"].days_gained, w.gates["g1"].responsible) == (
        "no longer passes", None, ["B1.1"])
    assert compare_timelines(w.old, w.old)["g1"].responsible == []


def test_chart_draws_both_lanes(sample_dir: Path, tmp_path: Path) -> None:
    old, new = load_plan_file(sample_dir / "plan.json"), load_plan_file(sample_dir / "plan-v3.json")
    t0, t1 = parse_timestamp("2023-01-01T00:00:00Z"), parse_timestamp("2025-08-01T00:00:00Z")
    w = what_if(old, _index(old, sample_dir), new, _index(new, sample_dir), t0, t1, DAY)
    chart = render_compare(w.old, w.new, "what-if", DAY)
    assert list(chart.lanes) == [f"{g} {v}" for g in old.gates for v in ("old", "new")]
    path = tmp_path / "c.png"
    save(chart, path)
    img = imread(path)[:, :, :3]
    height = img.shape[0]

    def colour(lane: str, day: str) -> np.ndarray:
        px, py = chart.axes.transData.transform((_num(parse_timestamp(day)) + 0.5, chart.lanes[lane]))
        return np.asarray(img[round(height - py), round(px)])

    def rgb(status: bool | None) -> np.ndarray:
        c = COLOURS[status]
        return np.array([int(c[i:i + 2], 16) / 255 for i in (1, 3, 5)])

    # Between the two first passes of g2.2 the lanes differ: red under plan.json, green under plan-v3.json.
    day = "2025-03-01T00:00:00Z"
    k = w.old.instants.index(parse_timestamp(day))
    assert (w.old.gates["g2.2"][k], w.new.gates["g2.2"][k]) == (False, True)
    assert np.abs(colour("g2.2 old", day) - rgb(False)).max() < 0.02
    assert np.abs(colour("g2.2 new", day) - rgb(True)).max() < 0.02
    res = runner.invoke(app, ["timeline", "--plan", str(sample_dir / "plan.json"), "--compare",
                              str(sample_dir / "plan-v3.json"), "--evidence", str(sample_dir / "evidence.jsonl"),
                              *RANGE, "--chart", str(tmp_path / "c.svg")])
    assert res.exit_code == 0 and (tmp_path / "c.svg").read_text().lstrip().startswith("<?xml")


def test_bad_arguments(sample_dir: Path, write: Writer) -> None:
    base = ["timeline", "--plan", str(sample_dir / "plan.json"), "--evidence", str(sample_dir / "evidence.jsonl")]
    other = copy.deepcopy(load_plan_file(sample_dir / "plan.json").document)
    other["mission"]["id"] = "elsewhere"
    elsewhere = write("other.json", other)
    cases = [
        ([*base, "--compare", str(elsewhere), *RANGE], "--compare: the plan is for mission 'elsewhere'"),
        ([*base, "--compare", str(sample_dir / "plan-v3.json"), "--from", "2024-01-01", "--to",
          "2024-02-01T00:00:00Z"], "--from:"),
        ([*base, "--compare", str(sample_dir / "plan-v3.json"), *RANGE[:4], "--step", "P1M"], "--step:"),
        (["timeline", "--compare", str(sample_dir / "plan-v3.json"), *RANGE], "give --plan and --evidence"),
    ]
    for args, words in cases:
        res = runner.invoke(app, args)
        assert res.exit_code == 2 and words in res.stderr, (args, res.stderr)


def test_timeline_compare_is_an_alias_and_gate_selects(sample_dir: Path) -> None:
    files = ["--plan", str(sample_dir / "plan.json"), "--compare", str(sample_dir / "plan-v3.json"),
             "--evidence", str(sample_dir / "evidence.jsonl"), *RANGE]
    new = runner.invoke(app, ["timeline", *files, "--format", "json"])
    old = runner.invoke(app, ["timeline-compare", *files, "--format", "json"])
    assert new.exit_code == 0 and old.exit_code == 0, (new.stderr, old.stderr)
    assert new.stdout == old.stdout
    assert runner.invoke(app, ["timeline", *files]).stdout == runner.invoke(app, ["timeline-compare", *files]).stdout
    one = runner.invoke(app, ["timeline", *files, "--format", "json", "--gate", "g2.2", "--gate", "g1"])
    assert one.exit_code == 0, one.stderr
    whole = {g["gate"]: g for g in json.loads(new.stdout)["gates"]}
    assert json.loads(one.stdout)["gates"] == [whole["g2.2"], whole["g1"]]  # in the order asked, as timeline --gate
    for args, words in [([*files, "--format", "csv"], "--format: a comparison is printed as table or json"),
                        ([*files, "--gate", "g9"], "--gate: unknown gate 'g9'")]:
        res = runner.invoke(app, ["timeline", *args])
        assert res.exit_code == 2 and words in res.stderr, (args, res.stderr)
