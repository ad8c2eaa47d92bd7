"""The exitgate Temporal worker: the mission and phase workflows plus their activities.

The same process runs against the embedded dev server or a production cluster; only settings
change (EXITGATE_TEMPORAL_ADDRESS, _NAMESPACE, EXITGATE_TASK_QUEUE, TLS files or an API key).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode, TLSConfig
from temporalio.worker import Worker

from activities import Backend, ExitgateActivities
from schemas.messages import SA_GATE_STATES, SA_MISSION, SA_PHASE
from workflows import WORKFLOWS


class TemporalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EXITGATE_", env_file=".env", extra="ignore")

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "exitgate"
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_ca: Path | None = None
    temporal_api_key: SecretStr | None = None
    register_search_attributes: bool = True


async def connect(settings: TemporalSettings | None = None) -> Client:
    """A client with the pydantic data converter: every caller (worker, API, CLI, tests) uses it."""
    s = settings or TemporalSettings()
    tls: bool | TLSConfig = False
    if s.temporal_tls_cert or s.temporal_tls_ca:
        tls = TLSConfig(
            client_cert=s.temporal_tls_cert.read_bytes() if s.temporal_tls_cert else None,
            client_private_key=s.temporal_tls_key.read_bytes() if s.temporal_tls_key else None,
            server_root_ca_cert=s.temporal_tls_ca.read_bytes() if s.temporal_tls_ca else None)
    api_key = s.temporal_api_key.get_secret_value() if s.temporal_api_key else None
    if api_key and tls is False:
        tls = True  # API keys are only ever sent over TLS
    return await Client.connect(s.temporal_address, namespace=s.temporal_namespace, tls=tls,
                                api_key=api_key, data_converter=pydantic_data_converter)


SEARCH_ATTRIBUTES = {
    SA_MISSION: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    SA_PHASE: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    SA_GATE_STATES: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}


async def register_search_attributes(client: Client, namespace: str = "default") -> None:
    """Register the search attributes the workflows upsert (idempotent). On Temporal Cloud
    they are created through the cloud's own tools instead."""
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace))
        missing = {k: v for k, v in SEARCH_ATTRIBUTES.items() if k not in listed.custom_attributes}
    except RPCError as exc:
        if exc.status != RPCStatusCode.UNIMPLEMENTED:  # the time-skipping test server can't list
            raise
        missing = dict(SEARCH_ATTRIBUTES)
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing))


def build_worker(client: Client, backend: Backend, task_queue: str, **kw: Any) -> Worker:
    acts = ExitgateActivities(backend)
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=acts.all(), **kw)


def default_backend() -> Backend:
    """The store from EXITGATE_DATABASE_URL (a SQLite file under the data folder by default)."""
    from store import Store

    return Store.from_url(None)


async def main() -> None:
    settings = TemporalSettings()
    client = await connect(settings)
    if settings.register_search_attributes:
        await register_search_attributes(client, settings.temporal_namespace)
    worker = build_worker(client, default_backend(), settings.task_queue)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
