"""Run one command against the deployment that settings name (Temporal + store).

The coordinator and approver commands act through the same service as the HTTP API, so a
refusal reads the same and lands in the audit log the same way (the service audits it).
Settings: EXITGATE_TEMPORAL_ADDRESS, _NAMESPACE, EXITGATE_TASK_QUEUE, TLS or API key, and
EXITGATE_DATABASE_URL; the defaults reach the embedded stack that `exitgate dev` runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer

from .sources import fail

if TYPE_CHECKING:
    from service import Service

T = TypeVar("T")


def run(action: Callable[[Service], Awaitable[T]]) -> T:
    """Connect, run `action`, close. A refused act exits 3 with its type and reason; unknown
    missions, gates or plans and invalid input exit 2."""

    async def main() -> T:
        from service import Refused, Service

        try:
            svc = await asyncio.wait_for(Service.connect(), timeout=15)
        except (OSError, RuntimeError, TimeoutError) as exc:
            raise fail(f"cannot reach Temporal ({exc}); is `exitgate dev` (or a cluster named by "
                       "EXITGATE_TEMPORAL_ADDRESS) running?") from None
        try:
            return await action(svc)
        except Refused as exc:
            if exc.category in ("not_found", "invalid"):
                raise fail(exc.message) from None
            typer.echo(f"refused ({exc.type}): {exc.message}", err=True)
            raise typer.Exit(3) from None
        finally:
            await svc.aclose()

    return asyncio.run(main())
