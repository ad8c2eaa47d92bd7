"""Deterministic Temporal workflows: the mission (phase dependencies, reopen, migration) and
the phase (gate lifecycle, approvals, timers). Activities are called by name only."""

from .common import mission_workflow_id, phase_workflow_id
from .mission import MissionWorkflow
from .phase import PhaseWorkflow

WORKFLOWS = [MissionWorkflow, PhaseWorkflow]

__all__ = ["WORKFLOWS", "MissionWorkflow", "PhaseWorkflow", "mission_workflow_id", "phase_workflow_id"]
