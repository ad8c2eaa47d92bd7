"""Side effects the workflows need: gate evaluation against the store, audit, notifications."""

from .backend import Backend, MemoryBackend
from .gates import ExitgateActivities, plan_spec

__all__ = ["Backend", "ExitgateActivities", "MemoryBackend", "plan_spec"]
