"""Compile a rule tree into a Python function by generating its source.

Why code generation rather than closures: a generated function is the same straight-line code
a person would write by hand (locals, comparisons, early exits), so it runs at hand-written
speed (see benchmarks/rules_bench.py), while staying a pure function of the context it is given.
Only validated numbers, booleans and repr()-quoted ids reach the generated source.

The context maps benchmark id -> aggregate value, or None when the value is missing (too few
points, stale, undefined): None makes the benchmark unknown. Statuses are True (pass), False
(fail) and None (unknown).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from schemas.models import AllNode, AnyNode, AtLeastNode, BenchmarkNode, Node, NotNode, ScoreNode

from .tree import children, node_weight

__all__ = ["Status", "compile_rule", "compile_rule_recording", "node_weight"]

Status = bool | None
_CMP = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "==", "!=": "!="}


class _Gen:
    def __init__(self, waived: frozenset[str], record: bool):
        self.lines: list[str] = []
        self.n = 0
        self.waived = waived
        self.record = record

    def emit(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    def test(self, node: BenchmarkNode) -> str:
        b = node.benchmark
        if b.op == "between":
            assert isinstance(b.threshold, list)
            low, high = b.threshold
            return f"{low!r} <= v <= {high!r}"
        return f"v {_CMP[b.op]} {b.threshold!r}"

    def inline_leaf(self, node: BenchmarkNode, var: str, stop: str, indent: int) -> None:
        """A benchmark directly under all/any, tested in place as a person would write it:
        no status variable, one branch to decide the parent (the speed goal of issue 2)."""
        self.n += 1  # keep node numbering identical to the recording variant
        b = node.benchmark
        if b.id in self.waived:
            if stop == "True":  # a waived benchmark passes, which decides an `any`
                self.emit(indent, f"{var} = True")
                self.emit(indent, "break")
            return
        self.emit(indent, f"v = g({b.id!r})")
        self.emit(indent, "if v is None:")
        self.emit(indent + 1, f"{var} = None")
        self.emit(indent, f"elif {'not ' if stop == 'False' else ''}({self.test(node)}):")
        self.emit(indent + 1, f"{var} = {stop}")
        self.emit(indent + 1, "break")

    def node(self, node: Node, indent: int) -> str:
        idx = self.n
        self.n += 1
        var = f"s{idx}"
        if isinstance(node, BenchmarkNode):
            b = node.benchmark
            if b.id in self.waived:
                self.emit(indent, f"{var} = True")
            else:
                self.emit(indent, f"v = g({b.id!r})")
                if b.op == "between":
                    assert isinstance(b.threshold, list)
                    low, high = b.threshold
                    test = f"{low!r} <= v <= {high!r}"
                else:
                    test = f"v {_CMP[b.op]} {b.threshold!r}"
                self.emit(indent, f"{var} = None if v is None else ({test})")
        elif isinstance(node, NotNode):
            child = self.node(node.not_, indent)
            self.emit(indent, f"{var} = None if {child} is None else not {child}")
        elif isinstance(node, (AllNode, AnyNode)):
            stop = "False" if isinstance(node, AllNode) else "True"
            self.emit(indent, f"{var} = {'True' if isinstance(node, AllNode) else 'False'}")
            self.emit(indent, "while True:")
            for child_node in children(node):
                if not self.record and isinstance(child_node, BenchmarkNode):
                    self.inline_leaf(child_node, var, stop, indent + 1)
                    continue
                child = self.node(child_node, indent + 1)
                self.emit(indent + 1, f"if {child} is {stop}:")
                self.emit(indent + 2, f"{var} = {stop}")
                self.emit(indent + 2, "break" if not self.record else "pass")
                self.emit(indent + 1, f"if {child} is None and {var} is not {stop}:")
                self.emit(indent + 2, f"{var} = None")
            self.emit(indent + 1, "break")
        elif isinstance(node, AtLeastNode):
            k = node.at_least
            self.emit(indent, f"p{idx} = 0")
            self.emit(indent, f"u{idx} = 0")
            self.emit(indent, "while True:")
            for child_node in children(node):
                child = self.node(child_node, indent + 1)
                self.emit(indent + 1, f"if {child} is True:")
                self.emit(indent + 2, f"p{idx} += 1")
                if not self.record:
                    self.emit(indent + 2, f"if p{idx} >= {k}:")
                    self.emit(indent + 3, "break")
                self.emit(indent + 1, f"elif {child} is None:")
                self.emit(indent + 2, f"u{idx} += 1")
            self.emit(indent + 1, "break")
            self.emit(indent, f"{var} = True if p{idx} >= {k} else (False if p{idx} + u{idx} < {k} else None)")
        elif isinstance(node, ScoreNode):
            kids = children(node)
            total = sum(node_weight(c) for c in kids)
            minimum = float(node.score.min)
            self.emit(indent, f"p{idx} = 0.0")
            self.emit(indent, f"u{idx} = 0.0")
            for child_node in kids:
                w = node_weight(child_node)
                child = self.node(child_node, indent)
                self.emit(indent, f"if {child} is True:")
                self.emit(indent + 1, f"p{idx} += {w!r}")
                self.emit(indent, f"elif {child} is None:")
                self.emit(indent + 1, f"u{idx} += {w!r}")
            self.emit(indent, f"{var} = True if p{idx} / {total!r} >= {minimum!r} else "
                              f"(False if (p{idx} + u{idx}) / {total!r} < {minimum!r} else None)")
        else:  # pragma: no cover - the models admit no other node
            raise TypeError(f"unknown rule node {type(node).__name__}")
        if self.record:
            self.emit(indent, f"rec[{idx}] = {var}")
        return var


def _build(node: Node, waived: Iterable[str], record: bool) -> tuple[Callable[..., Any], int]:
    gen = _Gen(frozenset(waived), record)
    body = _Gen(gen.waived, record)
    root = body.node(node, 1)
    if record:
        gen.emit(0, "def rule(ctx):")
        gen.emit(1, f"rec = [None] * {body.n}")
    else:
        gen.emit(0, "def rule(ctx):")
    gen.emit(1, "g = ctx.get")
    gen.lines.extend(body.lines)
    gen.emit(1, "return rec" if record else f"return {root}")
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(gen.lines), "<exitgate rule>", "exec"), namespace)
    return namespace["rule"], body.n


def compile_rule(node: Node, waived: Iterable[str] = ()) -> Callable[[Mapping[str, Any]], Status]:
    """The gate's status from a context; stops at the first child that decides a node."""
    fn, _ = _build(node, waived, record=False)
    return fn


def compile_rule_recording(node: Node, waived: Iterable[str] = ()) -> Callable[[Mapping[str, Any]], list[Status]]:
    """Every node's status, in pre-order (root first): what the explanation tree shows."""
    fn, _ = _build(node, waived, record=True)
    return fn
