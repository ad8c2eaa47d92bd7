"""The `exitgate` command. Each area registers its commands from its own module."""

from __future__ import annotations

import logging
import os
import sys

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
    try:
        app()
        code: int | str | None = 0
    except SystemExit as exc:
        code = exc.code
    if "temporalio.bridge.temporal_sdk_bridge" not in sys.modules:
        raise SystemExit(code)
    # A command that used a Temporal client: the SDK's Rust threads may still call into Python
    # while the interpreter finalizes, which aborts the process ("Fatal Python error:
    # PyGILState_Release", temporalio/sdk-python#300; seen here after `evidence import`, exit
    # code lost). The command is done: flush what it wrote and leave without the teardown.
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code or 0)
