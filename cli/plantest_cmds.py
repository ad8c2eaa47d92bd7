"""Plans as code: `exitgate plan test`, `exitgate plan diff` and `exitgate timeline-compare`.

The first two join the `plan` group of cli/plan_cmds.py (as `plan load` does from
cli/control_cmds.py). Each command only reads files, calls rules/ and prints.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .sources import fail, from_files, time_range, use_store

if TYPE_CHECKING:
    from rules.coverage import Coverage
    from rules.plan import LoadedPlan
    from rules.plantest import CaseResult, Suite
    from rules.series import EvidenceIndex
    from rules.whatif import WhatIf

__all__ = ["register"]


class Format(StrEnum):
    text = "text"
    json = "json"


def register(app: typer.Typer) -> None:
    from .plan_cmds import plan_app

    plan_app.command("test")(plan_test)
    plan_app.command("diff")(plan_diff)
    app.command("timeline-compare")(timeline_compare)


# --- plan test -----------------------------------------------------------------------------------


def plan_test(
    files: Annotated[list[Path], typer.Argument(help="Plan test files, YAML or JSON (schemas/plan-test.schema.json).")],
    coverage: Annotated[bool, typer.Option("--coverage", help="Also say which outcomes of the plan the cases exercised.")] = False,
    fmt: Annotated[Format, typer.Option("--format", help="text or json")] = Format.text,
) -> None:
    """Run plan tests: each case's evidence evaluated at its instant, compared with what it expects.

    Exit status 0 when every case passes, 1 when one fails, 2 when a test file cannot be run."""
    from rules.coverage import coverage as measure
    from rules.plantest import TestFileError, load_suite, run_suite

    suites: list[tuple[Suite, list[CaseResult]]] = []
    for f in files:
        try:
            suite = load_suite(f)
            suites.append((suite, run_suite(suite)))
        except TestFileError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from None
    # One coverage per plan version, over every file that tests it.
    by_plan: dict[str, tuple[LoadedPlan, list[dict[str, Any]]]] = {}
    for suite, results in suites:
        by_plan.setdefault(suite.plan.sha256, (suite.plan, []))[1].extend(r.evaluation for r in results)
    covered = [measure(plan, evaluations) for plan, evaluations in by_plan.values()] if coverage else []
    passed = sum(r.passed for _, results in suites for r in results)
    failed = sum(not r.passed for _, results in suites for r in results)
    if fmt is Format.json:
        doc: dict[str, Any] = {
            "files": [{"file": s.source, "plan": s.plan.id, "plan_sha256": s.plan.sha256,
                       "cases": [r.to_json() for r in results]} for s, results in suites],
            "passed": passed, "failed": failed}
        if coverage:
            doc["coverage"] = [c.to_json() for c in covered]
        typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        for suite, results in suites:
            _print_suite(suite, results)
        for c in covered:
            _print_coverage(c)
        typer.echo(f"{passed} passed, {failed} failed")
    if failed:
        raise typer.Exit(1)


def _print_suite(suite: Suite, results: list[CaseResult]) -> None:
    typer.echo(f"{suite.source} ({suite.plan.id}, sha256 {suite.plan.sha256[:12]})")
    for r in results:
        typer.echo(f"  {'PASS' if r.passed else 'FAIL'}  {r.name}  [as of {r.as_of}]")
        for m in r.mismatches:
            typer.echo(f"        {m.text}")


def _print_coverage(c: Coverage) -> None:
    typer.echo(f"coverage of {c.plan} (sha256 {c.plan_sha256[:12]}) over {c.cases} case(s): "
               f"benchmarks {c.benchmark_percent:g}%, combinators {c.combinator_percent:g}%, "
               f"plan {c.percent:g}%")
    typer.echo(f"  {'benchmark':12} {'gate':8} {'pass':>5} {'fail':>5} {'unknown':>8}  unknown causes / missing")
    for b in c.benchmarks.values():
        causes = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in b.causes.items() if v)
        unknown = str(b.seen["unknown"]) if "unknown" in b.possible else "n/a"
        missing = f"missing {', '.join(b.missing)}" if b.missing else ""
        tail = "; ".join(x for x in (causes, missing) if x) or "-"
        typer.echo(f"  {b.benchmark:12} {b.gate:8} {b.seen['pass']:>5} {b.seen['fail']:>5} {unknown:>8}  {tail}")
    typer.echo(f"  {'combinator':28} {'pass':>5} {'fail':>5} {'unknown':>8}  missing")
    for cc in c.combinators.values():
        where = f"{cc.gate} {cc.path} ({cc.node})"
        typer.echo(f"  {where:28} {cc.seen['pass']:>5} {cc.seen['fail']:>5} {cc.seen['unknown']:>8}  "
                   f"{', '.join(cc.missing) or '-'}")


# --- plan diff -----------------------------------------------------------------------------------


def _load(path: Path, option: str) -> LoadedPlan:
    from rules.plan import PlanError, load_plan_file

    try:
        return load_plan_file(path)
    except PlanError as exc:
        typer.echo(f"{option} {path}: {exc}", err=True)
        raise typer.Exit(2) from None


def plan_diff(
    old: Annotated[Path, typer.Argument(help="The earlier plan, JSON or YAML.")],
    new: Annotated[Path, typer.Argument(help="The later plan, JSON or YAML.")],
    fmt: Annotated[Format, typer.Option("--format", help="text or json")] = Format.text,
    exit_code: Annotated[bool, typer.Option("--exit-code", help="Exit with 1 when the plans differ in meaning.")] = False,
) -> None:
    """What changed in meaning between two plans: entities added or removed, fields changed."""
    from rules.plandiff import diff_plans

    d = diff_plans(_load(old, "OLD"), _load(new, "NEW"))
    if fmt is Format.json:
        typer.echo(json.dumps(d.to_json(), indent=2, ensure_ascii=False))
    else:
        typer.echo(f"{d.old.id} {d.old.model.version or '-'} ({d.old.sha256[:12]}) -> "
                   f"{d.new.id} {d.new.model.version or '-'} ({d.new.sha256[:12]})")
        if not d.changes:
            typer.echo("no change" if d.same_sha256 else
                       "no change in meaning (the documents differ only in form, e.g. a default written out)")
        kinds = ("plan", "indicator", "phase", "gate", "benchmark")
        for kind in kinds:
            lines = [c.text for c in d.changes if c.kind == kind]
            if lines:
                typer.echo(f"{kind}s" if kind != "plan" else "plan")
                for line in lines:
                    typer.echo(f"  {line}")
    if exit_code and d.changes:
        raise typer.Exit(1)


# --- timeline-compare ----------------------------------------------------------------------------


def _store_plan(mission: str) -> tuple[LoadedPlan, EvidenceIndex]:
    from store import Store

    with Store.from_url() as store:
        plan = store.plan_for_mission(mission)
        if plan is None:
            raise fail(f"--mission: unknown mission {mission!r}")
        return plan, store.evidence_index(mission)


def timeline_compare(
    compare: Annotated[Path, typer.Option("--compare", help="the new plan version (JSON or YAML)")],
    start: Annotated[str, typer.Option("--from", help="first instant (RFC 3339)")],
    end: Annotated[str, typer.Option("--to", help="last instant (RFC 3339), included when on a step")],
    step: Annotated[str, typer.Option("--step", help="ISO 8601 duration between instants")] = "P1D",
    plan: Annotated[Path | None, typer.Option("--plan", help="the plan as it is (JSON or YAML)")] = None,
    evidence: Annotated[Path | None, typer.Option("--evidence", help="evidence records, JSON Lines (a backfill)")] = None,
    mission: Annotated[str | None, typer.Option("--mission", help="the stored plan and evidence of this mission")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="text or json")] = Format.text,
    chart: Annotated[Path | None, typer.Option("--chart", help="also draw both lanes per gate: out.png or out.svg")] = None,
) -> None:
    """What-if: per gate, the first date it passes under each plan version and the days gained or lost."""
    from rules.whatif import what_if

    t0, t1, step_us = time_range(start, end, step, chart)
    if use_store(plan, evidence, mission):
        assert mission is not None
        old_plan, old_index = _store_plan(mission)
        new_plan = _load(compare, "--compare")
        new_index = old_index  # the records as the store accepted them
    else:
        assert plan is not None and evidence is not None
        old_plan, old_index, _ = from_files(plan, evidence)
        new_plan, new_index, _ = from_files(compare, evidence)
    if new_plan.mission_id != old_plan.mission_id:
        raise fail(f"--compare: the plan is for mission {new_plan.mission_id!r}, not {old_plan.mission_id!r}")
    result = what_if(old_plan, old_index, new_plan, new_index, t0, t1, step_us)
    if fmt is Format.json:
        typer.echo(json.dumps(_whatif_json(result, old_plan, new_plan, start, end, step), indent=2))
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


def _whatif_json(result: WhatIf, old: LoadedPlan, new: LoadedPlan, start: str, end: str, step: str) -> dict[str, Any]:
    def head(p: LoadedPlan) -> dict[str, Any]:
        return {"plan": p.id, "version": p.model.version, "sha256": p.sha256}

    return {"old": head(old), "new": head(new), "mission": old.mission_id, "from": start, "to": end, "step": step,
            "gates": [g.to_json() for g in result.gates.values()]}


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
