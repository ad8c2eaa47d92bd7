"""What a history shows in hand (rehearsal/watch.py, `in_hand`): the rehearsal moves on only
when no workflow holds anything, so each thing a run can hold is read from its events."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType as T
from temporalio.api.history.v1 import HistoryEvent

from rehearsal.watch import in_hand


def ev(n: int, kind: int, **attrs: object) -> HistoryEvent:
    e = HistoryEvent(event_id=n, event_type=kind)  # type: ignore[arg-type]
    for field, values in attrs.items():
        target = getattr(e, field)
        for k, v in values.items():  # type: ignore[attr-defined]
            if k == "workflow_id" and hasattr(target, "workflow_execution"):
                target.workflow_execution.workflow_id = v
            else:
                setattr(target, k, v)
    return e


STARTED = [ev(1, T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)]
TASK_DONE = [ev(2, T.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED), ev(3, T.EVENT_TYPE_WORKFLOW_TASK_STARTED),
             ev(4, T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)]


def test_a_task_scheduled_before_later_events_is_in_hand() -> None:
    history = [*STARTED, *TASK_DONE, ev(5, T.EVENT_TYPE_TIMER_FIRED), ev(6, T.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
               ev(7, T.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED), ev(8, T.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)]
    assert in_hand(history) == ["a workflow task"]
    assert in_hand(history[:5]) == []
    timed_out = [*history, ev(9, T.EVENT_TYPE_WORKFLOW_TASK_STARTED), ev(10, T.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT)]
    assert in_hand(timed_out) == []


def test_a_signal_sent_is_in_hand_until_the_server_says_it_was_delivered_or_refused() -> None:
    sent = ev(5, T.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
              signal_external_workflow_execution_initiated_event_attributes={"workflow_id": "m1/p2"})
    history = [*STARTED, *TASK_DONE, sent]
    assert in_hand(history) == ["a signal to m1/p2"]
    delivered = ev(6, T.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED,
                   external_workflow_execution_signaled_event_attributes={"initiated_event_id": 5})
    assert in_hand([*history, delivered]) == []
    refused = ev(6, T.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED,
                 signal_external_workflow_execution_failed_event_attributes={"initiated_event_id": 5})
    assert in_hand([*history, refused]) == []
    other = ev(6, T.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED,
               external_workflow_execution_signaled_event_attributes={"initiated_event_id": 4})
    assert in_hand([*history, other]) == ["a signal to m1/p2"]


def test_a_child_start_and_a_cancel_are_in_hand_until_answered() -> None:
    child = ev(5, T.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
               start_child_workflow_execution_initiated_event_attributes={"workflow_id": "m1/p1"})
    cancel = ev(6, T.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
                request_cancel_external_workflow_execution_initiated_event_attributes={"workflow_id": "m1/p3"})
    history = [*STARTED, *TASK_DONE, child, cancel]
    assert in_hand(history) == ["a start of m1/p1", "a cancel of m1/p3"]
    started = ev(7, T.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED,
                 child_workflow_execution_started_event_attributes={"initiated_event_id": 5})
    asked = ev(8, T.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
               external_workflow_execution_cancel_requested_event_attributes={"initiated_event_id": 6})
    assert in_hand([*history, started]) == ["a cancel of m1/p3"]
    assert in_hand([*history, started, asked]) == []
