"""The Temporal dev server for the benchmarks, with its banner kept off standard output.

The SDK starts the server with the benchmark's own standard output, so its banner ("Temporal
CLI ... Temporal Server: localhost:...") came before the one JSON object `--json` promises.
The server inherits file descriptor 1 when it is spawned: pointing it at standard error for
that moment sends everything the server prints there, for its whole life.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

TEMPORAL = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "temporal"


async def start_dev_server(**kwargs: Any) -> WorkflowEnvironment:
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        return await WorkflowEnvironment.start_local(dev_server_existing_path=str(TEMPORAL), **kwargs)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
