"""What changed in meaning between two versions of a plan.

Entities are matched by id (ids are unique per kind across a plan), fields compared with their
defaults filled in, so writing out a default, reordering keys or switching YAML for JSON is no
change. Role lists, sources and dependencies are sets: a member added or removed is named.
Values are compared as canonical JSON (60 and 60.0 are one number; true is never 1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from schemas.jsonfmt import canonical_json
from schemas.models import Approval, BenchmarkNode, Node, Timers

from .evaluate import format_value
from .plan import LoadedPlan
from .tree import children, node_name, node_weight

__all__ = ["Change", "PlanDiff", "diff_plans"]

# Lists whose order means nothing, and what one member is called.
_SETS = {"roles": "role", "required_roles": "required role", "waiver_roles": "waiver role",
         "veto_roles": "veto role", "coordinator_roles": "coordinator role", "depends_on": "dependency"}
_CHILDREN = {"all": "all", "any": "any", "not": "not", "at_least": "of", "score": "score.of"}


@dataclass(frozen=True)
class Change:
    kind: str  # plan, indicator, phase, gate, benchmark
    id: str
    change: str  # added, removed, changed
    field: str | None = None  # e.g. threshold, approval.quorum, rule.all[2]
    old: Any = None
    new: Any = None
    where: str | None = None  # for an added or removed entity: where it sits (gate g1)

    @property
    def text(self) -> str:
        if self.field is None:
            at = f" ({self.where})" if self.where else ""
            return f"{self.kind} {self.id} {self.change}{at}"
        name = self.field.rsplit(".", 1)[-1] if self.field.startswith(("approval.", "timers.")) else self.field
        if self.change in ("added", "removed"):
            member = self.new if self.change == "added" else self.old
            return f"{self.id} {_SETS.get(name, name)} {_show(member)} {self.change}"
        return f"{self.id} {name} {_show(self.old)} -> {_show(self.new)}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "change": self.change, "field": self.field,
                "old": self.old, "new": self.new, "where": self.where, "text": self.text}


@dataclass(frozen=True)
class PlanDiff:
    old: LoadedPlan
    new: LoadedPlan
    changes: list[Change]

    @property
    def same_sha256(self) -> bool:
        return self.old.sha256 == self.new.sha256

    def to_json(self) -> dict[str, Any]:
        def head(p: LoadedPlan) -> dict[str, Any]:
            return {"plan": p.id, "version": p.model.version, "sha256": p.sha256}

        return {"old": head(self.old), "new": head(self.new), "same_sha256": self.same_sha256,
                "changes": [c.to_json() for c in self.changes]}


def _show(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, list):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    return format_value(v)


def _same(a: Any, b: Any) -> bool:
    return canonical_json(a) == canonical_json(b)


def diff_plans(old: LoadedPlan, new: LoadedPlan) -> PlanDiff:
    if old.sha256 == new.sha256:
        return PlanDiff(old, new, [])
    return PlanDiff(old, new, [*_plan(old, new), *_indicators(old, new), *_phases(old, new), *_gates(old, new),
                               *_benchmarks(old, new)])


def _fields(kind: str, ident: str, a: BaseModel | None, b: BaseModel | None, model: type[BaseModel],
            prefix: str = "", skip: tuple[str, ...] = ("id",)) -> Iterator[Change]:
    """Field by field, defaults filled in (a missing optional object counts as all defaults)."""
    da = (a or model()).model_dump(mode="json")
    db = (b or model()).model_dump(mode="json")
    for name in model.model_fields:
        if name in skip:
            continue
        va, vb = da.get(name), db.get(name)
        if name in _SETS:
            yield from _members(kind, ident, prefix + name, va or [], vb or [])
        elif not _same(va, vb):
            yield Change(kind, ident, "changed", prefix + name, va, vb)


def _members(kind: str, ident: str, field: str, old: list[Any], new: list[Any]) -> Iterator[Change]:
    for x in new:
        if x not in old:
            yield Change(kind, ident, "added", field, new=x)
    for x in old:
        if x not in new:
            yield Change(kind, ident, "removed", field, old=x)


def _plan(old: LoadedPlan, new: LoadedPlan) -> Iterator[Change]:
    a, b = old.model, new.model
    for name, va, vb in (("plan", a.plan, b.plan), ("version", a.version, b.version),
                         ("mission.id", a.mission.id, b.mission.id), ("mission.name", a.mission.name, b.mission.name)):
        if not _same(va, vb):
            yield Change("plan", old.id, "changed", name, va, vb)
    yield from _members("plan", old.id, "coordinator_roles", a.coordinators, b.coordinators)


def _matched(kind: str, old: dict[str, Any], new: dict[str, Any], pair: Callable[[str, Any, Any], Iterator[Change]],
             where: Callable[[dict[str, Any], str], str] | None = None) -> Iterator[Change]:
    """Entities by id: those added, those removed, then `pair`'s changes for those in both."""
    for ident in new:
        if ident not in old:
            yield Change(kind, ident, "added", where=where(new, ident) if where else None)
    for ident in old:
        if ident not in new:
            yield Change(kind, ident, "removed", where=where(old, ident) if where else None)
    for ident, a in old.items():
        if ident in new:
            yield from pair(ident, a, new[ident])


