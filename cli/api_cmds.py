"""`exitgate api-key create|list|revoke`: the API's key registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from service.keys import Keys


KeysFile = Annotated[Path | None, typer.Option("--keys-file", help="A JSON key registry file (default: "
                                                                    "EXITGATE_API_KEYS_FILE, else the store).")]


def _split(text: str | None) -> list[str]:
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def _registry(path: Path | None) -> Keys:
    """--keys-file, else EXITGATE_API_KEYS_FILE, else the store (what `exitgate api` checks)."""
    from service.keys import KeyRegistry
    from service.settings import ServiceSettings
    from store import Store

    if path is not None:
        return KeyRegistry(path)
    return ServiceSettings().key_registry(Store.from_url())


def register(app: typer.Typer) -> None:
    keys_app = typer.Typer(help="API keys: one per person (who they are; roles come from the register) or per system (with missions and sources).",
                           no_args_is_help=True)
    app.add_typer(keys_app, name="api-key")

    @keys_app.command("create")
    def create(
        person: Annotated[str | None, typer.Option("--person", help="A person's id (approver, coordinator).")] = None,
        roles: Annotated[str | None, typer.Option("--roles", hidden=True,
                                                  help="Refused: keys carry no roles (exitgate roles grant).")] = None,
        system: Annotated[str | None, typer.Option("--system", help="A system's id (evidence sender).")] = None,
        mission: Annotated[list[str] | None, typer.Option("--mission", help="Mission the system may report for (repeat or comma-separate).")] = None,
        sources: Annotated[str | None, typer.Option("--sources", help="Comma-separated sources the system may report.")] = None,
        keys_file: KeysFile = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the key and identity as JSON.")] = False,
    ) -> None:
        """Create a key and print it once: only its sha256 is kept."""
        from service.keys import KeyCreationError

        if (person is None) == (system is None):
            typer.echo("error: give exactly one of --person or --system", err=True)
            raise typer.Exit(2)
        if roles is not None:
            typer.echo("error: --roles: keys carry no roles: a key says who a person is; what they may do "
                       "comes from each mission's role register: `exitgate roles grant MISSION PERSON ROLE "
                       "--as YOU --by-role coordinator` (docs/authority.md)", err=True)
            raise typer.Exit(2)
        reg = _registry(keys_file)
        try:
            if person is not None:
                if mission or sources:
                    raise KeyCreationError("--mission/--sources", "only for --system keys")
                key, ident = reg.create_person(person)
            else:
                missions = [m for x in (mission or []) for m in _split(x)]
                key, ident = reg.create_system(system or "", missions, _split(sources))
        except KeyCreationError as exc:
            typer.echo(f"error: {exc.field}: {exc.reason}", err=True)
            raise typer.Exit(2) from None
        if as_json:
            typer.echo(json.dumps({"key": key, **ident.to_json()}))
        else:
            typer.echo(key)
            typer.echo(f"created key {ident.key_id} for {ident.actor}; store it now, it is not shown again",
                       err=True)

    @keys_app.command("list")
    def list_keys(keys_file: KeysFile = None) -> None:
        """List key ids and identities (never the keys)."""
        for ident in _registry(keys_file).identities():
            typer.echo(json.dumps(ident.to_json()))

    @keys_app.command("revoke")
    def revoke(key_id: Annotated[str, typer.Argument(help="The key id (the part after eg_).")],
               keys_file: KeysFile = None) -> None:
        """Revoke a key: it stops working at once, including approver page sessions."""
        if not _registry(keys_file).revoke(key_id):
            typer.echo(f"error: no key {key_id!r}", err=True)
            raise typer.Exit(1)
        typer.echo(f"revoked {key_id}")
