"""Group commit of a phase's audit log: entries are written together, at most
Limits.audit_lag_ms after they were queued, and at completion; each exactly once, in order."""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.enums.v1 import EventType

from schemas.messages import Limits

from .helpers import (
    Rig,
    approve,
    audit_in_order,
    audited,
    awaiting,
    gate,
    phase,
    plan_doc,
    save_history,
    skip_time,
    until_audited,
)


async def test_entries_wait_at_most_the_lag_and_none_is_lost(rig: Rig) -> None:
    plan = rig.load(plan_doc([phase("p1", [gate("g1", quorum=2)])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    h = await rig.start_phase(plan, "p1", limits=Limits(audit_lag_ms=5000))
    g = await awaiting(h, "g1")
    # The workflow task that made it await approval planned the flush on a timer 5 s ahead
    # (server clock) and wrote nothing: read from its history, not by waiting to see nothing.
    events = (await h.fetch_history()).events
    scheduled = [e.activity_task_scheduled_event_attributes.activity_type.name for e in events
                 if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    timers = [e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta() for e in events
              if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
    assert "audit_append" not in scheduled and timedelta(seconds=4) < max(timers) <= timedelta(seconds=5), timers
    assert rig.backend.audit == []  # phase_started, evaluation, transition: all still queued
    await audited(rig, "gate_transition")  # past the lag: written, in one batch
    assert rig.backend.audit_kinds() == ["phase_started", "evaluation", "gate_transition"]

    await approve(h, "g1", "ana", "head", g.digest)  # a person's decision: written at once
    await until_audited(rig, "approval", timeout_s=5)
    assert rig.backend.audit_kinds()[-1] == "approval"
    await approve(h, "g1", "hal", "host", g.digest)  # the last: completion flushes at once
    await h.result()
    kinds = audit_in_order(rig)
    assert kinds == ["phase_started", "evaluation", "gate_transition", "approval", "approval",
                     "gate_transition", "phase_completed"], kinds
    await save_history(h, "audit_group_commit")


async def test_zero_lag_writes_after_every_step(rig: Rig) -> None:
    plan = rig.load(plan_doc([phase("p1", [gate("g1")])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    h = await rig.start_phase(plan, "p1", limits=Limits(audit_lag_ms=0))
    await awaiting(h, "g1")
    await until_audited(rig, "gate_transition", timeout_s=5)
    assert rig.backend.audit_kinds() == ["phase_started", "evaluation", "gate_transition"]
    await skip_time(rig.env, timedelta(seconds=1))
    await h.terminate("test over")
