"""Plans as code: `exitgate plan test` and `exitgate plan diff` (the what-if of two versions is
`exitgate timeline --compare`, cli/timeline_cmds.py).

Both join the `plan` group of cli/plan_cmds.py (as `plan load` does from cli/control_cmds.py).
Each command only reads files, calls rules/ and prints.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .sources import load_plan_option

if TYPE_CHECKING:
    from rules.coverage import Coverage
    from rules.plan import LoadedPlan
    from rules.plantest import CaseResult, Suite

__all__ = ["register"]


class Format(StrEnum):
    text = "text"
    json = "json"


def register(app: typer.Typer) -> None:
    from .plan_cmds import plan_app

    plan_app.command("test")(plan_test)
    plan_app.command("diff")(plan_diff)


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


def plan_diff(
    old: Annotated[Path, typer.Argument(help="The earlier plan, JSON or YAML.")],
    new: Annotated[Path, typer.Argument(help="The later plan, JSON or YAML.")],
    fmt: Annotated[Format, typer.Option("--format", help="text or json")] = Format.text,
    exit_code: Annotated[bool, typer.Option("--exit-code", help="Exit with 1 when the plans differ in meaning.")] = False,
) -> None:
    """What changed in meaning between two plans: entities added or removed, fields changed."""
    from rules.plandiff import diff_plans

    d = diff_plans(load_plan_option(old, "OLD"), load_plan_option(new, "NEW"))
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
