"""Connecting to Temporal: settings, the client every process uses, search attributes, and the
workflow runner every worker uses.

Shared by the worker, the API and the CLI, so that each reaches the same cluster the same way
(and none of them imports another's wiring).
"""

from .lifetime import WorkerStuck, running
from .relay import relay_forever, relay_once
from .signals import signal_evidence_changed
from .temporal import (
    SEARCH_ATTRIBUTES,
    SEARCH_ATTRIBUTES_CLI,
    TemporalSettings,
    connect,
    connect_patiently,
    register_search_attributes,
    workflow_runner,
)

__all__ = [
    "SEARCH_ATTRIBUTES",
    "SEARCH_ATTRIBUTES_CLI",
    "TemporalSettings",
    "WorkerStuck",
    "connect",
    "connect_patiently",
    "register_search_attributes",
    "relay_forever",
    "relay_once",
    "running",
    "signal_evidence_changed",
    "workflow_runner",
]
