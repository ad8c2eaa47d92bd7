"""Temporal settings (EXITGATE_* environment variables), the client, and search attributes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

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
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from schemas.messages import SA_GATE_STATES, SA_MISSION, SA_PHASE

from .tracing import temporal_interceptors

__all__ = ["SEARCH_ATTRIBUTES", "SEARCH_ATTRIBUTES_CLI", "TemporalSettings", "connect", "connect_patiently",
           "register_search_attributes",
           "workflow_runner"]


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
    # How long a worker or the API, starting, waits for Temporal to answer (a server that is
    # restarting, or started after them) before it gives up and exits.
    connect_patience_s: float = 60.0


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
                                api_key=api_key, data_converter=pydantic_data_converter,
                                interceptors=temporal_interceptors())


log = logging.getLogger("exitgate.temporal")

# Unreachable for now (connection refused, reset, a server starting or stopping): worth waiting
# for. Anything else (a bad API key, a missing namespace) is answered at once.
_TRANSIENT = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.UNKNOWN, RPCStatusCode.DEADLINE_EXCEEDED,
              RPCStatusCode.CANCELLED}


async def connect_patiently(settings: TemporalSettings | None = None, *, register: bool = False) -> Client:
    """`connect` (then register the search attributes if asked) for a long-running process,
    retrying while Temporal is unreachable, with backoff, for up to connect_patience_s: a
    worker or API started while its server restarts waits for it instead of exiting."""
    s = settings or TemporalSettings()
    deadline = time.monotonic() + s.connect_patience_s
    delay = 0.5
    while True:
        try:
            client = await connect(s)
            if register:
                await register_search_attributes(client, s.temporal_namespace)
            return client
        except (RuntimeError, RPCError) as exc:
            if isinstance(exc, RPCError) and exc.status not in _TRANSIENT:
                raise
            if time.monotonic() + delay > deadline:
                raise
            log.warning("Temporal at %s does not answer yet (%s); trying again in %.1f s",
                        s.temporal_address, str(exc).splitlines()[0][:200], delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


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

# The same, as the dev server's --search-attribute flag spells the types.
SEARCH_ATTRIBUTES_CLI = {SA_MISSION: "Keyword", SA_PHASE: "Keyword", SA_GATE_STATES: "KeywordList"}


# The sandbox re-executes a workflow's modules for every new run. These helpers hold no state
# and only call Temporal's deterministic APIs, so they are imported once (about a fifth more
# gate workflows per second on 2 cores); the workflow classes themselves stay sandboxed.
PASSTHROUGH = ("workflows.common", "lifecycle")


def _precompile_workflows() -> None:
    """Write the workflow modules' bytecode once. The sandbox imports a workflow's module for
    every run; with PYTHONDONTWRITEBYTECODE set (as on some CI machines and containers) no .pyc
    exists and each import compiled phase.py from source: about a tenth of the worker's time in
    workflow_bench. py_compile writes whatever that setting says; a read-only install is fine
    (the import then compiles as before)."""
    import compileall
    import importlib.util

    # Found, not imported: runtime stands below the workflows (the service imports runtime).
    spec = importlib.util.find_spec("workflows")
    if spec is None or spec.origin is None:
        return
    with contextlib.suppress(OSError):
        compileall.compile_dir(str(Path(spec.origin).parent), quiet=2, force=False)


def workflow_runner() -> SandboxedWorkflowRunner:
    """The runner every exitgate worker uses (worker.py, the demo, the benchmark)."""
    _precompile_workflows()
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH))
