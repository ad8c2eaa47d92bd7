"""`exitgate evidence import|show` and `exitgate audit verify|export` against the store."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .render import err, out
from .sources import fail

if TYPE_CHECKING:
    from rules.plan import LoadedPlan
    from store import Store

# `evidence submit` (cli/control_cmds.py) joins this group.
evidence_app = typer.Typer(help="Evidence: submit live, import files, inspect.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log: verify and export.", no_args_is_help=True)


@evidence_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="Evidence, JSON Lines.")],
    plan: Annotated[Path | None, typer.Option("--plan", help="The mission's exit plan (registers it when new).")] = None,
    mission: Annotated[str | None, typer.Option("--mission", help="A mission already in the store.")] = None,
    backfill: Annotated[bool, typer.Option("--backfill", help="Keep each record's reported_at as its knowledge time (audited).")] = False,
    actor: Annotated[str, typer.Option("--actor", help="Who imports, for the audit log.")] = "cli",
) -> None:
    """Import a JSON Lines file: every line stored, duplicate or rejected with its reason."""
    from store import Store

    with Store.from_url() as store:
        _import(store, file, plan, mission, backfill, actor)


def _import(store: Store, file: Path, plan: Path | None, mission: str | None, backfill: bool,
            actor: str) -> None:
    from rules.plan import PlanError, load_plan_file

    if plan is not None:
        try:
            loaded = load_plan_file(plan)
        except PlanError as exc:
            raise fail(str(exc)) from None
        if store.plan_for_mission(loaded.mission_id) is None:
            store.register_mission(loaded, actor)
        else:
            store.save_plan(loaded)
    elif mission is not None:
        found = store.plan_for_mission(mission)
        if found is None:
            raise fail(f"--mission: unknown mission {mission!r}; give --plan to register it")
        loaded = found
    else:
        raise fail("give --plan PLAN or --mission M")
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {file}: {exc}") from None
    with Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task("import", total=sum(1 for x in lines if x.strip()))
        outcomes = store.ingest(loaded, lines, backfill=backfill, actor=actor, lines=True,
                                progress=lambda n: progress.update(task, completed=n))
    counts = Counter(o.status for o in outcomes)
    for o in outcomes:
        if o.status == "rejected":
            err.print(f"[red]rejected[/red] {o.message}", soft_wrap=True)
    table = Table(title=f"{file.name} -> mission {loaded.mission_id}")
    for col in ("stored", "duplicate", "rejected"):
        table.add_column(col, justify="right")
    table.add_row(str(counts["stored"]), str(counts["duplicate"]), str(counts["rejected"]))
    out.print(table)
    if counts["stored"]:
        _tell_running_phases(store, loaded, {o.id for o in outcomes if o.status == "stored"}, lines)


def _tell_running_phases(store: Store, plan: LoadedPlan, stored: set[str | None], lines: list[str]) -> None:
    """Running phase workflows hear of the import at once (else only at their next timer)."""
    import asyncio
    import json

    from runtime import TemporalSettings, connect
    from service import Service

    indicators = set()
    for line in lines:
        try:
            raw = json.loads(line)
        except ValueError:
            continue
        if isinstance(raw, dict) and raw.get("id") in stored and isinstance(raw.get("indicator"), str):
            indicators.add(raw["indicator"])

    async def tell() -> list[str]:
        client = await asyncio.wait_for(connect(TemporalSettings()), timeout=5)
        return await Service(store, client).tell_phases(plan, indicators)
    try:
        told = asyncio.run(tell())
    except (OSError, RuntimeError, TimeoutError) as exc:
        err.print(f"[yellow]note[/yellow]: Temporal not reachable ({exc}); running phases re-evaluate "
                  "at their next timer or evidence update", soft_wrap=True)
        return
    if told:
        err.print(f"told running phases: {', '.join(told)}")


@evidence_app.command("show")
def show(
    mission: Annotated[str, typer.Option("--mission")],
    indicator: Annotated[str, typer.Option("--indicator")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="RFC 3339; default: now.")] = None,
) -> None:
    """The effective series of an indicator as known at an instant."""
    from schemas.timefmt import format_timestamp, parse_timestamp
    from store import Store, now_us

    try:
        t = parse_timestamp(as_of) if as_of else now_us()
    except ValueError as exc:
        raise fail(f"--as-of: {exc}") from None
    with Store.from_url() as store:
        plan = store.plan_for_mission(mission)
        if plan is None:
            raise fail(f"--mission: unknown mission {mission!r}")
        if indicator not in plan.indicators:
            raise fail(f"--indicator: unknown indicator {indicator!r}")
        view = store.evidence_index(mission, t, [indicator]).view(indicator, t)
    table = Table(title=f"{mission} / {indicator} as of {format_timestamp(t)}")
    for col in ("observed_at", "value", "record"):
        table.add_column(col)
    if view is not None:
        kind = plan.indicators[indicator].kind
        ids = view.ids(0, len(view.obs))
        for obs, value, rid in zip(view.obs.tolist(), view.values.tolist(), ids, strict=True):
            shown = str(bool(value)).lower() if kind == "boolean" else str(int(value) if kind == "integer" else value)
            table.add_row(format_timestamp(obs), shown, rid)
    out.print(table)


@audit_app.command("verify")
def verify() -> None:
    """Check the whole chain: OK, or the first broken entry (exit 1)."""
    from store import Store

    with Store.from_url() as store:
        result = store.audit_verify()
    if result.ok:
        out.print(f"OK: {result.entries} entries, chain intact")
        return
    err.print(f"BROKEN at entry {result.first_bad}: {result.reason}")
    raise typer.Exit(1)


@audit_app.command("export")
def export(file: Annotated[Path, typer.Argument(help="JSON Lines output; - for stdout.")]) -> None:
    """Write every entry as JSON Lines, checkable without exitgate (see README)."""
    from store import Store

    with Store.from_url() as store:
        if str(file) == "-":
            n = store.audit_export(sys.stdout)
        else:
            with file.open("w", encoding="utf-8") as fh:
                n = store.audit_export(fh)
    err.print(f"{n} entries written")
