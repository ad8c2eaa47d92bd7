"""`exitgate plan diff`: nothing for the same plan in another form, and each kind of change named."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from rules.plan import load_plan, load_plan_file
from rules.plandiff import diff_plans

from ..rules.helpers import base_plan, bench
from .conftest import Writer

runner = CliRunner()


def _reversed_keys(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _reversed_keys(v[k]) for k in reversed(list(v))}
    if isinstance(v, list):
        return [_reversed_keys(x) for x in v]
    return v


def _texts(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [c.text for c in diff_plans(load_plan(old), load_plan(new)).changes]


def test_a_plan_with_itself_and_in_yaml_with_keys_reordered(sample_dir: Path, write: Writer) -> None:
    doc = json.loads((sample_dir / "plan.json").read_text())
    as_yaml = write("plan.yaml", _reversed_keys(doc))
    a, b = load_plan_file(sample_dir / "plan.json"), load_plan_file(as_yaml)
    assert a.sha256 == b.sha256
    assert diff_plans(a, a).changes == [] and diff_plans(a, b).changes == []
    res = runner.invoke(app, ["plan", "diff", str(sample_dir / "plan.json"), str(as_yaml), "--exit-code"])
    assert res.exit_code == 0 and res.stdout.splitlines()[1] == "no change"


def test_defaults_written_out_change_the_sha256_but_not_the_meaning() -> None:
    old = base_plan()
    new = copy.deepcopy(old)
    new["phases"][0]["gates"][0]["rule"]["all"][1]["benchmark"]["min_points"] = 1
    new["phases"][1]["gates"][0]["approval"]["distinct_roles"] = False
    d = diff_plans(load_plan(old), load_plan(new))
    assert d.changes == [] and not d.same_sha256


def _gate(p: dict[str, Any], i: int = 0) -> dict[str, Any]:
    gate: dict[str, Any] = [g for ph in p["phases"] for g in ph["gates"]][i]
    return gate


def _b1(p: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = _gate(p)["rule"]["all"][0]["benchmark"]
    return body


def _add_phase(p: dict[str, Any]) -> None:
    p["phases"].append({"id": "handover", "name": "Handover", "depends_on": ["drawdown"], "gates": [
        {"id": "g3", "name": "Gate three", "rule": bench("b9", "inc"), "approval": {"roles": ["head"], "quorum": 1}}]})


def _move_gate(p: dict[str, Any]) -> None:
    p["phases"][1]["gates"].append(p["phases"][0]["gates"].pop())
    p["phases"][0]["gates"] = [{"id": "g0", "name": "Gate zero", "rule": bench("b0", "inc"),
                                "approval": {"roles": ["head"], "quorum": 1}}]


def _move_benchmark(p: dict[str, Any]) -> None:
    _gate(p, 1)["rule"]["any"].append(_gate(p)["rule"]["all"].pop(1))


def _set(path: Callable[[dict[str, Any]], dict[str, Any]], key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mut(p: dict[str, Any]) -> None:
        path(p)[key] = value
    return mut


CHANGES: list[tuple[str, Callable[[dict[str, Any]], None], list[str]]] = [
    ("threshold", _set(_b1, "threshold", 4), ["b1 threshold 5 -> 4"]),
    ("window", _set(_b1, "window", "P60D"), ["b1 window P90D -> P60D"]),
    ("window removed", lambda p: _b1(p).pop("window"), ["b1 window P90D -> none"]),
    ("max_age and aggregate", lambda p: _b1(p).update(max_age="P30D", aggregate="max"),
     ["b1 aggregate mean -> max", "b1 max_age P45D -> P30D"]),
    ("quorum", _set(lambda p: _gate(p)["approval"], "quorum", 3), ["g1 quorum 2 -> 3"]),
    ("role added", lambda p: _gate(p)["approval"]["roles"].append("host_nation"), ["g1 role host_nation added"]),
    ("role removed", lambda p: _gate(p)["approval"].update(roles=["head", "host"]), ["g1 role deputy removed"]),
    ("roles reordered", lambda p: _gate(p)["approval"].update(roles=["deputy", "host", "head"]), []),
    ("required and waiver roles", lambda p: _gate(p)["approval"].update(required_roles=["deputy"], waiver_roles=None),
     ["g1 required role deputy added", "g1 required role host removed", "g1 waiver role head removed"]),
    ("distinct roles", _set(lambda p: _gate(p)["approval"], "distinct_roles", False), ["g1 distinct_roles true -> false"]),
    ("timers", lambda p: _gate(p).update(timers={"remind_after": "P3D"}),
     ["g1 remind_after P7D -> P3D", "g1 escalate_after P21D -> none"]),
    ("timers added", lambda p: _gate(p, 1).update(timers={"escalate_after": "P10D"}), ["g2 escalate_after none -> P10D"]),
    ("gate name", _set(_gate, "name", "Gate 1"), ["g1 name Gate one -> Gate 1"]),
    ("indicator changed", lambda p: p["indicators"][1].update(unit="officers", max=25),
     ["pol unit none -> officers", "pol max 20 -> 25"]),
    ("indicator source", lambda p: p["indicators"][0]["sources"].append("unmas"), ["inc source unmas added"]),
    ("indicator added", lambda p: p["indicators"].append({"id": "ret", "name": "Returns", "kind": "integer"}),
     ["indicator ret added"]),
    ("phase, gate and benchmark added", _add_phase,
     ["phase handover added", "gate g3 added (phase handover)", "benchmark b9 added (gate g3)"]),
    ("dependency", lambda p: p["phases"][1].update(depends_on=[]), ["drawdown dependency prep removed"]),
    ("gate moved and added", _move_gate,
     ["gate g0 added (phase prep)", "g1 phase prep -> drawdown", "benchmark b0 added (gate g0)"]),
    ("benchmark moved", _move_benchmark,
     ["g1 rule.all [b1, b2] -> [b1]", "g2 rule.any [b3] -> [b3, b2]", "b2 gate g1 -> g2"]),
    ("benchmark removed", lambda p: _gate(p)["rule"]["all"].pop(1), ["g1 rule.all [b1, b2] -> [b1]", "benchmark b2 removed (gate g1)"]),
    ("combinator", lambda p: _gate(p).update(rule={"at_least": 1, "of": _gate(p)["rule"]["all"]}),
     ["g1 rule all -> at_least"]),
    ("at_least", lambda p: _gate(p).update(rule={"all": [{"at_least": 1, "of": _gate(p)["rule"]["all"]}]}),
     ["g1 rule.all [b1, b2] -> [at_least]"]),
    ("combinator weight", lambda p: _gate(p)["rule"].update(weight=2), ["g1 rule.weight 1 -> 2"]),
    ("version and coordinators", lambda p: p.update(version="2026.2", coordinator_roles=["coordinator", "dsrsg"]),
     ["lakeland-exit version 2026.1 -> 2026.2", "lakeland-exit coordinator role dsrsg added"]),
]


@pytest.mark.parametrize(("label", "mutate", "want"), CHANGES, ids=[c[0] for c in CHANGES])
def test_each_kind_of_change_is_named(label: str, mutate: Callable[[dict[str, Any]], None], want: list[str]) -> None:
    old = base_plan()
    new = copy.deepcopy(old)
    mutate(new)
    assert _texts(old, new) == want


def test_score_and_at_least_settings() -> None:
    old = base_plan()
    rule = {"all": [{"score": {"of": [bench("b1", "inc"), bench("b2", "pol", aggregate="latest", op=">=", threshold=1)],
                               "min": 0.8}},
                    {"at_least": 1, "of": [bench("b4", "inc", aggregate="max")]}]}
    _gate(old)["rule"] = rule
    new = copy.deepcopy(old)
    _gate(new)["rule"]["all"][0]["score"]["min"] = 0.5
    _gate(new)["rule"]["all"][1]["at_least"] = 1.0  # the same count written as a float: no change
    assert _texts(old, new) == ["g1 rule.all[0].min 0.8 -> 0.5"]


def test_cli_text_and_json(sample_dir: Path) -> None:
    args = ["plan", "diff", str(sample_dir / "plan-v2.json"), str(sample_dir / "plan-v3.json")]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[1:] == [
        "plan", "  valdoria-exit version 2 -> 3",
        "benchmarks", "  B1.1 threshold 60 -> 55", "  B2.4 window P90D -> P60D", "  B2.6 threshold 50 -> 45",
        "  B3.9 threshold 60 -> 50"]
    assert runner.invoke(app, [*args, "--exit-code"]).exit_code == 1
    doc = json.loads(runner.invoke(app, [*args, "--format", "json"]).stdout)
    assert doc["old"]["version"] == "2" and doc["same_sha256"] is False
    assert doc["changes"][1] == {"kind": "benchmark", "id": "B1.1", "change": "changed", "field": "threshold",
                                 "old": 60, "new": 55, "where": None, "text": "B1.1 threshold 60 -> 55"}


def test_a_bad_plan_is_refused(write: Writer, sample_dir: Path) -> None:
    bad = write("bad.yaml", yaml.safe_load("plan: x\n"))
    res = runner.invoke(app, ["plan", "diff", str(sample_dir / "plan.json"), str(bad)])
    assert res.exit_code == 2 and "NEW" in res.stderr and "$.mission: required field is missing" in res.stderr
