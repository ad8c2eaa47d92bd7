"""OpenTelemetry tracing: off unless configured; then spans from the API request through the
Temporal signal, the workflow and its activities (temporalio's TracingInterceptor) to the
audit write, exported over OTLP/HTTP.

On when `EXITGATE_OTLP_ENDPOINT` (the collector's traces URL, for example
http://127.0.0.1:4318/v1/traces) or the standard `OTEL_EXPORTER_OTLP_ENDPOINT` /
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set, for the processes that call `setup_tracing`
(the worker and the API). Off, nothing is instrumented and no span is made.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from temporalio.client import Interceptor

__all__ = ["enabled", "instrument_app", "setup_tracing", "temporal_interceptors"]

_STANDARD = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_on = False


def _otlp_exporter() -> SpanExporter | None:
    endpoint = os.environ.get("EXITGATE_OTLP_ENDPOINT")
    if not endpoint and not any(os.environ.get(k) for k in _STANDARD):
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()


def setup_tracing(service_name: str, exporter: SpanExporter | None = None) -> bool:
    """Turn tracing on for this process if an OTLP endpoint is configured, or with `exporter`
    (a test's in-memory one, sent each span as it ends). False: tracing stays off."""
    global _on
    if exporter is not None:
        processor: SimpleSpanProcessor | BatchSpanProcessor = SimpleSpanProcessor(exporter)
    else:
        otlp = _otlp_exporter()
        if otlp is None:
            return _on
        processor = BatchSpanProcessor(otlp)
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        # The global provider can be set once per process; later calls add their exporter.
        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        trace.set_tracer_provider(provider)
    provider.add_span_processor(processor)
    _on = True
    return True


def enabled() -> bool:
    return _on


def temporal_interceptors() -> list[Interceptor]:
    """For Client.connect: the interceptor that carries the trace into workflows and activities
    (a worker built on the client uses it too)."""
    if not _on:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    # Workflow spans also for workflows no traced client started (the CLI, schedules): a phase
    # then still shows its signals and activities. A replay after a worker restart may start
    # such spans without their parent.
    return [TracingInterceptor(always_create_workflow_spans=True)]


def instrument_app(app: Any) -> None:
    """A span per API request, parent of what the request does (signals, starts, queries)."""
    if _on:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app)
