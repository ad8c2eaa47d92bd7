"""`exitgate timeline`: every gate's and benchmark's status at each step of a time range, as
JSON, CSV, a Rich summary, and a chart; with `--compare NEW`, the what-if of a new plan version
(rules.whatif): per gate, the first pass under each version and the days gained or lost.

The core (`rules.timeline.timeline`) takes a LoadedPlan and an EvidenceIndex, from files
(`--plan` + `--evidence`, a backfill) or from the store (`--mission M`).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reports.timeline_json import to_csv, to_json
from rules.timeline import Timeline
from rules.timeline_summary import GateSummary

from .sources import fail, from_files, load_plan_option, time_range, use_store

if TYPE_CHECKING:
    from rules.plan import LoadedPlan
    from rules.series import EvidenceIndex
    from rules.whatif import WhatIf

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


def _from_store(mission: str) -> tuple[LoadedPlan, EvidenceIndex, dict[str, int]]:
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
    compare: Annotated[Path | None, typer.Option(
        "--compare", help="what-if of this new plan version (JSON or YAML): first pass per gate under each")] = None,
) -> None:
    """Backtest a plan: each gate's and benchmark's status at every step, as `evaluate` would say.

    With --compare NEW: per gate, the first date it passes under the plan and under NEW, the
    days gained or lost, and the benchmarks responsible (--format table or json)."""
    from rules.timeline import timeline
    from rules.timeline_summary import summarize
    from schemas.timefmt import format_timestamp

    start_us, end_us, step_us = time_range(start, end, step, chart)
    if compare is not None:
        if fmt is Format.csv:
            raise fail("--format: a comparison is printed as table or json, not csv")
        _compare(compare, (start_us, end_us, step_us, step), plan, evidence, mission, fmt is Format.json, chart,
                 gate)
        return
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


# --- what-if: timeline --compare NEW (and its older name, timeline-compare) ---------------------


def _compare(compare: Path, span: tuple[int, int, int, str], plan: Path | None, evidence: Path | None,
             mission: str | None, as_json: bool, chart: Path | None, gates: list[str] | None) -> None:
    from reports.timeline_json import whatif_to_json
    from rules.whatif import what_if

    t0, t1, step_us, step = span
    if use_store(plan, evidence, mission):
        assert mission is not None
        old_plan, old_index, _ = _from_store(mission)
        new_plan = load_plan_option(compare, "--compare")
        new_index = old_index  # the records as the store accepted them
    else:
        assert plan is not None and evidence is not None
        old_plan, old_index, _ = from_files(plan, evidence)
        new_plan, new_index, _ = from_files(compare, evidence)
    if new_plan.mission_id != old_plan.mission_id:
        raise fail(f"--compare: the plan is for mission {new_plan.mission_id!r}, not {old_plan.mission_id!r}")
    for g in gates or []:
        if g not in old_plan.gates and g not in new_plan.gates:
            raise fail(f"--gate: unknown gate {g!r} (the plans have {', '.join({**old_plan.gates, **new_plan.gates})})")
    result = what_if(old_plan, old_index, new_plan, new_index, t0, t1, step_us, gates=gates or None)
    if as_json:
        typer.echo(json.dumps(whatif_to_json(result, old_plan, new_plan, t0, t1, step), indent=2))
    else:
        typer.echo(_versions(old_plan, new_plan))
        _print_whatif(result)
    if chart is not None:
        from reports.timeline_chart import render_compare, save

        save(render_compare(result.old, result.new, f"what-if: {_versions(old_plan, new_plan)}", step_us), chart)
        typer.echo(f"chart written to {chart}", err=True)


def _versions(old: LoadedPlan, new: LoadedPlan) -> str:
    return (f"old = {old.id} {old.model.version or '-'} ({old.sha256[:12]}), "
            f"new = {new.id} {new.model.version or '-'} ({new.sha256[:12]})")


def _print_whatif(result: WhatIf) -> None:
    from rules.evaluate import format_value
    from schemas.timefmt import format_date

    def day(us: int | None) -> str:
        return "never" if us is None else format_date(us)

    head = f"  {'gate':8} {'first pass old':>16} {'first pass new':>16}  {'days':>6}  benchmarks responsible"
    typer.echo(head)
    for g in result.gates.values():
        gained = g.days_gained
        days = g.outcome if gained is None else format_value(gained) if gained <= 0 else f"+{format_value(gained)}"
        typer.echo(f"  {g.gate:8} {day(g.first_pass_old):>16} {day(g.first_pass_new):>16}  {days:>6}  "
                   f"{', '.join(g.responsible) or '-'}")
    typer.echo("days: positive when the new version passes the gate earlier, "
               f"over {len(result.old.instants)} steps")


class CompareFormat(StrEnum):
    text = "text"
    json = "json"


@commands.command("timeline-compare", hidden=True)
def timeline_compare(
    compare: Annotated[Path, typer.Option("--compare", help="the new plan version (JSON or YAML)")],
    start: Annotated[str, typer.Option("--from", help="first instant (RFC 3339)")],
    end: Annotated[str, typer.Option("--to", help="last instant (RFC 3339), included when on a step")],
    step: Annotated[str, typer.Option("--step", help="ISO 8601 duration between instants")] = "P1D",
    plan: Annotated[Path | None, typer.Option("--plan", help="the plan as it is (JSON or YAML)")] = None,
    evidence: Annotated[Path | None, typer.Option("--evidence", help="evidence records, JSON Lines (a backfill)")] = None,
    mission: Annotated[str | None, typer.Option("--mission", help="the stored plan and evidence of this mission")] = None,
    fmt: Annotated[CompareFormat, typer.Option("--format", help="text or json")] = CompareFormat.text,
    chart: Annotated[Path | None, typer.Option("--chart", help="also draw both lanes per gate: out.png or out.svg")] = None,
) -> None:
    """The older name of `timeline --compare` (kept for scripts): the same what-if."""
    t0, t1, step_us = time_range(start, end, step, chart)
    _compare(compare, (t0, t1, step_us, step), plan, evidence, mission, fmt is CompareFormat.json, chart, None)
