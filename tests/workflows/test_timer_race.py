"""A timer that fires while a workflow task is in progress (patch `timer-keep-near`).

The time-skipping test server refuses a task's completion that cancels a timer which fired
during the task ("invalid history builder state for action", sdk-java issue 2606), and the
workflow never makes progress again: the sample rehearsal wedged that way when an evidence
signal's evaluation (a local activity, run inside the task) was still running as a reminder
came due. The phase therefore leaves a timer that may fire before its task ends to fire. Here
a reminder comes due while a slow store holds the signal's evaluation, so the task is still in
progress when the timer fires."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType

from schemas.messages import EvidenceChanged

from .helpers import (
    Rig,
    approve,
    awaiting,
    gate,
    gate_of,
    phase,
    plan_doc,
    save_history,
    skip_time,
    wait_phase,
)

SLOW_S = 3.0  # the evaluation's read, well past the reminder's due time
EARLY_S = 1.0  # how long before the reminder the signal arrives


async def test_a_reminder_due_during_a_signals_evaluation_fires_and_the_phase_goes_on(rig: Rig) -> None:
    plan = rig.load(plan_doc([phase("p1", [gate("g1", timers={"remind_after": "P7D"})])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    h = await rig.start_phase(plan, "p1")
    g = await awaiting(h, "g1")
    assert g.awaiting_since_us is not None
    due = g.awaiting_since_us + 7 * 86_400_000_000
    now = int((await rig.env.get_current_time()).timestamp() * 1_000_000)
    await skip_time(rig.env, timedelta(microseconds=due - now - int(EARLY_S * 1_000_000)))

    read = rig.backend.evidence_index

    def slow_read(*args: Any, **kwargs: Any) -> Any:
        time.sleep(SLOW_S)  # a store under load (evaluate_gate reads in a thread)
        return read(*args, **kwargs)

    rig.backend.evidence_index = slow_read  # type: ignore[method-assign]
    try:
        await h.signal("evidence_changed", EvidenceChanged(indicators=["ind.a"]))
        st = await wait_phase(h, lambda s: gate_of(s, "g1").reminders_sent == 1 and s.evaluations_total == 2,
                              "the reminder and the signal's evaluation", timeout_s=SLOW_S + 15)
    finally:
        rig.backend.evidence_index = read  # type: ignore[method-assign]
    assert gate_of(st, "g1").state == "awaiting_approval"
    events = (await h.fetch_history()).events
    fired = [e.timer_fired_event_attributes.timer_id for e in events
             if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED]
    canceled = [e.timer_canceled_event_attributes.timer_id for e in events
                if e.event_type == EventType.EVENT_TYPE_TIMER_CANCELED]
    assert not set(fired) & set(canceled), (fired, canceled)
    for _ in range(400):  # the query shows the reminder counted before its notify activity ran
        if rig.backend.notifications:
            break
        await asyncio.sleep(0.025)
    assert [n["kind"] for n in rig.backend.notifications] == ["reminder"]
    await approve(h, "g1", "ana", "head", gate_of(st, "g1").digest)
    await h.result()
    await save_history(h, "timer_keep_near")