def _indicators(old: LoadedPlan, new: LoadedPlan) -> Iterator[Change]:
    def pair(ident: str, a: Any, b: Any) -> Iterator[Change]:
        da, db = a.model_dump(mode="json"), b.model_dump(mode="json")
        for name in type(a).model_fields:
            if name == "id":
                continue
            if name == "sources" and da[name] is not None and db[name] is not None:
                yield from _members("indicator", ident, "source", da[name], db[name])
            elif not _same(da[name], db[name]):
                yield Change("indicator", ident, "changed", name, da[name], db[name])

    yield from _matched("indicator", old.indicators, new.indicators, pair)


def _phases(old: LoadedPlan, new: LoadedPlan) -> Iterator[Change]:
    def pair(ident: str, a: Any, b: Any) -> Iterator[Change]:
        if a.name != b.name:
            yield Change("phase", ident, "changed", "name", a.name, b.name)
        yield from _members("phase", ident, "depends_on", a.depends_on or [], b.depends_on or [])

    yield from _matched("phase", old.phases, new.phases, pair)


def _gates(old: LoadedPlan, new: LoadedPlan) -> Iterator[Change]:
    def phase_of(gates: dict[str, Any], g: str) -> str:
        return f"phase {gates[g].phase.id}"

    def pair(ident: str, a: Any, b: Any) -> Iterator[Change]:
        if a.phase.id != b.phase.id:
            yield Change("gate", ident, "changed", "phase", a.phase.id, b.phase.id)
        if a.gate.name != b.gate.name:
            yield Change("gate", ident, "changed", "name", a.gate.name, b.gate.name)
        yield from _fields("gate", ident, a.gate.approval, b.gate.approval, Approval, "approval.", skip=())
        yield from _fields("gate", ident, a.gate.timers, b.gate.timers, Timers, "timers.", skip=())
        yield from _rule(ident, a.gate.rule, b.gate.rule, "rule")

    yield from _matched("gate", old.gates, new.gates, pair, phase_of)


def _signature(node: Node) -> str:
    return node.benchmark.id if isinstance(node, BenchmarkNode) else node_name(node)


def _params(node: Node) -> dict[str, Any]:
    """A combinator's own settings; a benchmark's are compared as the benchmark's fields."""
    if isinstance(node, BenchmarkNode):
        return {}
    out: dict[str, Any] = {"weight": node_weight(node)}
    at_least = getattr(node, "at_least", None)
    if at_least is not None:
        out["at_least"] = at_least
    score = getattr(node, "score", None)
    if score is not None:
        out["min"] = score.min
    return out


def _rule(gate: str, a: Node, b: Node, path: str) -> Iterator[Change]:
    """The rule's shape: combinators changed in kind or settings, and children that differ."""
    if _signature(a) != _signature(b):  # only at the root: children are compared by signature
        yield Change("gate", gate, "changed", path, _signature(a), _signature(b))
        return
    pa, pb = _params(a), _params(b)
    for name in sorted(pa.keys() | pb.keys()):
        if not _same(pa.get(name), pb.get(name)):
            yield Change("gate", gate, "changed", f"{path}.{name}", pa.get(name), pb.get(name))
    ka, kb = children(a), children(b)
    if not ka:
        return
    key = _CHILDREN[node_name(a)]
    sa, sb = [_signature(c) for c in ka], [_signature(c) for c in kb]
    if sa != sb:
        yield Change("gate", gate, "changed", f"{path}.{key}", sa, sb)
        if len(ka) != len(kb):
            return
    for i, (ca, cb) in enumerate(zip(ka, kb, strict=True)):
        if _signature(ca) == _signature(cb):
            yield from _rule(gate, ca, cb, f"{path}.{key}" if key == "not" else f"{path}.{key}[{i}]")


def _benchmarks(old: LoadedPlan, new: LoadedPlan) -> Iterator[Change]:
    def gate_of(benchmarks: dict[str, Any], bid: str) -> str:
        return f"gate {benchmarks[bid][0].id}"

    def pair(ident: str, x: Any, y: Any) -> Iterator[Change]:
        (ga, a, _), (gb, b, _) = x, y
        if ga.id != gb.id:
            yield Change("benchmark", ident, "changed", "gate", ga.id, gb.id)
        yield from _fields("benchmark", ident, a, b, type(a))

    yield from _matched("benchmark", old.benchmarks, new.benchmarks, pair, gate_of)
