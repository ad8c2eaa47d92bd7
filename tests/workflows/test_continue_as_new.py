"""Continue-as-new in the middle of a burst of evidence signals and approvals: none lost,
and a burst of signals costs a handful of evaluations, not one each."""

from __future__ import annotations

import asyncio
from typing import Any

from schemas.messages import ApproveInput, EvidenceChanged, GateState, Limits

from .helpers import (
    Rig,
    awaiting,
    closed_result,
    gate,
    gate_of,
    phase,
    plan_doc,
    save_history,
    wait_phase,
)

SIGNALS = 1500
APPROVERS = 40


async def test_burst_across_continue_as_new_loses_nothing(rig: Rig) -> None:
    # Alone this takes ~2 s; a hang must fail with a message, not eat the CI budget.
    async with asyncio.timeout(240):
        await _burst(rig)


async def _burst(rig: Rig) -> None:
    plan = rig.load(plan_doc([phase("p1", [gate("g1", roles=["head"], quorum=APPROVERS)])]))
    rig.evidence("m1", "ind.a", 3, day=1)
    h = await rig.start_phase(plan, "p1", limits=Limits(signals=200, updates=12, history_events=100_000))
    g = await awaiting(h, "g1")
    sem = asyncio.Semaphore(32)

    async def send(call: Any) -> None:
        async with sem:
            await call

    calls: list[Any] = []
    n = 0
    for i in range(SIGNALS):
        calls.append(h.signal("evidence_changed", EvidenceChanged(indicators=["ind.a"])))
        if i % 35 == 17 and n < APPROVERS - 1:
            n += 1
            calls.append(h.execute_update("approve", ApproveInput(gate="g1", person=f"p{n}", role="head",
                                                                  digest=g.digest or "")))
    assert len(calls) - SIGNALS == APPROVERS - 1
    # Waves: a run can only continue as new at the end of a workflow task, and the server
    # refuses to close a run while new signals are waiting, so under a flood the new run starts
    # once the flood eases (nothing is lost meanwhile). Each wave crosses the limits part-way
    # through; between waves we let the run turn over.
    wave = len(calls) // 6 + 1
    sent = 0
    for start in range(0, len(calls), wave):
        chunk = calls[start:start + wave]
        runs = (await wait_phase(h, lambda s: True)).runs
        await asyncio.gather(*(send(c) for c in chunk))
        sent += sum(1 for c in chunk if c.__qualname__.endswith("signal"))
        await wait_phase(h, lambda s, n=sent, r=runs: s.signals_total == n and s.runs > r, "the run turned over")
    st = await wait_phase(h, lambda s: s.signals_total == SIGNALS and not s.pending_evaluation,
                          "all signals counted")
    assert st.runs >= 6, st.runs
    assert st.updates_total == APPROVERS - 1
    assert sorted(a.person for a in gate_of(st, "g1").approvals) == sorted(f"p{n}" for n in range(1, APPROVERS))
    assert st.evaluations_total < SIGNALS // 10, st.evaluations_total
    done = await h.execute_update("approve", ApproveInput(gate="g1", person="last", role="head",
                                                          digest=g.digest or ""), result_type=GateState)
    assert done.state == "approved"
    result = await closed_result(rig.client, h)
    assert len(result.gates[0].approvals) == APPROVERS
    audit = rig.backend.audit
    assert sum(1 for e in audit if e["kind"] == "approval") == APPROVERS
    keys = [e["key"] for e in audit]
    assert len(keys) == len(set(keys))
    await save_history(h, "continue_as_new_last_run")
