"""Workflow ids, read by the workflows and by everything that talks to them."""

from __future__ import annotations

__all__ = ["mission_workflow_id", "phase_workflow_id"]


def mission_workflow_id(mission: str) -> str:
    return f"exitgate/mission/{mission}"


def phase_workflow_id(mission: str, phase: str) -> str:
    # Plan ids never contain "/", so these ids can't collide.
    return f"exitgate/phase/{mission}/{phase}"
