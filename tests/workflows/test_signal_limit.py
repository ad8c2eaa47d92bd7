"""Temporal refuses signals beyond a per-run limit (10,000 in production). Under a flood a phase
cannot always turn over before it, so senders back off and resend (runtime/signals.py): every
signal is then counted, none lost. On a dev server whose limit is lowered to 40 signals."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities import MemoryBackend
from runtime import signal_evidence_changed
from runtime.lifetime import running
from schemas.messages import EvidenceChanged, Limits
from worker import build_worker
from workflows.common import GATE_STATES_KEY, MISSION_KEY, PHASE_KEY

from .conftest import _binary
from .helpers import Rig, gate, phase, plan_doc, wait_phase

LIMIT = 40
SIGNALS = 400


async def test_flood_past_the_per_run_limit_loses_nothing(tmp_path: Path) -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"), data_converter=pydantic_data_converter,
        search_attributes=[MISSION_KEY, PHASE_KEY, GATE_STATES_KEY],
        dev_server_extra_args=["--dynamic-config-value", f"history.maximumSignalsPerExecution={LIMIT}"])
    try:
        backend, queue = MemoryBackend(), f"exitgate-test-{uuid.uuid4()}"
        rig = Rig(env, env.client, backend, queue)
        async with running(build_worker(env.client, backend, queue)):
            plan = rig.load(plan_doc([phase("p1", [gate("g1")])]))
            rig.evidence("m1", "ind.a", 3, day=1)
            # The limit in this test is at the run's own threshold: a burst cannot always
            # turn the run over in time.
            h = await rig.start_phase(plan, "p1", limits=Limits(signals=LIMIT - 5))
            await wait_phase(h, lambda s: s.gates[0].evaluations >= 1, "first evaluation")
            sem = asyncio.Semaphore(32)

            async def send() -> int:
                async with sem:
                    return await signal_evidence_changed(h, ["ind.a"], patience_s=60)

            refusals = await asyncio.gather(*(send() for _ in range(SIGNALS)))
            st = await wait_phase(h, lambda s: s.signals_total == SIGNALS and not s.pending_evaluation,
                                  "every signal counted", timeout_s=60)
            assert st.runs >= SIGNALS // LIMIT, st.runs
            assert sum(refusals) > 0, "the flood never met the limit: this test proves nothing"

            # Without the back-off, a sender gets the server's refusal.
            with pytest.raises(RPCError, match="limit for signal events"):
                await asyncio.gather(*(h.signal("evidence_changed", EvidenceChanged(indicators=["ind.a"]))
                                       for _ in range(LIMIT * 3)))
            await h.terminate("test over")
    finally:
        await env.shutdown()
