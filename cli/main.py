"""The `exitgate` command. Each area registers its commands from its own module."""

from __future__ import annotations

import typer

from . import (
    api_cmds,
    control_cmds,
    demo_cmds,
    notify_cmds,
    plan_cmds,
    stack_cmds,
    store_cmds,
    timeline_cmds,
    worker_cmds,
)

app = typer.Typer(
    name="exitgate",
    help="Exit-readiness governance: evaluate benchmark evidence against an exit plan's gates.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """A callback keeps Typer from swallowing the command name when there is one command."""


# One line per area; each module defines `register(app)`.
for _module in (plan_cmds, demo_cmds, timeline_cmds, api_cmds, store_cmds, control_cmds, notify_cmds, worker_cmds,
                stack_cmds):
    _module.register(app)


def main() -> None:
    app()
