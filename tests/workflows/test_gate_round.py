"""A gate round under patch `gate-round-2`: one patch marker per run instead of four, and audit
entries queued in a workflow task already completed written by a local activity; entries of
the task in progress still go by an activity. The audit log holds the same entries in the same
order, each once."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from activities import ExitgateActivities
from schemas.messages import AuditBatch, Limits, QueuedAuditEntry

from . import helpers as hp
from .helpers import Rig, approve, audit_in_order, audited, awaiting


def _scheduled(events: list[HistoryEvent]) -> list[str]:
    return [e.activity_task_scheduled_event_attributes.activity_type.name for e in events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]


def _markers(events: list[HistoryEvent]) -> list[str]:
    return [e.marker_recorded_event_attributes.marker_name for e in events
            if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]


async def test_final_entries_go_by_local_activity_and_decisions_by_activity(rig: Rig) -> None:
    plan = rig.load(hp.plan_doc([hp.phase("p1", [hp.gate("g1", quorum=2)])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    h = await rig.start_phase(plan, "p1", limits=Limits(audit_lag_ms=5000))
    g = await awaiting(h, "g1")
    first = (await h.fetch_history()).events
    # One patch asked, where there were four (each a marker and a search attribute upsert).
    assert _markers(first).count("core_patch") == 1, _markers(first)
    versions = [e for e in first if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
                and "TemporalChangeVersion" in e.upsert_workflow_search_attributes_event_attributes
                .search_attributes.indexed_fields]
    assert len(versions) == 1

    # Past the lag the three entries of the first task are final: a local activity writes them.
    await audited(rig, "gate_transition")
    assert rig.backend.audit_kinds() == ["phase_started", "evaluation", "gate_transition"]
    events = (await h.fetch_history()).events
    assert "audit_append" not in _scheduled(events), _scheduled(events)
    assert _markers(events).count("core_local_activity") == 2  # the evaluation, the audit write

    # A person's decision is queued in the task that writes it: it goes by an activity.
    await approve(h, "g1", "ana", "head", g.digest)
    await approve(h, "g1", "hal", "host", g.digest)
    await h.result()
    events = (await h.fetch_history()).events
    assert "audit_append" in _scheduled(events)
    # The same entries as before the patch (test_audit_batching), each once, in order.
    assert audit_in_order(rig) == ["phase_started", "evaluation", "gate_transition", "approval", "approval",
                                   "gate_transition", "phase_completed"]
    await hp.save_history(h, "gate_round_2")


async def test_a_repeated_audit_write_appends_nothing(rig: Rig) -> None:
    """What a retried local activity does: the same batch again, dropped by its keys."""
    acts = ExitgateActivities(rig.backend)
    batch = AuditBatch(entries=[QueuedAuditEntry(key=f"wf/run/{i}", kind="evaluation", actor="system",
                                                 payload={"gate": "g1", "n": i}) for i in (1, 2)])
    await acts.audit_append(batch)
    await acts.audit_append(batch)
    assert [e["key"] for e in rig.backend.audit] == ["wf/run/1", "wf/run/2"]
