"""Where a command's plan and evidence come from: files (`--plan` + `--evidence`, a backfill) or
the store (`--mission`). `evaluate` and `timeline` share these, so both refuse the same way."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rules.evidence import Outcome
    from rules.plan import LoadedPlan
    from rules.series import EvidenceIndex


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def use_store(plan: Path | None, evidence: Path | None, mission: str | None) -> bool:
    """True for store mode; exits with a message naming the options when they don't fit."""
    if mission is not None:
        if plan is not None or evidence is not None:
            raise fail("--mission reads the store; do not combine it with --plan/--evidence")
        return True
    if plan is None or evidence is None:
        raise fail("give --plan and --evidence (file mode) or --mission (store)")
    return False


def load_plan_option(path: Path, option: str) -> LoadedPlan:
    """The plan file an option names, or exit 2 with the plan's problems under its name."""
    from rules.plan import PlanError, load_plan_file

    try:
        return load_plan_file(path)
    except PlanError as exc:
        typer.echo(f"{option} {path}: {exc}", err=True)
        raise typer.Exit(2) from None


def from_files(plan: Path, evidence: Path) -> tuple[LoadedPlan, EvidenceIndex, list[Outcome]]:
    """Load the plan and take the evidence file as `evaluate --evidence` does."""
    from rules.evidence import read_jsonl
    from rules.plan import PlanError, load_plan_file
    from rules.series import EvidenceIndex

    try:
        loaded = load_plan_file(plan)
    except PlanError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    try:
        text = evidence.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"--evidence: cannot read {str(evidence)!r}: {exc}") from None
    ledger, outcomes = read_jsonl(text, loaded)
    return loaded, EvidenceIndex(ledger.records.values()), outcomes


def time_range(start: str, end: str, step: str, chart: Path | None) -> tuple[int, int, int]:
    """--from, --to and --step of a timeline (microseconds), and a --chart suffix, checked."""
    from schemas.timefmt import parse_duration, parse_timestamp

    times: dict[str, int] = {}
    for name, text in (("--from", start), ("--to", end)):
        try:
            times[name] = parse_timestamp(text)
        except ValueError as exc:
            raise fail(f"{name}: {exc}") from None
    try:
        step_us = parse_duration(step)
    except ValueError as exc:
        raise fail(f"--step: {exc}") from None
    if times["--to"] < times["--from"]:
        raise fail("--to: must not be before --from")
    if chart is not None and chart.suffix.lower() not in (".png", ".svg"):
        raise fail(f"--chart: {chart.name!r} must end in .png or .svg")
    return times["--from"], times["--to"], step_us
