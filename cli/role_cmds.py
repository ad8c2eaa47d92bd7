"""The role register (CONTRACT section 5): `roles grant|end|list|import`, `delegate`,
`delegation end`.

Like the other control commands these run against the store and Temporal directly. A change is
made by `--as` under `--by-role`, checked against the register like any act; or, with
`--operator`, by someone with access to the store acting without a role (that is how the first
coordinator is named), recorded as an operator in the audit log.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .deployment import run
from .render import out
from .sources import fail

if TYPE_CHECKING:
    from schemas.register import Register
    from service import Caller, Service

Mission = Annotated[str, typer.Argument(help="Mission id.")]
Person = Annotated[str, typer.Argument(help="The person the role is granted to (or ended for).")]
RoleArg = Annotated[str, typer.Argument(help="The role.")]
As = Annotated[str, typer.Option("--as", help="Who makes the change (written to the audit log).")]
ByRole = Annotated[str | None, typer.Option("--by-role", help="The coordinator role they make it under.")]
Operator = Annotated[bool, typer.Option("--operator", help="Make it as an operator with store access, under no "
                                                          "role (recorded as such).")]
Reason = Annotated[str, typer.Option("--reason", help="Why (written to the audit log).")]
From = Annotated[str | None, typer.Option("--from", help="RFC 3339 instant it starts (default now; never earlier).")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

roles_app = typer.Typer(help="The role register: who holds which role of a mission, over time.",
                        no_args_is_help=True)
delegation_app = typer.Typer(help="Delegations: end one early.", no_args_is_help=True)
# `delegate` joins the root.
commands = typer.Typer()


def _by(person: str, by_role: str | None, operator: bool) -> tuple[Caller, str | None]:
    from service import Caller

    if operator == (by_role is not None):
        raise fail("give --by-role (a coordinator role you hold) or --operator (store access, no role), not both")
    return Caller(person, operator=operator), by_role


def _instant(option: str, text: str | None) -> int | None:
    from schemas.timefmt import parse_timestamp

    if text is None:
        return None
    try:
        return parse_timestamp(text)
    except ValueError as exc:
        raise fail(f"{option}: {exc}") from None


def _print_register(reg: Register, at: int | None = None) -> None:
    from lifecycle.authority import holders
    from schemas.timefmt import format_timestamp
    from store import now_us

    t = now_us() if at is None else at
    out.print(f"mission {reg.mission}, register version {reg.version}, as of {format_timestamp(t)}")
    held = holders(reg, t)
    out.print("roles held:" if held else "roles held: none")
    for a in held:
        until = f" until {format_timestamp(a.until_us)}" if a.until_us is not None else ""
        by = f"{a.granted_by} ({a.granted_by_role})" if a.granted_by_role else f"{a.granted_by} (operator)"
        out.print(f"  {a.person} as {a.role} from {format_timestamp(a.from_us)}{until}, granted by {by}")
    live = [d for d in reg.delegations if d.active(t)]
    if live:
        out.print("delegations in force:")
    for d in live:
        scope = f" on {', '.join(d.gates)}" if d.gates is not None else ""
        out.print(f"  [{d.seq}] {d.delegate} for {d.delegator} ({d.role}){scope} until {format_timestamp(d.until_us)}")


@roles_app.command("grant")
def grant(mission: Mission, person: Person, role: RoleArg, by: As, by_role: ByRole = None, operator: Operator = False,
          since: From = None,
          until: Annotated[str | None, typer.Option("--until", help="RFC 3339 instant it ends (exclusive).")] = None,
          reason: Reason = "") -> None:
    """Grant a role of the mission to a person, from now (or a later --from) until --until or ended."""
    caller, r = _by(by, by_role, operator)

    async def act(svc: Service) -> None:
        reg = await svc.roles.grant(mission, caller, r, person, role, from_us=_instant("--from", since),
                                    until_us=_instant("--until", until), reason=reason)
        _print_register(reg)
    run(act)


@roles_app.command("end")
def end(mission: Mission, person: Person, role: RoleArg, by: As, by_role: ByRole = None, operator: Operator = False,
        reason: Reason = "") -> None:
    """End now every assignment of the role that the person holds now (later ones stay)."""
    caller, r = _by(by, by_role, operator)

    async def act(svc: Service) -> None:
        _print_register(await svc.roles.end_role(mission, caller, r, person, role, reason))
    run(act)


@roles_app.command("list")
def list_roles(mission: Mission,
               at: Annotated[str | None, typer.Option("--at", help="RFC 3339 instant: who held what then.")] = None,
               as_json: Json = False) -> None:
    """Who holds which role now, or held it at --at; with --json, the whole register."""
    t = _instant("--at", at)

    async def act(svc: Service) -> None:
        reg = await svc.roles.register(mission)
        if as_json:
            sys.stdout.write(reg.model_dump_json(indent=2) + "\n")
        else:
            _print_register(reg, t)
    run(act)


@roles_app.command("import")
def import_roles(mission: Mission, file: Annotated[Path, typer.Argument(help="YAML or JSON list of assignments "
                                                                             "{person, role, from?, until?, reason?}.")],
                 by: As, by_role: ByRole = None, operator: Operator = False) -> None:
    """Grant a list of assignments, all or nothing: any bad one refuses the file, every problem listed."""
    caller, r = _by(by, by_role, operator)
    items = _load(file)

    async def act(svc: Service) -> None:
        from service import Refused

        try:
            reg = await svc.roles.import_assignments(mission, caller, r, items)
        except Refused as exc:
            for path, why in exc.problems:
                typer.echo(f"{file}: {path}: {why}", err=True)
            if exc.problems:
                raise typer.Exit(2) from None
            raise
        _print_register(reg)
    run(act)


def _load(file: Path) -> Any:
    import yaml

    from schemas.jsonfmt import JsonFormatError, loads_strict

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {str(file)!r}: {exc}") from None
    try:
        return loads_strict(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (JsonFormatError, yaml.YAMLError) as exc:
        raise fail(f"{file}: {exc}") from None


@commands.command("delegate")
def delegate(mission: Mission, by: As, role: Annotated[str, typer.Option("--role", help="A role you hold directly.")],
             to: Annotated[str, typer.Option("--to", help="The delegate.")],
             until: Annotated[str, typer.Option("--until", help="RFC 3339 instant it ends (required, exclusive).")],
             since: From = None,
             gates: Annotated[list[str] | None, typer.Option("--gate", help="Only these gates (repeat); default the "
                                                                           "whole mission.")] = None,
             reason: Reason = "") -> None:
    """Let another person act for you under a role you hold, until an instant."""
    from service import Caller

    async def act(svc: Service) -> None:
        reg = await svc.roles.delegate(mission, Caller(by), role, to, until_us=_instant("--until", until),
                                       from_us=_instant("--from", since), gates=gates or None, reason=reason)
        d = reg.delegations[-1]
        out.print(json.dumps({"delegation": d.seq, "delegator": d.delegator, "delegate": d.delegate,
                              "role": d.role, "gates": d.gates}))
    run(act)


@delegation_app.command("end")
def end_delegation(mission: Mission, seq: Annotated[int, typer.Argument(help="The delegation's number (roles list).")],
                   by: As, by_role: ByRole = None, operator: Operator = False, reason: Reason = "") -> None:
    """End a delegation now: by its delegator, a coordinator (--by-role) or an operator."""
    from service import Caller

    caller, r = (Caller(by), None) if by_role is None and not operator else _by(by, by_role, operator)

    async def act(svc: Service) -> None:
        _print_register(await svc.roles.end_delegation(mission, caller, r, seq, reason))
    run(act)
