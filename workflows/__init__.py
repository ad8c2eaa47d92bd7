"""Deterministic Temporal workflows: the mission (phase dependencies, reopen, migration) and
the phase (gate lifecycle, approvals, timers). Activities are called by name only.

The classes are registered from `workflows.registry` (why there: see that module)."""

from .common import mission_workflow_id, phase_workflow_id

__all__ = ["mission_workflow_id", "phase_workflow_id"]
