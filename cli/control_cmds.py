"""Coordinator and approver commands: plan load, mission start, phase reopen, status, explain,
approve, reject, waive, revoke-waiver, evidence submit.

They run against Temporal and the store directly (cli/deployment.py, over the service), so they
are for operators who hold those credentials; `--as` names the person, and what they may do is
checked against the mission's role register like any act (`exitgate roles ...`, cli/role_cmds.py).
Loading a plan is an operator's act (store access). People without that access use the HTTP
API, where their API key proves who they are.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .deployment import run
from .plan_cmds import plan_app
from .render import out, print_gate, print_status
from .sources import fail
from .store_cmds import evidence_app

if TYPE_CHECKING:
    from service import Caller, Service

As = Annotated[str, typer.Option("--as", help="The person acting (checked against the role register by the "
                                            "workflows, written to the audit log).")]
Role = Annotated[str, typer.Option("--role", help="The role the person acts under.")]
Mission = Annotated[str, typer.Argument(help="Mission id.")]
Gate = Annotated[str, typer.Argument(help="Gate id.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
For = Annotated[str | None, typer.Option("--on-behalf-of", help="The principal you act for, as their delegate "
                                                                "(default: your own role, else your first delegation).")]


def _caller(person: str, operator: bool = False) -> Caller:
    """The person `--as` names (the service is imported only when a command runs)."""
    from service import Caller

    return Caller(person, operator=operator)


def _print_json(model: Any) -> None:
    sys.stdout.write(model.model_dump_json(indent=2) + "\n")


mission_app = typer.Typer(help="A mission's exit: start it, migrate it to another plan.", no_args_is_help=True)
phase_app = typer.Typer(help="Phases: reopen a complete one.", no_args_is_help=True)
# Commands that join the root: status, explain, approve, reject, withdraw, waive, revoke-waiver.
commands = typer.Typer()

@plan_app.command("load")
def load(path: Annotated[Path, typer.Argument(help="Exit plan, JSON or YAML.")], person: As = "cli") -> None:
    """Store a plan; it becomes its mission's plan unless the exit already runs on another."""
    from rules.plan import PlanError, load_plan_file

    try:
        plan = load_plan_file(path)
    except PlanError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None

    async def act(svc: Service) -> None:
        res = await svc.load_plan(plan, _caller(person, operator=True))
        if res.registered:
            out.print(f"loaded {res.plan} sha256={res.sha256}: mission {res.mission} runs on it")
        else:
            out.print(f"stored {res.plan} sha256={res.sha256}; mission {res.mission} runs on "
                      f"{res.running_plan_sha256}: a coordinator migrates it")
    run(act)

@mission_app.command("start")
def start(mission: Mission, person: As, role: Role) -> None:
    """Start the exit on the mission's loaded plan (the starter may not decide its gates)."""

    async def act(svc: Service) -> None:
        status = await svc.start_mission(mission, _caller(person), role)
        print_status(status)
    run(act)

@mission_app.command("migrate")
def migrate(mission: Mission, person: As, role: Role,
            plan_sha256: Annotated[str, typer.Option("--plan-sha256", help="A plan loaded with `plan load`.")]) -> None:
    """Move the running exit to another loaded plan: gates re-evaluate, pending approvals are void."""

    async def act(svc: Service) -> None:
        print_status(await svc.migrate(mission, _caller(person), role, plan_sha256))
    run(act)

@phase_app.command("reopen")
def reopen(mission: Mission, phase: Annotated[str, typer.Argument(help="Phase id.")], person: As, role: Role,
           reason: Annotated[str, typer.Option("--reason", help="Why (written to the audit log).")]) -> None:
    """Reopen a complete phase: its gates collect again; dependants pause until it completes."""

    async def act(svc: Service) -> None:
        print_status(await svc.reopen(mission, phase, _caller(person), role, reason))
    run(act)

@commands.command("status")
def status(mission: Mission, as_json: Json = False) -> None:
    """Every phase and gate of a mission, with traffic lights."""
    async def act(svc: Service) -> None:
        st = await svc.status(mission)
        _print_json(st) if as_json else print_status(st)
    run(act)

@commands.command("explain")
def explain(mission: Mission, gate: Gate, as_json: Json = False) -> None:
    """A gate's current evaluation: the explanation tree, its digest, approvals and waivers."""
    async def act(svc: Service) -> None:
        view = await svc.gate(mission, gate)
        _print_json(view) if as_json else print_gate(view)
    run(act)

