"""Rich renderings shared by commands: evaluation trees and rejection summaries."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
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


# Traffic lights for gate states: green decided, amber waiting for people, red waiting for evidence.
STATE_STYLE = {"approved": ("green", "●"), "awaiting_approval": ("yellow", "●"), "collecting": ("red", "●"),
               "paused": ("grey62", "‖"), "not_started": ("grey62", "○")}


def state_label(state: str) -> str:
    colour, mark = STATE_STYLE.get(state, ("white", "?"))
    return f"[{colour}]{mark} {state.replace('_', ' ')}[/{colour}]"


def status_table(status: Any) -> Table:
    """A MissionView (service.views) as one row per gate."""
    table = Table(title=f"{status.mission} on {status.plan} ({status.plan_sha256[:12]}) as of {status.as_of}",
                  title_justify="left")
    for col in ("phase", "gate", "state", "rule", "approvals", "digest", "evaluated"):
        table.add_column(col)
    for ph in status.phases:
        for g in ph.gates:
            ev = g.evaluation or {}
            rule = ev.get("status")
            table.add_row(f"{ph.phase} [dim]{ph.state}[/dim]", f"{g.gate} {g.name}", state_label(g.state),
                          _label(rule, "") if rule else "[dim]-[/dim]", f"{len(g.approvals)}/{g.quorum}",
                          (ev.get("digest") or "")[:12], ev.get("as_of", ""))
    failed = [f"[red]phase {ph.phase} failed[/red]: {ph.failure} (a coordinator may reopen it)"
              for ph in status.phases if getattr(ph, "failure", None)]
    if failed:
        table.caption, table.caption_justify = "\n".join(failed), "left"
    return table


def print_status(status: Any) -> None:
    out.print(status_table(status))


def print_gate(view: Any) -> None:
    """A GateView (service.views): state, digest, the explanation tree, approvals and waivers."""
    out.print(f"[bold]{view.mission} / {view.phase} / {view.gate}[/bold] {view.name}: {state_label(view.state)}")
    ev = view.evaluation
    if ev is None:
        out.print("[dim]not evaluated yet[/dim]")
    else:
        out.print(f"digest {ev['digest']} as of {ev.get('as_of', view.as_of)}"
                  + (f", valid until {ev['valid_until']}" if ev.get("valid_until") else ""))
        if ev.get("note"):
            out.print(f"[yellow]{ev['note']}[/yellow]")
        root = Tree(_label(ev["status"], f"[bold]{view.gate}[/bold]"))
        _node(root, ev["explanation"])
        out.print(root)
    out.print(f"approvals {len(view.approvals)}/{view.quorum} (roles: {', '.join(view.roles)})")
    for a in view.approvals:
        out.print(f"  {a.signed} on {a.digest[:12]} at {a.at}" + (f": {a.comment}" if a.comment else ""))
    for r in view.rejections:
        out.print(f"  [red]rejection[/red] {r.signed} on {r.digest[:12]} at {r.at}" + (f": {r.comment}" if r.comment else ""))
    for w in view.waivers:
        out.print(f"  [yellow]waived[/yellow] {w.benchmark} by {w.by}: {w.justification}"
                  + (f" (until {w.until})" if w.until else ""))
    if view.rejected_digest:
        out.print(f"  [red]rejected[/red] digest {view.rejected_digest[:12]}")
