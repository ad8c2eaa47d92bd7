"""Run one command against the deployment that settings name (Temporal + store).

The coordinator and approver commands act through the same ports as the HTTP API, so a refusal
reads the same and lands in the audit log the same way. Settings: EXITGATE_TEMPORAL_ADDRESS,
_NAMESPACE, EXITGATE_TASK_QUEUE, TLS or API key, and EXITGATE_DATABASE_URL; the defaults reach
the embedded stack that `exitgate dev` runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from .sources import fail

if TYPE_CHECKING:
    from api.production import Deployment

T = TypeVar("T")


def run(action: Callable[[Deployment], Awaitable[T]], *, refusal_audit: tuple[str, dict[str, Any], str] | None = None) -> T:
    """Connect, run `action`, close. A refused action exits 3 with the reason (and is audited
    when `refusal_audit` = (kind, details, actor) is given); unknown missions/gates exit 2."""

    async def main() -> T:
        from api.ports import NotFoundError, RefusedError
        from api.production import Deployment

        try:
            dep = await asyncio.wait_for(Deployment.connect(), timeout=15)
        except (OSError, RuntimeError, TimeoutError) as exc:
            raise fail(f"cannot reach Temporal ({exc}); is `exitgate dev` (or a cluster named by "
                       "EXITGATE_TEMPORAL_ADDRESS) running?") from None
        try:
            return await action(dep)
        except NotFoundError as exc:
            raise fail(exc.reason) from None
        except RefusedError as exc:
            if refusal_audit is not None:
                kind, details, actor = refusal_audit
                await dep.audit.append(f"{kind}.refused", {**details, "reason": exc.reason}, actor)
            typer.echo(f"refused: {exc.reason}", err=True)
            raise typer.Exit(3) from None
        finally:
            await dep.aclose()

    return asyncio.run(main())
