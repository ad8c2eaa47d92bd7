"""The exitgate Temporal worker: the mission and phase workflows plus their activities.

The same process runs against the embedded dev server or a production cluster; only settings
change (EXITGATE_TEMPORAL_ADDRESS, _NAMESPACE, EXITGATE_TASK_QUEUE, TLS files or an API key).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from temporalio.client import Client
from temporalio.worker import Worker

from activities import Backend, ExitgateActivities

if TYPE_CHECKING:
    from store import Store
from activities.webhook import Webhook, WebhookSettings
from runtime import (
    TemporalSettings,
    connect,
    connect_patiently,
    register_search_attributes,
    relay_forever,
    workflow_runner,
)
from runtime.tracing import setup_tracing
from workflows.registry import WORKFLOWS

__all__ = ["TemporalSettings", "build_worker", "connect", "default_backend", "register_search_attributes"]


def build_worker(client: Client, backend: Backend, task_queue: str, webhook: Webhook | None = None,
                 **kw: Any) -> Worker:
    acts = ExitgateActivities(backend, webhook)
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=acts.all(),
                  workflow_runner=workflow_runner(), **kw)


def default_backend() -> Store:
    """The store from EXITGATE_DATABASE_URL (a SQLite file under the data folder by default),
    keeping warm evidence indexes (EXITGATE_EVIDENCE_CACHE_RECORDS; store/warm.py)."""
    from store import Store, StoreSettings

    store = Store.from_url(None)
    budget = StoreSettings().evidence_cache_records
    if budget > 0:
        store.keep_evidence_warm(budget)
    return store


async def main() -> None:
    try:
        # Settings first: a mistyped webhook URL stops the worker before it takes any task.
        settings, hook = TemporalSettings(), WebhookSettings().webhook()
    except ValidationError as exc:
        raise SystemExit(f"exitgate worker: bad settings: {exc}") from None
    setup_tracing("exitgate-worker")  # before connecting: the client carries the interceptor
    # A worker may start before its server answers (both started at once, or the server
    # restarting): it waits for it rather than exiting (seen in the chaos run, docs/chaos.md).
    client = await connect_patiently(settings, register=settings.register_search_attributes)
    store = default_backend()
    worker = build_worker(client, store, settings.task_queue, hook)
    # Every worker relays stored evidence to the phases (runtime/relay.py): whatever failed
    # between a commit and its signal, the phases hear of it within a second or so.
    relay = asyncio.create_task(relay_forever(store, client))
    try:
        await worker.run()
    finally:
        relay.cancel()


if __name__ == "__main__":
    asyncio.run(main())
