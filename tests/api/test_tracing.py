"""One evidence POST, traced: the request's span, the signal it sends (its child), the phase
workflow's handling of that signal (linked to it), the evaluate_gate activity the signal led
to, and the audit write, read from an in-memory exporter over the real dev server and worker.
Tracing is switched on the way a deployment does (runtime.tracing.setup_tracing, then
runtime.connect and create_app pick it up); off, nothing is instrumented."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from temporalio.testing import WorkflowEnvironment

from runtime import TemporalSettings, connect, tracing

from .conftest import record, stack


def named(spans: Sequence[ReadableSpan], prefix: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name.startswith(prefix)]


def is_descendant(span: ReadableSpan, ancestor: ReadableSpan, spans: Sequence[ReadableSpan]) -> bool:
    by_id = {s.context.span_id: s for s in spans}
    parent = span.parent
    while parent is not None:
        if parent.span_id == ancestor.context.span_id:
            return True
        up = by_id.get(parent.span_id)
        parent = up.parent if up is not None else None
    return False


async def test_spans_of_one_evidence_post(temporal: WorkflowEnvironment, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracing, "_on", False)  # whatever the process had, back after the test
    exporter = InMemorySpanExporter()
    assert tracing.temporal_interceptors() == []
    assert tracing.setup_tracing("exitgate-test", exporter)
    client = await connect(TemporalSettings(temporal_address=temporal.client.service_client.config.target_host))
    try:
        async with stack(temporal, tmp_path, client=client) as env:
            await env.evaluated("g1")
            exporter.clear()
            r = await env.submit([record("inc-1", value=3), record("cov-1", "police.coverage", 60.0)])
            assert r.status_code == 200 and r.json()["stored"] == 2, r.text
            await env.gate("g1", lambda v: v["state"] == "awaiting_approval")
            # The evaluation's audit entry is written in the workflow's next group commit.
            deadline = asyncio.get_running_loop().time() + 30
            while not any("evaluation" in ((w.attributes or {}).get("exitgate.audit.kinds") or ())
                          for w in named(exporter.get_finished_spans(), "audit.write")):
                assert asyncio.get_running_loop().time() < deadline, "no audit write traced"
                await asyncio.sleep(0.05)
            spans = exporter.get_finished_spans()
    finally:
        exporter.shutdown()

    [post] = [s for s in spans if s.kind == SpanKind.SERVER and s.name.startswith("POST ")
              and "/evidence" in s.name]
    # A signal per phase whose gates use the indicators (p2 has not started: none handles it).
    signals = [s for s in named(spans, "SignalWorkflow:evidence_changed") if is_descendant(s, post, spans)]
    assert signals and all(s.context.trace_id == post.context.trace_id for s in signals)
    sent = {s.context.span_id for s in signals}
    # Each workflow handles the signal in its own trace, linked to the signal that was sent.
    handled = [s for s in named(spans, "HandleSignal:evidence_changed") if any(ln.context.span_id in sent for ln in s.links)]
    assert handled, sorted({s.name for s in spans})
    assert post.start_time is not None and all((h.start_time or 0) >= post.start_time for h in handled)
    traces = {h.context.trace_id: h.start_time or 0 for h in handled}
    evaluations = [s for s in named(spans, "RunActivity:evaluate_gate")
                   if s.context.trace_id in traces and (s.start_time or 0) >= traces[s.context.trace_id]]
    assert evaluations, sorted({s.name for s in spans})
    assert {(s.attributes or {}).get("exitgate.gate") for s in evaluations} >= {"g1"}
    assert {(s.attributes or {}).get("exitgate.status") for s in evaluations} >= {"pass"}
    first_eval = min(s.start_time or 0 for s in evaluations)
    writes = [w for w in named(spans, "audit.write") if (w.start_time or 0) >= first_eval
              and any(is_descendant(w, a, spans) for a in named(spans, "RunActivity:audit_append"))]
    assert writes and all(w.context.trace_id in traces for w in writes), writes
    assert any("evaluation" in ((w.attributes or {}).get("exitgate.audit.kinds") or ()) for w in writes)


def test_off_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EXITGATE_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(tracing, "_on", False)
    assert not tracing.setup_tracing("exitgate-test")
    assert tracing.temporal_interceptors() == [] and not tracing.enabled()
