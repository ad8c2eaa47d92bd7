"""`exitgate worker`: run a Temporal worker for the mission and phase workflows."""

from __future__ import annotations

import runpy
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("worker")
    def worker() -> None:
        """Run a worker (settings: EXITGATE_TEMPORAL_ADDRESS, _NAMESPACE, EXITGATE_TASK_QUEUE,
        TLS or API key, EXITGATE_DATABASE_URL for the store, EXITGATE_NOTIFY_WEBHOOK_URL for
        notifications). Run as many as you need."""
        # worker.py sits beside the cli package both in a checkout and in an installed wheel;
        # running that file (not `import worker`) avoids a stale copy an editable install leaves.
        runpy.run_path(str(Path(__file__).resolve().parent.parent / "worker.py"), run_name="__main__")
