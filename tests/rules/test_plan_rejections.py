"""A plan is rejected with every problem listed by its JSON path (CONTRACT section 1)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rfc8785
import yaml

from rules.plan import load_plan, load_plan_file
from rules.problems import PlanError

from .helpers import base_plan, bench, first_bench, first_gate

G = "$.phases[0].gates[0]"
B0 = f"{G}.rule.all[0].benchmark"
B2 = f"{G}.rule.all[2].benchmark"


def _add(node: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda p: first_gate(p)["rule"]["all"].append(node)


def _rule(node: Any) -> Callable[[dict[str, Any]], None]:
    return lambda p: first_gate(p).update(rule=node)


def _problems(doc: Any) -> list[tuple[str, str]]:
    with pytest.raises(PlanError) as info:
        load_plan(doc)
    return [(p.path, p.message) for p in info.value.problems]


CASES: list[tuple[str, Callable[[dict[str, Any]], Any], str, str]] = [
    # (label, mutation, exact path, words the message must contain)
    ("schema: missing field", lambda p: p.pop("mission"), "$.mission", "required field is missing"),
    ("schema: unknown field", lambda p: first_bench(p).update(colour="red"), f"{B0}.colour", "unknown field"),
    ("schema: wrong type", lambda p: p.update(plan=3), "$.plan", "must be a string"),
    ("schema: bad enum", lambda p: first_bench(p).update(aggregate="median"), f"{B0}.aggregate", "'median' is not one of"),
    ("schema: threshold string", lambda p: first_bench(p).update(threshold="5"), f"{B0}.threshold", "must be a number, true/false, or [low, high]"),
    ("malformed plan id", lambda p: p.update(plan="-bad"), "$.plan", "is not a valid id"),
    ("malformed indicator id", lambda p: p["indicators"][0].update(id="a b"), "$.indicators[0].id", "is not a valid id"),
    ("malformed gate id", lambda p: first_gate(p).update(id="x" * 65), f"{G}.id", "is not a valid id"),
    ("repeated indicator id", lambda p: p["indicators"].append(dict(p["indicators"][0])), "$.indicators[3].id", "indicator id 'inc' repeats"),
    ("repeated phase id", lambda p: p["phases"][1].update(id="prep", depends_on=[]), "$.phases[1].id", "phase id 'prep' repeats"),
    ("repeated gate id", lambda p: p["phases"][1]["gates"][0].update(id="g1"), "$.phases[1].gates[0].id", "gate id 'g1' repeats"),
    ("repeated benchmark id", _add(bench("b1", "inc")), f"{G}.rule.all[2].benchmark.id", "benchmark id 'b1' repeats"),
    ("benchmark id repeated across gates", lambda p: p["phases"][1]["gates"][0]["rule"]["any"][0]["benchmark"].update(id="b1"),
     "$.phases[1].gates[0].rule.any[0].benchmark.id", "benchmark id 'b1' repeats"),
    ("undeclared indicator", lambda p: first_bench(p).update(indicator="nope"), f"{B0}.indicator", "unknown indicator 'nope'"),
    ("depends_on unknown phase", lambda p: p["phases"][0].update(depends_on=["nope"]), "$.phases[0].depends_on[0]", "unknown phase 'nope'"),
    ("depends_on cycle", lambda p: p["phases"][0].update(depends_on=["drawdown"]), "$.phases[1].depends_on", "dependency cycle"),
    ("depends_on self", lambda p: p["phases"][0].update(depends_on=["prep"]), "$.phases[0].depends_on", "dependency cycle: prep -> prep"),
    ("quorum below 1", lambda p: first_gate(p)["approval"].update(quorum=0), f"{G}.approval.quorum", "quorum must be at least 1"),
    ("quorum above distinct roles", lambda p: first_gate(p)["approval"].update(quorum=4), f"{G}.approval.quorum", "cannot be met with distinct_roles"),
    ("required role not in roles", lambda p: first_gate(p)["approval"].update(required_roles=["host", "x"]), f"{G}.approval.required_roles[1]", "role 'x' is not one of the gate's roles"),
    ("waiver role not in roles", lambda p: first_gate(p)["approval"].update(waiver_roles=["x"]), f"{G}.approval.waiver_roles[0]", "role 'x' is not one of the gate's roles"),
    ("role repeats", lambda p: first_gate(p)["approval"].update(roles=["head", "head", "host"]), f"{G}.approval.roles[1]", "role 'head' repeats"),
    ("duration in months", lambda p: first_bench(p).update(window="P3M"), f"{B0}.window", "use days"),
    ("duration in years", lambda p: first_bench(p).update(max_age="P1Y"), f"{B0}.max_age", "use days"),
    ("duration in seconds", lambda p: first_bench(p).update(window="PT30S"), f"{B0}.window", "use days"),
    ("duration zero", lambda p: first_bench(p).update(window="P0D"), f"{B0}.window", "longer than zero"),
    ("duration dangling T", lambda p: first_bench(p).update(window="P1DT"), f"{B0}.window", "P1DT"),
    ("duration garbage", lambda p: first_bench(p).update(window="90 days"), f"{B0}.window", "not an ISO 8601 duration"),
    ("timer duration", lambda p: first_gate(p)["timers"].update(remind_after="P1M"), f"{G}.timers.remind_after", "use days"),
    ("aggregate not for boolean", _add(bench("b9", "elect", aggregate="mean")), f"{B2}.aggregate", "aggregate 'mean' is not allowed for boolean indicator 'elect'"),
    ("trend not for boolean", _add(bench("b9", "elect", aggregate="trend")), f"{B2}.aggregate", "not allowed for boolean"),
    ("boolean latest op", _add(bench("b9", "elect", aggregate="latest", op="<", threshold=True)), f"{B2}.op", "takes == or !=, not '<'"),
    ("boolean latest number threshold", _add(bench("b9", "elect", aggregate="latest", op="==", threshold=1)), f"{B2}.threshold", "needs a true or false threshold"),
    ("number with boolean threshold", _add(bench("b9", "inc", aggregate="latest", op="==", threshold=True)), f"{B2}.threshold", "the threshold must be a number, not true/false"),
    ("boolean count with boolean threshold", _add(bench("b9", "elect", aggregate="count", op=">=", threshold=True)), f"{B2}.threshold", "must be a number"),
    ("between with boolean bound", _add(bench("b9", "pol", op="between", threshold=[False, 3])), f"{B2}.threshold[0]", "False"),
    ("min_points 0 for mean", lambda p: first_bench(p).update(min_points=0), f"{B0}.min_points", "min_points 0 is allowed only for count and sum"),
    ("min_points 0 for latest", lambda p: first_bench(p).update(aggregate="latest", min_points=0), f"{B0}.min_points", "not latest"),
    ("between reversed", lambda p: first_bench(p).update(op="between", threshold=[5, 1]), f"{B0}.threshold", "low <= high"),
    ("between single threshold", lambda p: first_bench(p).update(op="between", threshold=5), f"{B0}.threshold", "between needs a threshold [low, high]"),
    ("between three bounds", lambda p: first_bench(p).update(op="between", threshold=[1, 2, 3]), f"{B0}.threshold", "[low, high]"),
    ("pair for a single op", lambda p: first_bench(p).update(op="<", threshold=[1, 2]), f"{B0}.threshold", "needs a single threshold"),
    ("at_least above children", _rule({"at_least": 3, "of": [bench("x1"), bench("x2")]}), f"{G}.rule.at_least", "between 1 and 2"),
    ("at_least 0", _rule({"at_least": 0, "of": [bench("x1")]}), f"{G}.rule.at_least", "must be >= 1"),
    ("score min 0", _rule({"score": {"of": [bench("x1")], "min": 0}}), f"{G}.rule.score.min", "0"),
    ("score min 1.5", _rule({"score": {"of": [bench("x1")], "min": 1.5}}), f"{G}.rule.score.min", "1.5"),
    ("score weights sum 0", _rule({"score": {"of": [bench("x1", weight=0), {"all": [bench("x2")], "weight": 0}], "min": 0.5}}),
     f"{G}.rule.score.of", "weights sum to 0"),
    ("score no child", _rule({"score": {"of": [], "min": 0.5}}), f"{G}.rule.score.of", "has no child"),
    ("not no child", _rule({"not": None}), f"{G}.rule.not", "None"),
    ("all no child", _rule({"all": []}), f"{G}.rule.all", "has no child"),
    ("any no child", _rule({"any": []}), f"{G}.rule.any", "has no child"),
    ("at_least no child", _rule({"at_least": 1, "of": []}), f"{G}.rule.of", "has no child"),
    ("two operators", _rule({"all": [bench()], "any": [bench("x")]}), f"{G}.rule", "exactly one operator"),
    ("no operator", _rule({"weight": 2}), f"{G}.rule", "exactly one operator"),
    ("boolean indicator with range", lambda p: p["indicators"][2].update(min=0), "$.indicators[2].min", "a boolean indicator has no range"),
    ("boolean bound", lambda p: p["indicators"][0].update(max=True), "$.indicators[0].max", "True"),
    ("min above max", lambda p: p["indicators"][0].update(min=5, max=1), "$.indicators[0].min", "min 5 is above max 1"),
    ("fractional integer bound", lambda p: p["indicators"][0].update(min=0.5), "$.indicators[0].min", "needs an integer bound"),
    ("negative weight", lambda p: first_bench(p).update(weight=-1), f"{B0}.weight", "-1"),
    ("no approval roles", lambda p: first_gate(p)["approval"].update(roles=[], required_roles=None, waiver_roles=None,
                                                                      quorum=1, distinct_roles=False),
     f"{G}.approval.roles", "must not be empty"),
    # Paths through every kind of node.
    ("under any", _rule({"any": [bench("x1"), bench("x2", "nope")]}), f"{G}.rule.any[1].benchmark.indicator", "unknown indicator 'nope'"),
    ("under not", _rule({"not": bench("x1", "nope")}), f"{G}.rule.not.benchmark.indicator", "unknown indicator 'nope'"),
    ("under at_least", _rule({"at_least": 1, "of": [bench("x1"), bench("x2", "nope")]}), f"{G}.rule.of[1].benchmark.indicator", "unknown indicator 'nope'"),
    ("under score", _rule({"score": {"of": [bench("x1", "nope")], "min": 0.5}}), f"{G}.rule.score.of[0].benchmark.indicator", "unknown indicator 'nope'"),
    ("deep", _rule({"not": {"at_least": 1, "of": [{"score": {"of": [{"any": [bench("x1", "nope")]}], "min": 1}}]}}),
     f"{G}.rule.not.of[0].score.of[0].any[0].benchmark.indicator", "unknown indicator 'nope'"),
]


@pytest.mark.parametrize(("label", "mutate", "path", "words"), CASES, ids=[c[0] for c in CASES])
def test_each_rejection_names_path_and_reason(label: str, mutate: Callable[[dict[str, Any]], Any],
                                              path: str, words: str) -> None:
    doc = base_plan()
    mutate(doc)
    problems = _problems(doc)
    assert any(p == path and words in m for p, m in problems), problems


def test_base_plan_loads() -> None:
    plan = load_plan(base_plan())
    assert set(plan.gates) == {"g1", "g2"}


def test_count_fields_take_integral_floats() -> None:
    doc = base_plan()
    first_bench(doc)["min_points"] = 2.0
    first_gate(doc)["approval"]["quorum"] = 2.0
    plan = load_plan(doc)
    assert plan.sha256 == load_plan(base_plan()).sha256


def test_every_problem_is_reported_at_once() -> None:
    doc = base_plan()
    doc["indicators"].append(dict(doc["indicators"][0]))
    first_bench(doc)["indicator"] = "nope"
    first_bench(doc)["window"] = "P3M"
    doc["phases"][0]["depends_on"] = ["drawdown"]
    first_gate(doc)["approval"]["quorum"] = 0
    first_gate(doc)["approval"]["waiver_roles"] = ["x"]
    paths = {p for p, _ in _problems(doc)}
    # The duration is a schema problem, found in the first pass; the rest need the whole plan.
    assert paths == {f"{B0}.window"}
    first_bench(doc)["window"] = "P90D"
    paths = {p for p, _ in _problems(doc)}
    assert paths == {"$.indicators[3].id", f"{B0}.indicator", "$.phases[1].depends_on",
                     f"{G}.approval.quorum", f"{G}.approval.waiver_roles[0]"}


def test_schema_problems_are_all_reported_at_once() -> None:
    doc = base_plan()
    doc.pop("mission")
    doc["plan"] = 3
    first_bench(doc)["colour"] = "red"
    first_bench(doc)["window"] = "PT30S"
    paths = {p for p, _ in _problems(doc)}
    assert paths == {"$.mission", "$.plan", f"{B0}.colour", f"{B0}.window"}


def _shuffled(value: Any, reverse: bool) -> Any:
    if isinstance(value, dict):
        keys = sorted(value, reverse=reverse)
        return {k: _shuffled(value[k], reverse) for k in keys}
    if isinstance(value, list):
        return [_shuffled(v, reverse) for v in value]
    return value


def test_sha256_is_over_canonical_json_whatever_the_syntax_and_key_order() -> None:
    doc = base_plan()
    expected = hashlib.sha256(rfc8785.dumps(doc)).hexdigest()
    texts = [
        json.dumps(doc),
        json.dumps(_shuffled(doc, True), indent=2),
        yaml.safe_dump(_shuffled(doc, False), sort_keys=False),
    ]
    for text in texts:
        assert load_plan(text).sha256 == expected
    assert load_plan(doc).sha256 == expected


def test_plan_files_in_yaml_and_json_have_the_same_sha256(tmp_path: Path) -> None:
    doc = base_plan()
    (tmp_path / "p.json").write_text(json.dumps(doc))
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(_shuffled(doc, True), sort_keys=False))
    # Flow style starts with "{" like JSON; the file suffix says it is YAML.
    (tmp_path / "flow.yml").write_text(yaml.safe_dump(doc, default_flow_style=True))
    shas = {load_plan_file(tmp_path / n).sha256 for n in ("p.json", "p.yaml", "flow.yml")}
    assert shas == {load_plan(doc).sha256}


def test_any_change_changes_the_sha256() -> None:
    doc = base_plan()
    doc["version"] = "2026.2"
    assert load_plan(doc).sha256 != load_plan(base_plan()).sha256


def test_yaml_dates_stay_strings() -> None:
    doc = base_plan()
    doc["version"] = "2026-01-01"
    text = yaml.safe_dump(doc).replace("'2026-01-01'", "2026-01-01")
    assert "version: 2026-01-01" in text
    assert load_plan(text).sha256 == load_plan(doc).sha256


BAD_TEXTS = [
    ("yaml repeated key", "plan: a\nplan: b\n", "repeated key 'plan'"),
    ("yaml nested repeated key", "plan: a\nmission: {id: m, id: n}\n", "repeated key 'id'"),
    ("yaml NaN", "plan: a\nx: .nan\n", "NaN and Infinity are not allowed"),
    ("yaml Infinity", "plan: a\nx: -.inf\n", "NaN and Infinity are not allowed"),
    ("yaml syntax", "plan: [a\n", "invalid YAML"),
    ("json NaN", '{"plan": NaN}', "NaN is not allowed"),
    ("json Infinity", '{"plan": Infinity}', "Infinity is not allowed"),
    ("json -Infinity", '{"plan": -Infinity}', "-Infinity is not allowed"),
    ("json repeated key", '{"plan": "a", "plan": "b"}', "repeated key 'plan'"),
    ("json nested repeated key", '{"mission": {"id": "a", "id": "b"}}', "repeated key 'id'"),
    ("json syntax", '{"plan": ', "invalid JSON"),
]


@pytest.mark.parametrize(("label", "text", "words"), BAD_TEXTS, ids=[c[0] for c in BAD_TEXTS])
def test_bad_documents_rejected(label: str, text: str, words: str) -> None:
    problems = _problems(text)
    assert len(problems) == 1
    assert problems[0][0] == "$"
    assert words in problems[0][1], problems


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as info:
        load_plan_file(tmp_path / "missing.yaml")
    assert "cannot read" in info.value.problems[0].message


def test_limits_that_are_allowed() -> None:
    doc = base_plan()
    doc["indicators"][1].update(min=5, max=5)  # a range of one value
    first_gate(doc)["approval"]["quorum"] = 3  # every role, each once
    first_gate(doc)["rule"]["all"].append(bench("x9", "inc", op="between", threshold=[2, 2]))
    plan = load_plan(doc)
    assert plan.indicators["pol"].min == plan.indicators["pol"].max == 5


OPERATORS = "a rule node needs exactly one operator: benchmark, all, any, not, at_least or score"
SHAPES: list[tuple[str, Any, list[tuple[str, str]]]] = [
    ("two operators", {"all": [bench()], "any": [bench("x")]}, [(f"{G}.rule", f"{OPERATORS} (found all, any)")]),
    ("no operator", {"weight": 2}, [(f"{G}.rule", OPERATORS)]),
    ("a string", "all", [(f"{G}.rule", "'all' does not fit any allowed form")]),
    ("a number", 5, [(f"{G}.rule", "5 does not fit any allowed form")]),
    ("a null child", {"all": [bench(), None]}, [(f"{G}.rule.all[1]", "None does not fit any allowed form")]),
    ("deep inside", {"all": [{"any": [bench("q", threshold="x")]}]},
     [(f"{G}.rule.all[0].any[0].benchmark.threshold", "must be a number, true/false, or [low, high]; got a string")]),
    ("an object threshold", {"all": [bench("q", threshold={"x": 1})]},
     [(f"{G}.rule.all[0].benchmark.threshold", "must be a number, true/false, or [low, high]; got an object")]),
    ("score without min", {"score": {"of": [bench()]}}, [(f"{G}.rule.score.min", "required field is missing")]),
    # The one branch that fits the node's shape (all) explains it, down to the field.
    ("a negative weight", {"all": [bench()], "weight": -1}, [(f"{G}.rule.weight", "-1 does not fit any allowed form")]),
]


@pytest.mark.parametrize(("label", "rule", "want"), SHAPES, ids=[c[0] for c in SHAPES])
def test_a_malformed_rule_node_is_explained_exactly(label: str, rule: Any, want: list[tuple[str, str]]) -> None:
    doc = base_plan()
    first_gate(doc)["rule"] = rule
    assert _problems(doc) == want


def test_a_cycle_is_named_by_its_phases_only() -> None:
    doc = base_plan()
    third = {"id": "survey", "name": "Survey", "gates": [
        {"id": "g3", "name": "G3", "rule": {"all": [bench("b9", "elect", aggregate="latest", op="==", threshold=True)]},
         "approval": {"roles": ["head"], "quorum": 1}}]}
    doc["phases"][0]["depends_on"] = ["survey", "drawdown"]  # survey is visited first and is no part of it
    doc["phases"].append(third)
    assert [p for p in _problems(doc) if "cycle" in p[1]] == [
        ("$.phases[1].depends_on", "dependency cycle: prep -> drawdown -> prep")]


def test_yaml_merge_keys_are_expanded() -> None:
    from rules.documents import parse_document

    text = "base: &b {quorum: 1, roles: [head]}\ngate:\n  <<: *b\n  name: g\n"
    assert parse_document(text) == {"base": {"quorum": 1, "roles": ["head"]},
                                    "gate": {"quorum": 1, "roles": ["head"], "name": "g"}}


def test_the_error_message_lists_every_problem() -> None:
    doc = base_plan()
    doc.pop("mission")
    doc["plan"] = "-bad"
    with pytest.raises(PlanError) as info:
        load_plan(doc)
    text = str(info.value)
    assert text.splitlines()[0] == "plan rejected, 2 problem(s):"
    assert "$.mission" in text and "$.plan" in text
