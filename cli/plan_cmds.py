"""`exitgate plan validate` and `exitgate evaluate` (file mode)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .render import print_rejections, print_tree
from .sources import fail, from_files, use_store

# `plan load` (cli/control_cmds.py) joins this group.
plan_app = typer.Typer(help="Exit plans: validate, and load into the store.", no_args_is_help=True)
# `evaluate` is a top-level command: this app has no name, so cli/main.py merges it into the root.
commands = typer.Typer()


@plan_app.command("validate")
def validate(path: Annotated[Path, typer.Argument(help="Exit plan, JSON or YAML.")]) -> None:
    """Validate an exit plan and print its sha256, or every problem with its JSON path."""
    from rules.plan import PlanError, load_plan_file

    try:
        plan = load_plan_file(path)
    except PlanError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    gates = len(plan.gates)
    typer.echo(f"OK {plan.id} ({len(plan.phases)} phases, {gates} gates, "
               f"{len(plan.benchmarks)} benchmarks) sha256={plan.sha256}")


@commands.command("evaluate")
def evaluate(
    plan: Annotated[Path | None, typer.Option("--plan", help="Exit plan, JSON or YAML.")] = None,
    evidence: Annotated[Path | None, typer.Option("--evidence", help="Evidence, JSON Lines (a backfill: reported_at is the knowledge time).")] = None,
    mission: Annotated[str | None, typer.Option("--mission", help="Evaluate from the store instead of a file.")] = None,
    as_of: Annotated[list[str], typer.Option("--as-of", help="RFC 3339 instant; repeat for several.")] = [],  # noqa: B006 - Typer reads the default
    fmt: Annotated[str, typer.Option("--format", help="json or table.")] = "table",
) -> None:
    """Evaluate every gate as of one or more instants and explain why."""
    from rules.evaluate import evaluate as evaluate_at
    from schemas.timefmt import parse_timestamp

    if fmt not in ("json", "table"):
        raise fail(f"--format: {fmt!r} is not json or table")
    if not as_of:
        raise fail("--as-of: give at least one instant, e.g. --as-of 2025-01-15T12:00:00Z")
    instants = []
    for text in as_of:
        try:
            instants.append(parse_timestamp(text))
        except ValueError as exc:
            raise fail(f"--as-of: {exc}") from None
    if use_store(plan, evidence, mission):
        assert mission is not None
        results = _from_store(mission, instants)
    else:
        assert plan is not None and evidence is not None
        loaded, index, outcomes = from_files(plan, evidence)
        print_rejections(outcomes)
        results = [evaluate_at(loaded, index, t) for t in instants]
    if fmt == "json":
        out: Any = results[0] if len(results) == 1 else results
        sys.stdout.write(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    else:
        for result in results:
            print_tree(result)




def _from_store(mission: str, instants: list[int]) -> list[dict[str, Any]]:
    from store import StoreError
    from store.queries import evaluate_from_store

    try:
        return evaluate_from_store(mission, instants)
    except StoreError as exc:
        raise fail(f"--mission: {exc}") from None