@commands.command("approve")
def approve(mission: Mission, gate: Gate, person: As, role: Role,
            digest: Annotated[str, typer.Option("--digest", help="The evaluation digest you reviewed (see `explain`).")],
            comment: Annotated[str | None, typer.Option("--comment")] = None, on_behalf_of: For = None) -> None:
    """Approve the evaluation with this digest."""

    async def act(svc: Service) -> None:
        print_gate(await svc.approve(mission, gate, _caller(person), role, digest, comment, on_behalf_of))
    run(act)

@commands.command("reject")
def reject(mission: Mission, gate: Gate, person: As, role: Role,
           digest: Annotated[str, typer.Option("--digest", help="The evaluation digest you reviewed.")],
           reason: Annotated[str, typer.Option("--reason", help="Why (required).")], on_behalf_of: For = None) -> None:
    """Reject the evaluation with this digest: the gate collects until the evaluation changes."""

    async def act(svc: Service) -> None:
        print_gate(await svc.reject(mission, gate, _caller(person), role, digest, reason, on_behalf_of))
    run(act)

@commands.command("withdraw")
def withdraw(mission: Mission, gate: Gate, person: As,
             reason: Annotated[str, typer.Option("--reason", help="Why (required).")], on_behalf_of: For = None) -> None:
    """Take back your counted approval or rejection while the gate awaits approval."""
    async def act(svc: Service) -> None:
        print_gate(await svc.withdraw(mission, gate, _caller(person), reason, on_behalf_of))
    run(act)

@commands.command("waive")
def waive(mission: Mission, gate: Gate, benchmark: Annotated[str, typer.Argument(help="Benchmark id.")],
          person: As, role: Role,
          justification: Annotated[str, typer.Option("--justification", help="Why (required).")],
          until: Annotated[str | None, typer.Option("--until", help="RFC 3339 instant the waiver ends.")] = None,
          on_behalf_of: For = None) -> None:
    """Waive one benchmark of a gate (a waiver role), until a time or until revoked."""
    from schemas.timefmt import parse_timestamp

    if until is not None:
        try:
            parse_timestamp(until)
        except ValueError as exc:
            raise fail(f"--until: {exc}") from None
    async def act(svc: Service) -> None:
        print_gate(await svc.waive(mission, gate, _caller(person), role, benchmark, justification, until,
                                   on_behalf_of))
    run(act)

@commands.command("revoke-waiver")
def revoke(mission: Mission, gate: Gate, benchmark: Annotated[str, typer.Argument(help="Benchmark id.")],
           person: As, role: Role, reason: Annotated[str | None, typer.Option("--reason")] = None,
           on_behalf_of: For = None) -> None:
    """End a waiver now; the gate is re-evaluated at once."""

    async def act(svc: Service) -> None:
        print_gate(await svc.revoke_waiver(mission, gate, _caller(person), role, benchmark, reason, on_behalf_of))
    run(act)



@evidence_app.command("submit")
def submit(mission: Mission,
           file: Annotated[str, typer.Argument(help="A JSON record, a JSON array, or JSON Lines; - for stdin.")],
           actor: Annotated[str, typer.Option("--actor", help="The sending system, for the audit log.")] = "cli") -> None:
    """Submit evidence live (knowledge time = now) and tell the running phases at once."""
    from schemas.jsonfmt import JsonFormatError, loads_strict

    text = sys.stdin.read() if file == "-" else _read(Path(file))
    try:
        parsed = loads_strict(text)
        raws = parsed if isinstance(parsed, list) else [parsed]
    except JsonFormatError:
        raws = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    raws.append(loads_strict(line))
                except JsonFormatError as exc:
                    raise fail(f"{file}: line {n}: {exc}") from None

    async def act(svc: Service) -> None:
        outcomes = await svc.ingest(mission, raws, actor=f"system:{actor}")
        counts = {s: sum(1 for o in outcomes if o.status == s) for s in ("stored", "duplicate", "rejected")}
        for o in outcomes:
            if o.status == "rejected":
                typer.echo(f"rejected {o.message}", err=True)
        out.print(json.dumps(counts))
        if counts["rejected"]:
            raise typer.Exit(1)
    run(act)



def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {str(path)!r}: {exc}") from None
