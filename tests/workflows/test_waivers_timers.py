"""Waivers (with until, revoke, refusals) and the durable timers: reminders, escalation,
valid_until, all through weeks of skipped time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schemas.messages import GateState, RevokeWaiverInput, SetPaused, WaiveInput
from schemas.timefmt import format_timestamp, parse_timestamp

from .helpers import (
    T0,
    Rig,
    approve,
    audited,
    awaiting,
    gate,
    gate_of,
    phase,
    plan_doc,
    save_history,
    skip_time,
    wait_phase,
)
from .test_lifecycle import refused

NEEDS_B = [{"benchmark": {"id": "b-high", "indicator": "ind.b", "aggregate": "latest", "op": ">=", "threshold": 10}}]
NOT_C = [{"not": {"benchmark": {"id": "c-zero", "indicator": "ind.c", "aggregate": "latest", "op": "==",
                                "threshold": 0}}}]


def waive(gid: str, bid: str, person: str = "ana", role: str = "head", until: str | None = None) -> WaiveInput:
    return WaiveInput(gate=gid, benchmark=bid, person=person, role=role, justification="data delayed by floods",
                      until=until)


async def test_waiver_opens_the_gate_and_revoke_closes_it(rig: Rig) -> None:
    plan = rig.load(plan_doc([phase("p1", [gate("g1", waiver_roles=["head"], extra=NEEDS_B + NOT_C)])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    rig.evidence("m1", "ind.b", 4, day=1)
    rig.evidence("m1", "ind.c", 1, day=1)
    h = await rig.start_phase(plan, "p1")
    st = await wait_phase(h, lambda s: gate_of(s, "g1").status == "fail", "first evaluation")
    await refused(h.execute_update("waive", waive("g1", "b-high", role="deputy")), "RoleNotAllowed")
    await refused(h.execute_update("waive", waive("g1", "c-zero")), "NotWaivable")
    await refused(h.execute_update("waive", waive("g1", "zzz")), "UnknownBenchmark")
    past = format_timestamp(T0)
    await refused(h.execute_update("waive", waive("g1", "b-high", until=past)), "InvalidInput")
    with pytest.raises(ValueError, match="justification"):
        WaiveInput(gate="g1", benchmark="b-high", person="ana", role="head", justification="")
    w = await h.execute_update("waive", waive("g1", "b-high"), result_type=GateState)
    assert [x.benchmark for x in w.waivers] == ["b-high"]
    g = await awaiting(h, "g1")
    assert g.digest != gate_of(st, "g1").digest
    await refused(h.execute_update("waive", waive("g1", "b-high")), "AlreadyWaived")
    await h.execute_update("revoke_waiver", RevokeWaiverInput(gate="g1", benchmark="b-high", person="ana",
                                                              role="head", reason="floods over"))
    st = await wait_phase(h, lambda s: gate_of(s, "g1").state == "collecting", "revoked")
    await refused(h.execute_update("revoke_waiver", RevokeWaiverInput(gate="g1", benchmark="b-high", person="ana",
                                                                      role="head")), "NoActiveWaiver")
    await audited(rig, "waiver_revoked")
    assert "waiver" in rig.backend.audit_kinds()
    await h.execute_update("waive", waive("g1", "b-high"))
    g = await awaiting(h, "g1")
    await approve(h, "g1", "hal", "host", g.digest)
    await h.result()
    await save_history(h, "waiver")


async def test_waiver_until_expires_on_a_timer(rig: Rig) -> None:
    plan = rig.load(plan_doc([phase("p1", [gate("g1", waiver_roles=["head"], extra=NEEDS_B)])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    rig.evidence("m1", "ind.b", 4, day=1)
    h = await rig.start_phase(plan, "p1")
    await wait_phase(h, lambda s: gate_of(s, "g1").evaluations >= 1, "first evaluation")
    now = await rig.env.get_current_time()
    until = format_timestamp(int(now.timestamp()) * 1_000_000 + 10 * 86_400_000_000)
    await h.execute_update("waive", waive("g1", "b-high", until=until))
    g = await awaiting(h, "g1")
    assert g.valid_until == until  # the engine knows the waiver ends then
    await skip_time(rig.env, timedelta(days=11))
    st = await wait_phase(h, lambda s: gate_of(s, "g1").state == "collecting", "waiver expired")
    assert gate_of(st, "g1").waivers == []
    await audited(rig, "waiver_expired")
    await h.terminate("test over")


async def test_reminders_and_one_escalation_after_weeks(rig: Rig) -> None:
    plan = rig.load(plan_doc([phase("p1", [gate("g1", timers={"remind_after": "P7D", "escalate_after": "P3W"})])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    h = await rig.start_phase(plan, "p1")
    g = await awaiting(h, "g1")
    assert rig.backend.notifications == []
    await skip_time(rig.env, timedelta(days=22))
    st = await wait_phase(h, lambda s: gate_of(s, "g1").escalated, "escalation")
    kinds = [n["kind"] for n in rig.backend.notifications]
    assert kinds == ["reminder", "reminder", "reminder", "escalation"]
    assert gate_of(st, "g1").reminders_sent == 3
    await skip_time(rig.env, timedelta(days=7))
    await wait_phase(h, lambda s: gate_of(s, "g1").reminders_sent == 4, "fourth reminder")
    assert [n["kind"] for n in rig.backend.notifications].count("escalation") == 1
    await approve(h, "g1", "ana", "head", g.digest)
    await h.result()
    await save_history(h, "escalation")


async def test_a_resume_starts_a_new_awaiting_episode(rig: Rig) -> None:
    """CONTRACT section 4: on resume the reminders count from the resume, not from before the pause."""
    plan = rig.load(plan_doc([phase("p1", [gate("g1", timers={"remind_after": "P7D", "escalate_after": "P3W"})])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    h = await rig.start_phase(plan, "p1")
    g = await awaiting(h, "g1")
    await skip_time(rig.env, timedelta(days=3))
    await h.signal("set_paused", SetPaused(paused=True, reason="a phase before it reopened"))
    await wait_phase(h, lambda s: s.paused, "paused")
    await skip_time(rig.env, timedelta(days=30))
    assert rig.backend.notifications == []  # nobody is reminded of what they may not do
    await h.signal("set_paused", SetPaused(paused=False, reason="resumed"))
    st = await wait_phase(h, lambda s: not s.paused, "resumed")
    assert (gate_of(st, "g1").reminders_sent, gate_of(st, "g1").escalated) == (0, False)
    await skip_time(rig.env, timedelta(days=6))
    assert rig.backend.notifications == []  # the old episode's overdue reminder did not fire
    await skip_time(rig.env, timedelta(days=2))
    st = await wait_phase(h, lambda s: gate_of(s, "g1").reminders_sent == 1, "first reminder of the new episode")
    assert not gate_of(st, "g1").escalated
    await approve(h, "g1", "ana", "head", g.digest)
    await h.result()
    await save_history(h, "resume_new_episode")


async def test_valid_until_re_evaluates_ageing_evidence(rig: Rig) -> None:
    fresh = [{"benchmark": {"id": "a-fresh", "indicator": "ind.b", "aggregate": "count", "op": ">=",
                            "threshold": 1, "max_age": "P30D"}}]
    plan = rig.load(plan_doc([phase("p1", [gate("g1", extra=fresh)])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    now = await rig.env.get_current_time()
    now_us = int(now.timestamp()) * 1_000_000
    ok = rig.backend.add_evidence("m1", {
        "id": "b-now", "mission": "m1", "indicator": "ind.b", "value": 1,
        "observed_at": format_timestamp(now_us - 86_400_000_000), "reported_at": format_timestamp(now_us - 86_400_000_000),
        "source": "test"})
    assert ok.status == "stored"
    h = await rig.start_phase(plan, "p1")
    g = await awaiting(h, "g1")
    assert g.valid_until is not None and parse_timestamp(g.valid_until) > now_us
    await skip_time(rig.env, timedelta(days=30))  # the point goes stale with no new evidence
    st = await wait_phase(h, lambda s: gate_of(s, "g1").state == "collecting", "stale")
    assert gate_of(st, "g1").status == "unknown"
    await h.terminate("test over")
