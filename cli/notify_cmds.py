"""`exitgate notifications list|resend`: the reminders and escalations the workflows sent, and
sending again those the webhook did not take."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from .render import err, out
from .sources import fail

if TYPE_CHECKING:
    from store.models import StoredNotification


def _doc(r: StoredNotification) -> dict[str, Any]:
    """A stored notification as the webhook receives it (what `list --json` shows, too)."""
    from activities.webhook import notification_doc
    from schemas.timefmt import format_timestamp

    return notification_doc(r.key, r.kind, r.mission, r.phase, r.gate, r.message, r.payload,
                            format_timestamp(r.at))


notify_app = typer.Typer(help="Reminders and escalations: list, resend to the webhook.", no_args_is_help=True)


@notify_app.command("list")
def list_(
    mission: Annotated[str | None, typer.Option("--mission", help="Only this mission's.")] = None,
    undelivered: Annotated[bool, typer.Option("--undelivered", help="Only those the webhook has not taken.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines instead of a table.")] = False,
) -> None:
    """Oldest first, with the webhook's outcome (delivered, or the last error)."""
    from schemas.timefmt import format_timestamp
    from store import Store

    with Store.from_url() as store:
        rows = store.notifications(mission, undelivered=undelivered)
    if as_json:
        for r in rows:
            typer.echo(json.dumps({
                **_doc(r), "delivered_at": format_timestamp(r.delivered_at) if r.delivered_at else None,
                "delivery_error": r.delivery_error}, ensure_ascii=False))
        return
    table = Table(title=f"{len(rows)} notification(s)")
    for col in ("at", "kind", "mission / phase / gate", "message", "webhook"):
        table.add_column(col)
    for r in rows:
        hook = ("[green]delivered[/green]" if r.delivered_at else
                f"[red]{r.delivery_error}[/red]" if r.delivery_error else "[dim]-[/dim]")
        table.add_row(format_timestamp(r.at), r.kind, f"{r.mission} / {r.phase} / {r.gate}", r.message, hook)
    out.print(table)


@notify_app.command("resend")
def resend(
    mission: Annotated[str | None, typer.Option("--mission", help="Only this mission's.")] = None,
) -> None:
    """Send every undelivered notification to EXITGATE_NOTIFY_WEBHOOK_URL again, oldest first,
    with its original Idempotency-Key. Exit 1 if any is still not delivered."""
    from activities.webhook import WebhookSettings
    from store import Store

    try:
        hook = WebhookSettings().webhook()
    except ValueError as exc:
        raise fail(f"webhook settings: {exc}") from None
    if hook is None:
        raise fail("EXITGATE_NOTIFY_WEBHOOK_URL is not set: there is no webhook to send to")
    failed = 0
    with Store.from_url() as store:
        rows = store.notifications(mission, undelivered=True)
        for r in rows:
            assert r.key is not None  # undelivered=True lists keyed ones only
            error = hook.deliver(_doc(r))
            store.notification_delivered(r.key, error)
            if error is not None:
                failed += 1
                err.print(f"not delivered: {r.key}: {error}", soft_wrap=True)
    out.print(f"{len(rows) - failed} delivered, {failed} not delivered")
    if failed:
        raise typer.Exit(1)
