"""The operations people and systems perform (CONTRACT sections 2 to 4), over the store and a
Temporal client: what the HTTP API and the command line both stand on.

Imports the store, the rules, the schemas, the pure lifecycle and runtime (Temporal
settings); never the workflows, activities, api or cli (the import-linter contract in
pyproject.toml keeps it so)."""

from .core import Service
from .errors import Caller, Refused, Unavailable
from .views import (
           ApprovalView,
           AwaitingGate,
           EvidenceBrief,
           GateView,
           MissionView,
           PhaseView,
           PlanLoaded,
           WaiverView,
)

__all__ = ["ApprovalView", "AwaitingGate", "Caller", "EvidenceBrief", "GateView", "MissionView", "PhaseView",
           "PlanLoaded", "Refused", "Service", "Unavailable", "WaiverView"]
