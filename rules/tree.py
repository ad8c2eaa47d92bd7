"""Walking rule trees: children, benchmarks, weights."""

from __future__ import annotations

from collections.abc import Iterator

from schemas.models import (
    AllNode,
    AnyNode,
    AtLeastNode,
    Benchmark,
    BenchmarkNode,
    Node,
    NotNode,
    ScoreNode,
)

__all__ = ["child_key", "children", "iter_benchmarks", "node_name", "node_weight"]


def children(node: Node) -> list[Node]:
    if isinstance(node, AllNode):
        return list(node.all)
    if isinstance(node, AnyNode):
        return list(node.any)
    if isinstance(node, NotNode):
        return [node.not_]
    if isinstance(node, AtLeastNode):
        return list(node.of)
    if isinstance(node, ScoreNode):
        return list(node.score.of)
    return []


def child_key(node: Node) -> tuple[str, ...]:
    if isinstance(node, AllNode):
        return ("all",)
    if isinstance(node, AnyNode):
        return ("any",)
    if isinstance(node, NotNode):
        return ("not",)
    if isinstance(node, AtLeastNode):
        return ("of",)
    return ("score", "of")


def iter_benchmarks(node: Node, under_not: bool = False) -> Iterator[tuple[Benchmark, bool]]:
    """Each benchmark of a rule, with whether a `not` sits above it (such ones can't be waived)."""
    if isinstance(node, BenchmarkNode):
        yield node.benchmark, under_not
        return
    for child in children(node):
        yield from iter_benchmarks(child, under_not or isinstance(node, NotNode))




def node_weight(node: Node) -> float:
    return float(node.benchmark.weight if isinstance(node, BenchmarkNode) else node.weight)


def node_name(node: Node) -> str:
    for cls, name in ((BenchmarkNode, "benchmark"), (AllNode, "all"), (AnyNode, "any"), (NotNode, "not"),
                      (AtLeastNode, "at_least"), (ScoreNode, "score")):
        if isinstance(node, cls):
            return name
    raise TypeError(type(node).__name__)
