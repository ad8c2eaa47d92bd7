"""The pydantic models and the published JSON Schema files are one source of truth: over a
corpus of good and bad documents they must accept and reject exactly the same ones."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import TypeAdapter, ValidationError

from schemas import files
from schemas.models import EvidenceRecord, ExitPlan, Node

from .helpers import ROOT, base_plan, bench, first_bench, first_gate, record

NODE = TypeAdapter(Node)


def _pydantic_ok(name: str, doc: Any) -> bool:
    try:
        if name == "exit-plan.schema.json":
            ExitPlan.model_validate(doc)
        elif name == "rule.schema.json":
            NODE.validate_python(doc)
        else:
            EvidenceRecord.model_validate(doc)
    except ValidationError:
        return False
    return True


def _schema_ok(name: str, doc: Any) -> bool:
    return files.validator(name).is_valid(doc)


def _plan(mut: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    p = base_plan()
    mut(p)
    return p


def _without(d: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k != key}


PLANS: list[tuple[str, Any, bool]] = [
    ("base", base_plan(), True),
    ("no version", _plan(lambda p: p.pop("version")), True),
    ("null version", _plan(lambda p: p.update(version=None)), True),
    ("coordinator roles", _plan(lambda p: p.update(coordinator_roles=["coord", "chief"])), True),
    ("empty coordinator roles", _plan(lambda p: p.update(coordinator_roles=[])), False),
    ("not an object", [base_plan()], False),
    ("string", "plan", False),
    ("missing mission", _plan(lambda p: p.pop("mission")), False),
    ("missing indicators", _plan(lambda p: p.pop("indicators")), False),
    ("empty indicators", _plan(lambda p: p.update(indicators=[])), False),
    ("empty phases", _plan(lambda p: p.update(phases=[])), False),
    ("unknown top field", _plan(lambda p: p.update(colour="red")), False),
    ("plan id int", _plan(lambda p: p.update(plan=3)), False),
    ("plan id bad start", _plan(lambda p: p.update(plan="-x")), False),
    ("plan id space", _plan(lambda p: p.update(plan="a b")), False),
    ("plan id 65 chars", _plan(lambda p: p.update(plan="a" * 65)), False),
    ("plan id 64 chars", _plan(lambda p: p.update(plan="a" * 64)), True),
    ("plan id trailing newline", _plan(lambda p: p.update(plan="abc\n")), False),
    ("plan id empty", _plan(lambda p: p.update(plan="")), False),
    ("mission name empty", _plan(lambda p: p["mission"].update(name="")), False),
    ("mission unknown field", _plan(lambda p: p["mission"].update(code="x")), False),
    ("indicator kind bad", _plan(lambda p: p["indicators"][0].update(kind="text")), False),
    ("indicator min string", _plan(lambda p: p["indicators"][0].update(min="0")), False),
    ("indicator min bool", _plan(lambda p: p["indicators"][0].update(min=True)), False),
    ("indicator min float", _plan(lambda p: p["indicators"][1].update(min=0.5)), True),
    ("indicator max null", _plan(lambda p: p["indicators"][0].update(max=None)), True),
    ("indicator sources null", _plan(lambda p: p["indicators"][0].update(sources=None)), True),
    ("indicator sources empty string", _plan(lambda p: p["indicators"][0].update(sources=[""])), False),
    ("indicator sources string", _plan(lambda p: p["indicators"][0].update(sources="jmac")), False),
    ("indicator missing kind", _plan(lambda p: p["indicators"][0].pop("kind")), False),
    ("indicator unit null", _plan(lambda p: p["indicators"][0].update(unit=None)), True),
    ("phase gates empty", _plan(lambda p: p["phases"][0].update(gates=[])), False),
    ("phase depends_on string", _plan(lambda p: p["phases"][1].update(depends_on="prep")), False),
    ("phase depends_on null", _plan(lambda p: p["phases"][1].update(depends_on=None)), True),
    ("gate missing rule", _plan(lambda p: first_gate(p).pop("rule")), False),
    ("gate missing approval", _plan(lambda p: first_gate(p).pop("approval")), False),
    ("approval roles empty", _plan(lambda p: first_gate(p)["approval"].update(roles=[])), False),
    ("approval quorum string", _plan(lambda p: first_gate(p)["approval"].update(quorum="2")), False),
    ("approval quorum float", _plan(lambda p: first_gate(p)["approval"].update(quorum=2.5)), False),
    ("approval quorum 2.0", _plan(lambda p: first_gate(p)["approval"].update(quorum=2.0)), True),
    ("approval distinct_roles int", _plan(lambda p: first_gate(p)["approval"].update(distinct_roles=1)), False),
    ("approval distinct_roles string", _plan(lambda p: first_gate(p)["approval"].update(distinct_roles="true")), False),
    ("timers null", _plan(lambda p: first_gate(p).update(timers=None)), True),
    ("timers empty", _plan(lambda p: first_gate(p).update(timers={})), True),
    ("timers P3M", _plan(lambda p: first_gate(p)["timers"].update(remind_after="P3M")), False),
    ("timers unknown", _plan(lambda p: first_gate(p)["timers"].update(snooze="P1D")), False),
    ("benchmark window P3M", _plan(lambda p: first_bench(p).update(window="P3M")), False),
    ("benchmark window P1Y", _plan(lambda p: first_bench(p).update(window="P1Y")), False),
    ("benchmark window PT30S", _plan(lambda p: first_bench(p).update(window="PT30S")), False),
    ("benchmark window P0D", _plan(lambda p: first_bench(p).update(window="P0D")), False),
    ("benchmark window PT0H0M", _plan(lambda p: first_bench(p).update(window="PT0H0M")), False),
    ("benchmark window P1DT", _plan(lambda p: first_bench(p).update(window="P1DT")), False),
    ("benchmark window P", _plan(lambda p: first_bench(p).update(window="P")), False),
    ("benchmark window PT", _plan(lambda p: first_bench(p).update(window="PT")), False),
    ("benchmark window P1D2W", _plan(lambda p: first_bench(p).update(window="P1D2W")), False),
    ("benchmark window p1d", _plan(lambda p: first_bench(p).update(window="p1d")), False),
    ("benchmark window P1.5D", _plan(lambda p: first_bench(p).update(window="P1.5D")), False),
    ("benchmark window P1D trailing newline", _plan(lambda p: first_bench(p).update(window="P1D\n")), False),
    ("benchmark window int", _plan(lambda p: first_bench(p).update(window=90)), False),
    ("benchmark window P1W2DT6H30M", _plan(lambda p: first_bench(p).update(window="P1W2DT6H30M")), True),
    ("benchmark window P10D", _plan(lambda p: first_bench(p).update(window="P10D")), True),
    ("benchmark window PT0H30M", _plan(lambda p: first_bench(p).update(window="PT0H30M")), True),
    ("benchmark window null", _plan(lambda p: first_bench(p).update(window=None)), True),
    ("benchmark aggregate bad", _plan(lambda p: first_bench(p).update(aggregate="median")), False),
    ("benchmark op bad", _plan(lambda p: first_bench(p).update(op="=<")), False),
    ("benchmark threshold string", _plan(lambda p: first_bench(p).update(threshold="5")), False),
    ("benchmark threshold null", _plan(lambda p: first_bench(p).update(threshold=None)), False),
    ("benchmark threshold list of 3", _plan(lambda p: first_bench(p).update(threshold=[1, 2, 3])), False),
    ("benchmark threshold list of 1", _plan(lambda p: first_bench(p).update(threshold=[1])), False),
    ("benchmark threshold list strings", _plan(lambda p: first_bench(p).update(threshold=["1", "2"])), False),
    ("benchmark threshold list", _plan(lambda p: first_bench(p).update(op="between", threshold=[1, 2.5])), True),
    ("benchmark min_points string", _plan(lambda p: first_bench(p).update(min_points="3")), False),
    ("benchmark min_points 3.5", _plan(lambda p: first_bench(p).update(min_points=3.5)), False),
    ("benchmark min_points 3.0", _plan(lambda p: first_bench(p).update(min_points=3.0)), True),
    ("benchmark min_points -1", _plan(lambda p: first_bench(p).update(min_points=-1)), False),
    ("benchmark min_points true", _plan(lambda p: first_bench(p).update(min_points=True)), False),
    ("benchmark weight -1", _plan(lambda p: first_bench(p).update(weight=-1)), False),
    ("benchmark weight 0.5", _plan(lambda p: first_bench(p).update(weight=0.5)), True),
    ("benchmark weight string", _plan(lambda p: first_bench(p).update(weight="2")), False),
    ("benchmark id bad", _plan(lambda p: first_bench(p).update(id="a/b")), False),
    ("benchmark unknown field", _plan(lambda p: first_bench(p).update(colour="red")), False),
    ("benchmark missing op", _plan(lambda p: first_bench(p).pop("op")), False),
]

R = bench  # a valid benchmark node
RULES: list[tuple[str, Any, bool]] = [
    ("benchmark", R(), True),
    ("all", {"all": [R(), R("b2")]}, True),
    ("all with weight", {"all": [R()], "weight": 2}, True),
    ("all weight 2.5", {"all": [R()], "weight": 2.5}, True),
    ("all weight -1", {"all": [R()], "weight": -1}, False),
    ("all weight bool", {"all": [R()], "weight": True}, False),
    ("all empty", {"all": []}, False),
    ("all not a list", {"all": R()}, False),
    ("any", {"any": [R()]}, True),
    ("any empty", {"any": []}, False),
    ("not", {"not": R()}, True),
    ("not null", {"not": None}, False),
    ("not list", {"not": [R()]}, False),
    ("at_least", {"at_least": 1, "of": [R(), R("b2")]}, True),
    ("at_least 0", {"at_least": 0, "of": [R()]}, False),
    ("at_least 1.0", {"at_least": 1.0, "of": [R()]}, True),
    ("at_least 1.5", {"at_least": 1.5, "of": [R()]}, False),
    ("at_least string", {"at_least": "1", "of": [R()]}, False),
    ("at_least no of", {"at_least": 1}, False),
    ("at_least empty of", {"at_least": 1, "of": []}, False),
    ("score", {"score": {"of": [R()], "min": 0.8}}, True),
    ("score min 1", {"score": {"of": [R()], "min": 1}}, True),
    ("score min 0", {"score": {"of": [R()], "min": 0}}, False),
    ("score min 0.0", {"score": {"of": [R()], "min": 0.0}}, False),
    ("score min 1.5", {"score": {"of": [R()], "min": 1.5}}, False),
    ("score min -0.5", {"score": {"of": [R()], "min": -0.5}}, False),
    ("score min string", {"score": {"of": [R()], "min": "0.5"}}, False),
    ("score min missing", {"score": {"of": [R()]}}, False),
    ("score empty of", {"score": {"of": [], "min": 0.5}}, False),
    ("score unknown field", {"score": {"of": [R()], "min": 0.5, "max": 1}}, False),
    ("score weights", {"score": {"of": [R(weight=2), {"all": [R("b2")], "weight": 3}], "min": 0.5}}, True),
    ("zero operators", {}, False),
    ("only weight", {"weight": 1}, False),
    ("two operators", {"all": [R()], "any": [R()]}, False),
    ("benchmark and all", {"benchmark": R()["benchmark"], "all": [R()]}, False),
    ("unknown operator", {"none": [R()]}, False),
    ("unknown field beside all", {"all": [R()], "colour": "red"}, False),
    ("benchmark weight beside", {"benchmark": R()["benchmark"], "weight": 2}, False),
    ("string", "all", False),
    ("list", [R()], False),
    ("null", None, False),
    ("deep nested bad", {"all": [{"any": [{"not": {"score": {"of": [R()], "min": 2}}}]}]}, False),
    ("deep nested good", {"all": [{"any": [{"not": {"score": {"of": [R()], "min": 0.5}}}]}]}, True),
    ("bad benchmark inside", {"all": [R(), {"benchmark": _without(R()["benchmark"], "op")}]}, False),
]

RECORDS: list[tuple[str, Any, bool]] = [
    ("record", record(), True),
    ("no reported_at", _without(record(), "reported_at"), True),
    ("reported_at null", record(reported_at=None), True),
    ("supersedes", record(supersedes="x:1", value=None), True),
    ("value null", record(value=None), True),
    ("value float", record(value=7.5), True),
    ("value bool", record(value=True), True),
    ("value string", record(value="7"), False),
    ("value list", record(value=[7]), False),
    ("value object", record(value={"v": 7}), False),
    ("value missing", _without(record(), "value"), False),
    ("provenance", record(provenance={"uri": "u", "sha256": "00"}), True),
    ("provenance null", record(provenance=None), True),
    ("provenance string", record(provenance="u"), False),
    ("id colon", record(rid="a:b.c_d-e"), True),
    ("id 128", record(rid="a" * 128), True),
    ("id 129", record(rid="a" * 129), False),
    ("id empty", record(rid=""), False),
    ("id slash", record(rid="a/b"), False),
    ("id trailing newline", record(rid="abc\n"), False),
    ("id int", record(rid=5), False),
    ("missing id", _without(record(), "id"), False),
    ("missing mission", _without(record(), "mission"), False),
    ("missing source", _without(record(), "source"), False),
    ("missing observed_at", _without(record(), "observed_at"), False),
    ("unknown field", record(valeu=3), False),
    ("mission bad id", record(mission="-x"), False),
    ("indicator bad id", record(indicator="a b"), False),
    ("source empty", record(source=""), False),
    ("source int", record(source=3), False),
    ("supersedes bad", record(supersedes="a b"), False),
    ("supersedes int", record(supersedes=3), False),
    ("observed_at offset", record(observed_at="2025-03-31T03:00:00.5+03:00"), True),
    ("observed_at -00:00", record(observed_at="2025-03-31T00:00:00-00:00"), True),
    ("observed_at lowercase", record(observed_at="2025-03-31t00:00:00z"), True),
    ("observed_at micro", record(observed_at="2025-03-31T00:00:00.123456Z"), True),
    ("observed_at 7 digits", record(observed_at="2025-03-31T00:00:00.1234567Z"), False),
    ("observed_at no offset", record(observed_at="2025-03-31T00:00:00"), False),
    ("observed_at no seconds", record(observed_at="2025-03-31T00:00Z"), False),
    ("observed_at leap second", record(observed_at="2016-12-31T23:59:60Z"), False),
    ("observed_at date only", record(observed_at="2025-03-31"), False),
    ("observed_at space", record(observed_at="2025-03-31 00:00:00Z"), False),
    ("observed_at month 13", record(observed_at="2025-13-01T00:00:00Z"), False),
    ("observed_at Feb 30", record(observed_at="2025-02-30T00:00:00Z"), False),
    ("observed_at hour 24", record(observed_at="2025-03-31T24:00:00Z"), False),
    ("observed_at offset 24:00", record(observed_at="2025-03-31T00:00:00+24:00"), False),
    ("observed_at offset +0300", record(observed_at="2025-03-31T00:00:00+0300"), False),
    ("observed_at trailing newline", record(observed_at="2025-03-31T00:00:00Z\n"), False),
    ("observed_at int", record(observed_at=1743379200), False),
    ("reported_at bad", record(reported_at="yesterday"), False),
    ("not an object", [record()], False),
]


@pytest.mark.parametrize(
    ("schema", "label", "doc", "valid"),
    [("exit-plan.schema.json", *c) for c in PLANS]
    + [("rule.schema.json", *c) for c in RULES]
    + [("evidence.schema.json", *c) for c in RECORDS],
    ids=lambda v: v if isinstance(v, str) and len(v) < 60 else "",
)
def test_models_and_schema_files_agree(schema: str, label: str, doc: Any, valid: bool) -> None:
    pyd, js = _pydantic_ok(schema, doc), _schema_ok(schema, doc)
    assert pyd == js, f"{label}: pydantic {'accepts' if pyd else 'rejects'}, JSON Schema {'accepts' if js else 'rejects'}"
    assert pyd == valid, f"{label}: both {'accept' if pyd else 'reject'} it"


def test_rule_nodes_inside_plans_agree_with_rule_schema() -> None:
    """The rule schema used alone and as part of the plan schema say the same thing."""
    for label, node, valid in RULES:
        p = base_plan()
        first_gate(p)["rule"] = node
        assert _pydantic_ok("exit-plan.schema.json", p) == _schema_ok("exit-plan.schema.json", p) == valid, label


def test_schema_files_are_up_to_date() -> None:
    done = subprocess.run([sys.executable, "-m", "schemas.generate", "--check"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", files.NAMES)
def test_schema_files_declare_and_satisfy_draft_2020_12(name: str) -> None:
    doc = json.loads((ROOT / "schemas" / name).read_text())
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(doc)
    assert doc["$id"].endswith(name)
