"""`exitgate timeline` (file mode): every gate's and benchmark's status at each step of a
time range, as JSON, CSV, a Rich summary, and a chart.

The core (`rules.timeline.timeline`) takes a LoadedPlan and an EvidenceIndex; store mode
(`--mission M`) will build that index from the store and reuse everything below it.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from reports.timeline_json import to_csv, to_json
from rules.timeline import Timeline
from rules.timeline_summary import GateSummary

from .sources import fail, from_files, time_range, use_store

__all__ = ["commands", "to_csv", "to_json"]


class Format(StrEnum):
    json = "json"
    csv = "csv"
    table = "table"




def _table(tl: Timeline, summary: dict[str, GateSummary], step_us: int, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from schemas.timefmt import describe_duration, format_date

    table = Table(title=title, title_justify="left")
    for col in ("gate", "first pass", "passing", "now", "longest blocking", "regressions"):
        table.add_column(col)
    colour = {"pass": "green", "fail": "red", "unknown": "bright_black"}
    for g, s in summary.items():
        share = f"{100 * s.pass_steps / len(tl.instants):.0f}%"
        blocking = "-" if s.blocking is None else f"{s.blocking} ({describe_duration(s.blocking_steps * step_us)})"
        regs = "; ".join(f"{format_date(r.start)} to {format_date(r.end) if r.end else 'end'} ({r.fell_to})"
                         for r in s.regressions[:3])
        if len(s.regressions) > 3:
            regs += f"; +{len(s.regressions) - 3} more"
        table.add_row(g, format_date(s.first_pass) if s.first_pass is not None else "never", share,
                      f"[{colour[s.final]}]{s.final}[/]", blocking, regs or "-")
    Console().print(table)


def _from_store(mission: str) -> tuple[Any, Any, dict[str, int]]:
    """The mission's plan and every stored record: the timeline applies knowledge times itself."""
    from store import Store

    with Store.from_url() as store:
        plan = store.plan_for_mission(mission)
        if plan is None:
            raise fail(f"--mission: unknown mission {mission!r}")
        index = store.evidence_index(mission)
    return plan, index, {"accepted": index.count}


# `timeline` is a top-level command: this app has no name, so cli/main.py merges it into the root.
commands = typer.Typer()


@commands.command("timeline")
def timeline_cmd(
    start: Annotated[str, typer.Option("--from", help="first instant (RFC 3339)")],
    end: Annotated[str, typer.Option("--to", help="last instant (RFC 3339), included when on a step")],
    step: Annotated[str, typer.Option("--step", help="ISO 8601 duration between instants")] = "P1D",
    fmt: Annotated[Format, typer.Option("--format", help="json, csv or table")] = Format.table,
    chart: Annotated[Path | None, typer.Option("--chart", help="also draw the chart: out.png or out.svg")] = None,
    gate: Annotated[list[str] | None, typer.Option("--gate", help="only these gates (repeatable)")] = None,
    plan: Annotated[Path | None, typer.Option("--plan", help="exit plan (JSON or YAML)")] = None,
    evidence: Annotated[Path | None, typer.Option("--evidence", help="evidence records, JSON Lines (a backfill)")] = None,
    mission: Annotated[str | None, typer.Option("--mission", help="read the plan and evidence from the store")] = None,
) -> None:
    """Backtest a plan: each gate's and benchmark's status at every step, as `evaluate` would say."""
    from rules.timeline import timeline
    from rules.timeline_summary import summarize
    from schemas.timefmt import format_timestamp

    start_us, end_us, step_us = time_range(start, end, step, chart)
    if use_store(plan, evidence, mission):
        assert mission is not None
        loaded, index, counts = _from_store(mission)
    else:
        assert plan is not None and evidence is not None
        loaded, index, outcomes = from_files(plan, evidence)
        rejected = [o for o in outcomes if o.status == "rejected"]
        for o in rejected:
            typer.echo(f"rejected: {o.message}", err=True)
        counts = {"accepted": index.count,
                  "duplicates": sum(1 for o in outcomes if o.status == "duplicate"),
                  "rejected": len(rejected)}
    for g in gate or []:
        if g not in loaded.gates:
            raise fail(f"--gate: unknown gate {g!r} (the plan has {', '.join(loaded.gates)})")
    tl = timeline(loaded, index, start_us, end_us, step_us, gates=gate or None)
    summary = summarize(tl)
    head = {"plan": loaded.id, "plan_sha256": loaded.sha256, "mission": loaded.mission_id,
            "from": format_timestamp(start_us), "to": format_timestamp(end_us), "step": step,
            "evidence": counts}
    if fmt is Format.json:
        typer.echo(json.dumps(to_json(tl, summary, head)))
    elif fmt is Format.csv:
        typer.echo(to_csv(tl), nl=False)
    else:
        _table(tl, summary, step_us, f"{loaded.id}: {head['from']} to {head['to']} every {step}")
    if chart is not None:
        from reports.timeline_chart import render, save

        save(render(tl, summary, f"{loaded.id}: readiness by gate", step_us), chart)
        typer.echo(f"chart written to {chart}", err=True)
