"""`exitgate rehearse SCENARIO`: play a whole exit through the real workflows on a simulated
clock (CONTRACT section 6; the work is rehearsal/'s) and show what happened."""

from __future__ import annotations

import asyncio
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from .sources import fail

__all__ = ["commands", "render_table"]

commands = typer.Typer()


class Format(StrEnum):
    table = "table"
    json = "json"


@commands.command("rehearse")
def rehearse_cmd(
    scenario: Annotated[Path, typer.Argument(help="Scenario file, YAML or JSON (schemas/scenario.schema.json).")],
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
    out: Annotated[Path | None, typer.Option("--out", help="also write the JSON transcript here")] = None,
    chart: Annotated[Path | None, typer.Option("--chart", help="also draw gate states per checkpoint: out.png or out.svg")] = None,
) -> None:
    """Rehearse an exit: evidence fed at its arrival and people's actions at their instants,
    through the real mission and phase workflows on a time-skipping test server of its own.

    Exit status 0 when the rehearsal ran (refused actions are part of its story), 2 when the
    scenario is refused (every problem is listed by path), 1 when the rehearsal could not finish."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from rehearsal import RehearsalFailed, ScenarioError, load_scenario, rehearse

    try:
        scn = load_scenario(scenario)
    except ScenarioError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    err = Console(stderr=True)
    with Progress(TextColumn("rehearsing"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task("", total=None)

        def step(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=what)

        try:
            transcript = asyncio.run(rehearse(scn, step))
        except RehearsalFailed as exc:
            raise fail(f"the rehearsal could not finish: {exc}", 1) from None
    text = json.dumps(transcript, indent=1, ensure_ascii=False) + "\n"
    if out is not None:
        out.write_text(text, encoding="utf-8")
    if chart is not None:
        from reports.rehearsal_chart import save_chart

        save_chart(transcript, chart)
    if fmt is Format.json:
        typer.echo(text, nl=False)
    else:
        render_table(transcript, Console())


def _votes(votes: list[dict[str, Any]]) -> str:
    return ", ".join(f"{v['person']} ({v['role']})" for v in votes) or "-"


def render_table(t: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    console.print(f"[bold]{t['scenario']}[/bold]: plan {t['plan']} ({t['plan_sha256'][:12]}), mission {t['mission']}")
    ev = t["evidence"]
    console.print(f"evidence: {ev['stored']} stored, {ev['duplicates']} duplicates, {len(ev['rejected'])} rejected")
    for cp in t["checkpoints"]:
        console.print()
        console.print(f"[bold]{cp['at']}[/bold]" + (" (end)" if cp.get("end") else "") + "  "
                      + "  ".join(f"{p}: {s}" for p, s in cp["phases"].items()))
        table = Table(show_edge=False)
        for col in ("gate", "phase", "state", "rule", "approvals", "rejections", "waivers", "reminders", "escalated"):
            table.add_column(col, overflow="fold")
        for gid, g in cp["gates"].items():
            state = g["state"] + (" (rejected)" if g.get("rejected") else "")
            waivers = ", ".join(w["benchmark"] + (f" until {w['until']}" if w["until"] else "") for w in g["waivers"])
            table.add_row(gid, g["phase"], state, g["rule_status"] or "-", _votes(g["approvals"]),
                          _votes(g["rejections"]), waivers or "-", str(g["reminders_sent"]),
                          "yes" if g["escalated"] else "-")
        console.print(table)
    refused = [a for a in t["actions"] if a["outcome"] != "accepted"]
    console.print()
    console.print(f"[bold]actions[/bold]: {len(t['actions'])}, {len(refused)} refused or invalid")
    if refused:
        table = Table(show_edge=False)
        for col in ("n", "at", "do", "person", "refusal", "reason"):
            table.add_column(col, overflow="fold")
        for a in refused:
            table.add_row(str(a["n"]), a["at"], a["do"], a["person"], a.get("refusal") or "InvalidInput", a["reason"])
        console.print(table)
