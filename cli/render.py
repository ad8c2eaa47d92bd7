"""Rich renderings shared by commands: evaluation trees and rejection summaries."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.tree import Tree

from rules.evidence import Outcome

COLOURS = {"pass": "green", "fail": "red", "unknown": "grey62"}
MARKS = {"pass": "●", "fail": "●", "unknown": "○"}

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _label(status: str, text: str) -> str:
    colour = COLOURS.get(status, "white")
    return f"[{colour}]{MARKS.get(status, '?')} {status.upper():7}[/{colour}] {text}"


def _node(tree: Tree, node: dict[str, Any]) -> None:
    if node["node"] == "benchmark":
        text = f"[bold]{node['benchmark']}[/bold] {node['reason']}"
        if "waived" in node:
            text += " [yellow](waived)[/yellow]"
        tree.add(_label(node["status"], text))
        return
    extra = ""
    if node["node"] == "at_least":
        extra = f" {node['at_least']} of"
    elif node["node"] == "score":
        extra = f" share {node['share']:.2f}, min {node['min']}"
    branch = tree.add(_label(node["status"], f"[bold]{node['node']}[/bold]{extra}"))
    for child in node["children"]:
        _node(branch, child)


def print_tree(result: dict[str, Any]) -> None:
    root = Tree(f"[bold]{result['plan']}[/bold] / {result['mission']} as of {result['as_of']}")
    for gate in result["gates"]:
        until = f", valid until {gate['valid_until']}" if gate.get("valid_until") else ""
        branch = root.add(_label(gate["status"], f"[bold]{gate['phase']}/{gate['gate']}[/bold] "
                                                 f"{gate.get('name', '')} [dim]{gate['digest'][:12]}{until}[/dim]"))
        _node(branch, gate["explanation"])
    out.print(root)


def print_rejections(outcomes: Sequence[Outcome], console: Console = err) -> None:
    """By default on stderr, so stdout stays clean JSON."""
    counts = Counter(o.status for o in outcomes)
    for o in outcomes:
        if o.status == "rejected":
            console.print(f"[red]rejected[/red] {o.message}", soft_wrap=True)
    console.print(f"evidence: {counts['stored']} accepted, {counts['duplicate']} duplicate, "
              f"{counts['rejected']} rejected")
