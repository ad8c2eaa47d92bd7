"""A gate's evaluation runs as a local activity (patch `evaluate-local`): no activity task goes
through the server for it, and the audit log holds the same entries in the same order."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType

from schemas.messages import EvidenceChanged

from .helpers import (
    Rig,
    approve,
    audit_in_order,
    awaiting,
    gate,
    phase,
    plan_doc,
    save_history,
    wait_phase,
)


async def test_a_gate_round_evaluates_locally_and_audits_as_before(rig: Rig) -> None:
    plan = rig.load(plan_doc([phase("p1", [gate("g1")])]))
    rig.evidence("m1", "ind.a", 9, day=1)
    h = await rig.start_phase(plan, "p1")
    await wait_phase(h, lambda s: s.gates[0].evaluations == 1, "first evaluation")
    rig.evidence("m1", "ind.a", 3, day=2)
    await h.signal("evidence_changed", EvidenceChanged(indicators=["ind.a"]))
    g = await awaiting(h, "g1")
    await approve(h, "g1", "ana", "head", g.digest)
    await h.result()

    events = (await h.fetch_history()).events
    scheduled = [e.activity_task_scheduled_event_attributes.activity_type.name for e in events
                 if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    markers = [e.marker_recorded_event_attributes.marker_name for e in events
               if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    assert "evaluate_gate" not in scheduled, scheduled
    assert markers.count("core_local_activity") == 2, markers  # one per evaluation, in history
    assert audit_in_order(rig) == ["phase_started", "evaluation", "evaluation", "gate_transition",
                                   "approval", "gate_transition", "phase_completed"]
    await save_history(h, "evaluate_local")
