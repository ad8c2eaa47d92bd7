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
    plantest_cmds,
    rehearse_cmds,
    role_cmds,
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


# Each area's commands are module-level Typer apps: a named group, or unnamed ones whose
# commands join the root. Registered in this order, which is the order `--help` lists them.
app.add_typer(plan_cmds.plan_app, name="plan")
app.add_typer(plan_cmds.commands)
demo_cmds.register(app)
app.add_typer(timeline_cmds.commands)
api_cmds.register(app)
app.add_typer(store_cmds.evidence_app, name="evidence")
app.add_typer(store_cmds.audit_app, name="audit")
app.add_typer(control_cmds.mission_app, name="mission")
app.add_typer(control_cmds.phase_app, name="phase")
app.add_typer(control_cmds.commands)
app.add_typer(role_cmds.roles_app, name="roles")
app.add_typer(role_cmds.commands)
app.add_typer(role_cmds.delegation_app, name="delegation")
app.add_typer(notify_cmds.notify_app, name="notifications")
worker_cmds.register(app)
stack_cmds.register(app)
plantest_cmds.register(app)  # plan test, plan diff
app.add_typer(rehearse_cmds.commands)


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
