"""Telling a phase workflow that evidence changed, with back-pressure.

Temporal refuses signals to a run that has received 10,000. A phase continues as new long
before that (Limits.signals), but the server only lets a run close at a moment when no new
signal is waiting, so under a sustained flood the run cannot turn over and the refusals come.
Backing off is what lets the flood ease and the run turn over; the signal is then accepted by
the new run (the handle names no run). Nothing is dropped: a signal not accepted within the
patience raises to the caller.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.service import RPCError

from schemas.messages import EvidenceChanged

__all__ = ["signal_evidence_changed"]

_REFUSED = "limit for signal events"  # the server's words; it sends no structured detail


def signal_refused_for_limit(exc: RPCError) -> bool:
    return _REFUSED in str(exc)


async def signal_evidence_changed(handle: WorkflowHandle[Any, Any], indicators: list[str],
                                  patience_s: float = 120.0) -> int:
    """Send one evidence_changed signal; returns how many times the limit refused it first."""
    deadline = time.monotonic() + patience_s
    delay, refused = 0.05, 0
    while True:
        try:
            await handle.signal("evidence_changed", EvidenceChanged(indicators=indicators))
            return refused
        except RPCError as exc:
            if not signal_refused_for_limit(exc) or time.monotonic() + delay > deadline:
                raise
        refused += 1
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)
