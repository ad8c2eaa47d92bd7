"""The workflow classes a worker registers.

Kept out of `workflows/__init__.py` on purpose: the sandbox re-imports a workflow's module for
every workflow it runs, and with it the package's `__init__`; if that imported both workflow
modules, every phase would also pay for importing the mission's (measured: ~15% of the
worker's Python time in workflow_bench went to those imports)."""

from .mission import MissionWorkflow
from .phase import PhaseWorkflow

WORKFLOWS = [MissionWorkflow, PhaseWorkflow]

__all__ = ["WORKFLOWS", "MissionWorkflow", "PhaseWorkflow"]
