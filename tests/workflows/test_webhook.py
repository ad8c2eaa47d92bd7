"""Reminders and escalations reach the webhook, signed and keyed, and a webhook that is down
holds up nothing: the gate still escalates and every notification is kept with its error."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from activities import MemoryBackend
from activities.webhook import Webhook
from runtime.lifetime import running
from tests.webhook_receiver import Receiver, webhook_receiver
from worker import build_worker

from .helpers import (
    Rig,
    approve,
    awaiting,
    gate,
    gate_of,
    phase,
    plan_doc,
    skip_time,
    wait_phase,
)

TIMERS = {"remind_after": "P7D", "escalate_after": "P3W"}


@pytest_asyncio.fixture(loop_scope="session")
async def hooked(env: WorkflowEnvironment) -> AsyncIterator[tuple[Rig, Receiver]]:
    backend, queue = MemoryBackend(), f"exitgate-test-{uuid.uuid4()}"
    rig = Rig(env, env.client, backend, queue)
    with webhook_receiver() as rec:
        hook = Webhook(rec.url, secret="s3cret", attempts=2, backoff_s=0.01, timeout_s=2)
        async with running(build_worker(env.client, backend, queue, hook)):
            try:
                yield rig, rec
            finally:
                await rig.terminate_leftovers()


async def test_reminders_and_escalation_reach_the_webhook(hooked: tuple[Rig, Receiver]) -> None:
    rig, rec = hooked
    plan = rig.load(plan_doc([phase("p1", [gate("g1", timers=TIMERS)])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    h = await rig.start_phase(plan, "p1")
    g = await awaiting(h, "g1")
    await skip_time(rig.env, timedelta(days=22))
    await wait_phase(h, lambda s: gate_of(s, "g1").escalated, "escalation")
    await wait_phase(h, lambda s: len(rec.received) == 4, "four deliveries")
    assert [b["kind"] for b in rec.bodies()] == ["reminder", "reminder", "reminder", "escalation"]
    stored = rig.backend.notifications
    assert [(h["idempotency-key"], b["mission"], b["gate"]) for h, b, _ in rec.received] == [
        (n["key"], "m1", "g1") for n in stored]
    assert len({n["key"] for n in stored}) == 4 and all(n["delivered"] for n in stored)
    for headers, _, raw in rec.received:
        assert headers["x-exitgate-signature"] == "sha256=" + hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
    await approve(h, "g1", "ana", "head", g.digest)
    await h.result()


async def test_a_webhook_that_is_down_holds_up_nothing(hooked: tuple[Rig, Receiver]) -> None:
    rig, rec = hooked
    rec.status = 503
    plan = rig.load(plan_doc([phase("p1", [gate("g1", timers=TIMERS)])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    h = await rig.start_phase(plan, "p1")
    g = await awaiting(h, "g1")
    await skip_time(rig.env, timedelta(days=22))
    st = await wait_phase(h, lambda s: gate_of(s, "g1").escalated, "escalation despite the webhook")
    assert gate_of(st, "g1").reminders_sent == 3
    await wait_phase(h, lambda s: all(n["delivery_error"] for n in rig.backend.notifications)
                     and len(rig.backend.notifications) == 4, "every outcome recorded")
    assert rec.received == [] and rec.refused == 8  # two attempts each
    assert all("HTTP 503" in n["delivery_error"] and not n["delivered"] for n in rig.backend.notifications)
    await approve(h, "g1", "ana", "head", g.digest)  # the gate still decides
    await h.result()
