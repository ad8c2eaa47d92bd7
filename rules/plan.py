"""Load and validate an exit plan (CONTRACT section 1), reporting every problem at once.

Three passes, each only when the previous one found the document well-formed enough to go on:
the published JSON Schema (shape, types, id and duration forms), the pydantic models (the same
shape, now typed), then the checks that need the whole plan (references, cycles, quorum...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]
from pydantic import ValidationError as PydanticValidationError

from schemas import files
from schemas.jsonfmt import LONE_SURROGATE, lone_surrogates, sha256_canonical
from schemas.models import (
    BOOLEAN_AGGREGATES,
    AtLeastNode,
    Benchmark,
    BenchmarkNode,
    ExitPlan,
    Gate,
    Indicator,
    Node,
    NotNode,
    Phase,
    ScoreNode,
)
from schemas.timefmt import parse_duration, parse_timestamp

from .compiler import Status, compile_rule_recording
from .documents import DocumentError, load_document, parse_document
from .problems import PlanError, Problem, json_path
from .tree import child_key, children, iter_benchmarks, node_weight

__all__ = ["LoadedPlan", "PlanError", "children", "iter_benchmarks", "load_plan", "load_plan_file"]

_OPERATORS = ("benchmark", "all", "any", "not", "at_least", "score")
_JSON_TYPES = {
    dict: "an object", list: "an array", str: "a string", bool: "true or false",
    int: "an integer", float: "a number", type(None): "null",
}


_TYPE_WORDS = {"object": "an object", "array": "an array", "string": "a string", "integer": "an integer",
               "number": "a number", "boolean": "true or false", "null": "null"}


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class GateRef:
    phase: Phase
    gate: Gate


@dataclass(frozen=True)
class LoadedPlan:
    """A validated plan with its identity (sha256 over the canonical JSON of the document)."""

    model: ExitPlan
    sha256: str
    document: dict[str, Any] = field(repr=False, compare=False)

    @property
    def id(self) -> str:
        return self.model.plan

    @property
    def mission_id(self) -> str:
        return self.model.mission.id

    @cached_property
    def indicators(self) -> dict[str, Indicator]:
        return {i.id: i for i in self.model.indicators}

    @cached_property
    def gates(self) -> dict[str, GateRef]:
        return {g.id: GateRef(p, g) for p in self.model.phases for g in p.gates}

    @cached_property
    def phases(self) -> dict[str, Phase]:
        return {p.id: p for p in self.model.phases}

    def compiled(self, gate_id: str, waived: frozenset[str] = frozenset()) -> Callable[[Mapping[str, Any]], list[Status]]:
        """The gate's rule compiled to report every node's status, cached per waiver set."""
        key = (gate_id, waived)
        fn = self._compiled.get(key)
        if fn is None:
            fn = self._compiled[key] = compile_rule_recording(self.gates[gate_id].gate.rule, waived)
        return fn

    @cached_property
    def _compiled(self) -> dict[tuple[str, frozenset[str]], Callable[[Mapping[str, Any]], list[Status]]]:
        return {}

    @cached_property
    def benchmarks(self) -> dict[str, tuple[Gate, Benchmark, bool]]:
        """benchmark id -> (gate, benchmark, under a `not`)."""
        return {
            b.id: (g, b, under_not)
            for p in self.model.phases
            for g in p.gates
            for b, under_not in iter_benchmarks(g.rule)
        }

    def gate_horizons(self, gate_id: str) -> dict[str, int | None]:
        """Per indicator of a gate, how far back (microseconds) its benchmarks look: the longest
        window, or None when one of them has no window and so needs the whole series."""
        out: dict[str, int | None] = {}
        for b, _ in iter_benchmarks(self.gates[gate_id].gate.rule):
            w = parse_duration(b.window) if b.window else None
            if b.indicator not in out:
                out[b.indicator] = w
            else:
                prev = out[b.indicator]
                out[b.indicator] = None if prev is None or w is None else max(prev, w)
        return out

    def gate_indicators(self, gate_id: str) -> frozenset[str]:
        return frozenset(b.indicator for b, _ in iter_benchmarks(self.gates[gate_id].gate.rule))


def load_plan_file(path: str | Path) -> LoadedPlan:
    try:
        doc = load_document(path)
    except DocumentError as exc:
        raise PlanError([Problem("$", str(exc))]) from None
    return load_plan(doc)


def load_plan(doc: Any) -> LoadedPlan:
    """Validate a parsed document (or JSON/YAML text) and return the plan; raise PlanError."""
    if isinstance(doc, str):
        try:
            doc = parse_document(doc)
        except DocumentError as exc:
            raise PlanError([Problem("$", str(exc))]) from None
    broken = lone_surrogates(doc)
    if broken:
        # Checked first: the schema's messages would quote the text, and it cannot be hashed.
        raise PlanError([Problem(json_path(p), LONE_SURROGATE) for p in broken])
    problems = [p for err in files.validator("exit-plan.schema.json").iter_errors(doc) for p in _explain(err)]
    if problems:
        raise PlanError(problems)
    try:
        model = ExitPlan.model_validate(doc)
    except PydanticValidationError as exc:
        raise PlanError(
            # Union tags ("node:all") are pydantic's bookkeeping, not part of the document's path.
            [Problem(json_path([p for p in e["loc"] if not str(p).startswith("node:")]), e["msg"])
             for e in exc.errors()]
        ) from None
    problems = list(_semantic_problems(model))
    if problems:
        raise PlanError(problems)
    return LoadedPlan(model=model, sha256=sha256_canonical(doc), document=doc)


# --- JSON Schema errors in plain words -------------------------------------------------------


def _explain(err: ValidationError) -> list[Problem]:
    path = list(err.absolute_path)
    v = err.validator
    if v in ("oneOf", "anyOf") and err.context:
        groups: dict[Any, list[ValidationError]] = {}
        for sub in err.context:
            groups.setdefault(sub.relative_schema_path[0], []).append(sub)
        # Branches that fit the value's outer shape failed only deeper down: those explain it.
        fitting = [g for g in groups.values() if all(len(s.relative_path) > 0 for s in g)]
        if not fitting:
            fitting = [g for g in groups.values() if not any(
                s.validator == "type" and s.validator_value == "null" for s in g)]
        if len(fitting) == 1:
            return [p for sub in fitting[0] for p in _explain(sub)]
        if isinstance(err.instance, dict) and (path and path[-1] != "threshold"):
            present = [op for op in _OPERATORS if op in err.instance]
            if len(present) != 1:
                return [Problem(json_path(path), "a rule node needs exactly one operator: "
                                "benchmark, all, any, not, at_least or score"
                                + (f" (found {', '.join(present)})" if present else ""))]
        if path and path[-1] == "threshold":
            return [Problem(json_path(path), f"must be a number, true/false, or [low, high]; got {_json_type(err.instance)}")]
        return [Problem(json_path(path), f"{err.instance!r} does not fit any allowed form")]
    if v == "required":
        missing = [k for k in err.validator_value if k not in err.instance]
        return [Problem(json_path([*path, k]), "required field is missing") for k in missing]
    if v == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in allowed]
        return [Problem(json_path([*path, k]), f"unknown field (allowed: {', '.join(allowed)})") for k in extra]
    if v == "pattern":
        fmt = err.schema.get("x-exitgate-format")
        if fmt == "duration":
            try:
                parse_duration(err.instance)
            except ValueError as exc:
                return [Problem(json_path(path), str(exc))]
        if fmt == "timestamp":
            try:
                parse_timestamp(err.instance)
            except ValueError as exc:
                return [Problem(json_path(path), str(exc))]
        return [Problem(json_path(path), f"{err.instance!r} is not a valid id: use letters, digits, "
                        "'.', '_' and '-', starting with a letter or digit, at most 64 characters")]
    if v == "type":
        expected = err.validator_value
        names = expected if isinstance(expected, list) else [expected]
        want = " or ".join(_TYPE_WORDS.get(str(n), str(n)) for n in names)
        return [Problem(json_path(path), f"must be {want}, not {_json_type(err.instance)}")]
    if v == "enum":
        return [Problem(json_path(path), f"{err.instance!r} is not one of {', '.join(map(str, err.validator_value))}")]
    if v == "const":
        return [Problem(json_path(path), f"must be {err.validator_value!r}")]
    if v == "minItems":
        return [Problem(json_path(path), "has no child" if path and path[-1] in ("all", "any", "of") else "must not be empty")]
    if v == "maxItems":
        return [Problem(json_path(path), f"must have at most {err.validator_value} items")]
    if v == "minLength":
        return [Problem(json_path(path), "must not be empty")]
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[v]
        return [Problem(json_path(path), f"must be {sign} {err.validator_value}, got {err.instance!r}")]
    return [Problem(json_path(path), err.message)]


# --- checks across the whole plan -------------------------------------------------------------


def _semantic_problems(plan: ExitPlan) -> Iterator[Problem]:
    seen: dict[str, dict[str, str]] = {"indicator": {}, "phase": {}, "gate": {}, "benchmark": {}}

    def unique(kind: str, ident: str, path: list[str | int]) -> Iterator[Problem]:
        first = seen[kind].get(ident)
        if first is not None:
            yield Problem(json_path(path), f"{kind} id {ident!r} repeats (first at {first})")
        else:
            seen[kind][ident] = json_path(path)

    indicators: dict[str, Indicator] = {}
    for i, ind in enumerate(plan.indicators):
        base: list[str | int] = ["indicators", i]
        yield from unique("indicator", ind.id, [*base, "id"])
        indicators.setdefault(ind.id, ind)
        if ind.kind == "boolean":
            for name in ("min", "max"):
                if getattr(ind, name) is not None:
                    yield Problem(json_path([*base, name]), "a boolean indicator has no range")
        elif ind.min is not None and ind.max is not None and ind.min > ind.max:
            yield Problem(json_path([*base, "min"]), f"min {ind.min} is above max {ind.max}")
        elif ind.kind == "integer":
            for name in ("min", "max"):
                bound = getattr(ind, name)
                if isinstance(bound, float) and not bound.is_integer():
                    yield Problem(json_path([*base, name]), "an integer indicator needs an integer bound")

    yield from _role_list_problems(plan.coordinator_roles, ["coordinator_roles"])
    phase_ids = {p.id for p in plan.phases}
    for pi, phase in enumerate(plan.phases):
        pbase: list[str | int] = ["phases", pi]
        yield from unique("phase", phase.id, [*pbase, "id"])
        for di, dep in enumerate(phase.depends_on or []):
            if dep not in phase_ids:
                yield Problem(json_path([*pbase, "depends_on", di]), f"unknown phase {dep!r}")
        for gi, gate in enumerate(phase.gates):
            gbase: list[str | int] = [*pbase, "gates", gi]
            yield from unique("gate", gate.id, [*gbase, "id"])
            yield from _approval_problems(gate, [*gbase, "approval"])
            yield from _rule_problems(gate.rule, [*gbase, "rule"], indicators, unique)
    yield from _cycle_problems(plan)


def _role_list_problems(roles: list[str] | None, path: list[str | int]) -> Iterator[Problem]:
    seen: set[str] = set()
    for i, role in enumerate(roles or []):
        if role in seen:
            yield Problem(json_path([*path, i]), f"role {role!r} repeats")
        seen.add(role)


def _approval_problems(gate: Gate, path: list[str | int]) -> Iterator[Problem]:
    a = gate.approval
    yield from _role_list_problems(a.roles, [*path, "roles"])
    roles = set(a.roles)
    if a.quorum < 1:
        yield Problem(json_path([*path, "quorum"]), f"quorum must be at least 1, got {a.quorum}")
    elif a.distinct_roles and a.quorum > len(roles):
        yield Problem(
            json_path([*path, "quorum"]),
            f"quorum {a.quorum} cannot be met with distinct_roles: only {len(roles)} role(s) are listed",
        )
    if a.reject_threshold is not None and a.reject_threshold < 1:
        yield Problem(json_path([*path, "reject_threshold"]),
                      f"reject_threshold must be at least 1, got {a.reject_threshold}")
    for name in ("required_roles", "waiver_roles", "veto_roles"):
        for i, role in enumerate(getattr(a, name) or []):
            if role not in roles:
                yield Problem(json_path([*path, name, i]), f"role {role!r} is not one of the gate's roles")
        yield from _role_list_problems(getattr(a, name), [*path, name])


def _rule_problems(node: Node, path: list[str | int], indicators: dict[str, Indicator],
                   unique: Any) -> Iterator[Problem]:
    if isinstance(node, BenchmarkNode):
        yield from _benchmark_problems(node.benchmark, [*path, "benchmark"], indicators, unique)
        return
    kids = children(node)
    key = child_key(node)
    if isinstance(node, AtLeastNode) and not 1 <= node.at_least <= len(kids):
        yield Problem(json_path([*path, "at_least"]), f"at_least must be between 1 and {len(kids)} (the number of children), got {node.at_least}")
    if isinstance(node, ScoreNode):
        total = sum(node_weight(c) for c in kids)
        if total <= 0:
            yield Problem(json_path([*path, "score", "of"]), "the children's weights sum to 0")
    for i, child in enumerate(kids):
        child_path = [*path, *key] if isinstance(node, NotNode) else [*path, *key, i]
        yield from _rule_problems(child, child_path, indicators, unique)


def _benchmark_problems(b: Benchmark, path: list[str | int], indicators: dict[str, Indicator],
                        unique: Any) -> Iterator[Problem]:
    yield from unique("benchmark", b.id, [*path, "id"])
    ind = indicators.get(b.indicator)
    if ind is None:
        yield Problem(json_path([*path, "indicator"]), f"unknown indicator {b.indicator!r}")
    if b.min_points == 0 and b.aggregate not in ("count", "sum"):
        yield Problem(json_path([*path, "min_points"]), f"min_points 0 is allowed only for count and sum, not {b.aggregate}")
    t = b.threshold
    if b.op == "between":
        if not (isinstance(t, list) and len(t) == 2):
            yield Problem(json_path([*path, "threshold"]), "between needs a threshold [low, high]")
            return
        if t[0] > t[1]:
            yield Problem(json_path([*path, "threshold"]), f"between needs low <= high, got [{t[0]}, {t[1]}]")
    elif isinstance(t, list):
        yield Problem(json_path([*path, "threshold"]), f"op {b.op!r} needs a single threshold; [low, high] is only for between")
        return
    if ind is None:
        return
    boolean_value = ind.kind == "boolean" and b.aggregate == "latest"
    if ind.kind == "boolean" and b.aggregate not in BOOLEAN_AGGREGATES:
        yield Problem(json_path([*path, "aggregate"]), f"aggregate {b.aggregate!r} is not allowed for boolean indicator {ind.id!r} (use latest, count or sum)")
    elif boolean_value:
        if b.op not in ("==", "!="):
            yield Problem(json_path([*path, "op"]), f"latest of a boolean indicator takes == or !=, not {b.op!r}")
        if not isinstance(t, bool):
            yield Problem(json_path([*path, "threshold"]), "latest of a boolean indicator needs a true or false threshold")
    elif isinstance(t, bool) or (isinstance(t, list) and any(isinstance(x, bool) for x in t)):
        yield Problem(json_path([*path, "threshold"]), f"{b.aggregate} of {ind.id!r} is a number: the threshold must be a number, not true/false")


def _cycle_problems(plan: ExitPlan) -> Iterator[Problem]:
    deps = {p.id: [d for d in (p.depends_on or [])] for p in plan.phases}
    index = {p.id: i for i, p in enumerate(plan.phases)}
    state: dict[str, int] = {}
    reported: set[frozenset[str]] = set()

    def visit(pid: str, stack: list[str]) -> Iterator[Problem]:
        state[pid] = 1
        stack.append(pid)
        for dep in deps.get(pid, []):
            if dep not in deps:
                continue
            if state.get(dep) == 1:
                cycle = [*stack[stack.index(dep):], dep]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    yield Problem(json_path(["phases", index[pid], "depends_on"]),
                                  "dependency cycle: " + " -> ".join(cycle))
            elif state.get(dep) is None:
                yield from visit(dep, stack)
        stack.pop()
        state[pid] = 2

    for p in plan.phases:
        if state.get(p.id) is None:
            yield from visit(p.id, [])
