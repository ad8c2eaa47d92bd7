"""A gate whose evidence cannot be evaluated fails alone: its siblings are evaluated and decided,
its status says why, and it recovers once its evidence can be evaluated again."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from activities import MemoryBackend
from rules.series import EvidenceIndex
from runtime.lifetime import running
from schemas.messages import EvidenceChanged
from worker import build_worker

from .helpers import (
    Rig,
    approve,
    audited,
    awaiting,
    gate,
    gate_of,
    phase,
    plan_doc,
    save_history,
    wait_phase,
)


@dataclass
class PoisonedBackend(MemoryBackend):
    """A store whose evidence for one indicator the evaluator cannot represent (as a 401-digit
    integer once could not be): building that gate's index raises, every time."""

    poisoned: str | None = "ind.c"

    def evidence_index(self, mission: str, as_of: int, indicators: frozenset[str],
                       horizons: dict[str, int | None] | None = None) -> EvidenceIndex:
        if self.poisoned in indicators:
            raise OverflowError("int too large to convert to float")
        return super().evidence_index(mission, as_of, indicators, horizons)


@pytest_asyncio.fixture(loop_scope="session")
async def poisoned(env: WorkflowEnvironment) -> AsyncIterator[Rig]:
    backend, queue = PoisonedBackend(), f"exitgate-test-{uuid.uuid4()}"
    rig = Rig(env, env.client, backend, queue)
    async with running(build_worker(env.client, backend, queue)):
        try:
            yield rig
        finally:
            await rig.terminate_leftovers()


async def test_one_gate_failing_its_evaluation_holds_up_no_sibling(poisoned: Rig) -> None:
    rig = poisoned
    plan = rig.load(plan_doc([phase("p1", [gate("g1"), gate("g2", indicator="ind.c")])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    rig.evidence("m1", "ind.c", 3, day=1)
    h = await rig.start_phase(plan, "p1")
    g1 = await awaiting(h, "g1")  # evaluated although g2's evaluation fails
    st = await wait_phase(h, lambda s: gate_of(s, "g2").evaluation_error is not None, "g2 failure shown")
    g2 = gate_of(st, "g2")
    assert g2.state == "collecting" and g2.evaluations == 0
    assert "EvaluationFailed" in (g2.evaluation_error or "") and "OverflowError" in (g2.evaluation_error or "")
    await approve(h, "g1", "ana", "head", g1.digest)
    [failed] = await audited(rig, "evaluation_failed")
    assert failed["payload"]["gate"] == "g2"

    assert isinstance(rig.backend, PoisonedBackend)
    rig.backend.poisoned = None  # the offending record withdrawn, say
    await h.signal("evidence_changed", EvidenceChanged(indicators=["ind.c"]))
    g2 = await awaiting(h, "g2")
    assert g2.evaluation_error is None and g2.evaluations == 1
    await approve(h, "g2", "ana", "head", g2.digest)
    await wait_phase(h, lambda s: s.complete, "phase complete")
    await save_history(h, "evaluation_failure_isolated")
