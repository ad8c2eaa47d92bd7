"""Gate workflows against a bare skeleton of the same shape, on one dev server, in one run.

(a) throughput of N concurrent gate workflows (start, evaluate, approve, complete) vs the
    skeleton (start, wait for a signal, one activity, wait for an update); --repeat R measures
    both R times, alternating, and reports the medians;
(b) evidence-to-decision latency p50/p99: signal -> evaluation visible to a query;
(c) S evidence signals into one gate: none lost, runs continued as new, time taken;
(d) history kept per gate round and per whole gate (events, bytes), for docs/scaling.md.

    .venv/bin/python benchmarks/workflow_bench.py [--n 1000] [--repeat 3] [--signals 50000]
        [--parts throughput,latency,history,flood] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devserver import start_dev_server  # noqa: E402
from skeleton import Skeleton, skeleton_step  # noqa: E402  (a module: the sandbox re-imports it)
from temporalio.client import Client, WorkflowHandle  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.service import RPCError, RPCStatusCode  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from activities import ExitgateActivities, MemoryBackend, plan_spec  # noqa: E402
from rules.plan import load_plan  # noqa: E402
from runtime import signal_evidence_changed, workflow_runner  # noqa: E402
from schemas.messages import ApproveInput, EvidenceChanged, PhaseInput, PhaseStatus  # noqa: E402
from workflows.registry import WORKFLOWS  # noqa: E402


def plan_doc() -> dict[str, Any]:
    gate = {"id": "g1", "name": "g", "approval": {"roles": ["head"], "quorum": 1},
            "rule": {"benchmark": {"id": "b", "indicator": "ind.a", "aggregate": "latest", "op": "<=", "threshold": 5}}}
    return {"plan": "bench", "mission": {"id": "bench", "name": "Bench"},
            "indicators": [{"id": "ind.a", "name": "a", "kind": "number"}],
            "phases": [{"id": "p1", "name": "p", "gates": [gate]}]}


def ev(rid: str, value: float, day: int) -> dict[str, Any]:
    t = f"2020-01-{day:02d}T00:00:00Z"
    return {"id": rid, "mission": "bench", "indicator": "ind.a", "value": value, "observed_at": t,
            "reported_at": t, "source": "x"}


# How often a client looks at a workflow it waits on, the same for both shapes. Every look is a
# query that the worker answers; at 5 ms, 100 waiting clients spent the 2 cores on queries and
# the figures measured the polling rather than the workflows.
POLL_S = 0.05
# The latency part watches one workflow at a time, so it can look often: at 50 ms the figures
# were quantised to 50 ms steps (p50 100 vs 150 ms) and measured the polling.
LATENCY_POLL_S = 0.005


# Queries that timed out and were asked again, by workflow type: on a machine at load average
# 13 a query to a workflow whose first task had not run yet timed out ("Timeout expired") and
# ended the run in its first skeleton round. Both shapes retry alike; the counts are reported.
QUERY_TIMEOUTS: dict[str, int] = {}


async def poll(handle: WorkflowHandle[Any, Any], ready: Any, query: str, rtype: Any, every: float = POLL_S) -> Any:
    """Query until `ready` holds; returns the answer that satisfied it."""
    while True:
        try:
            seen = await handle.query(query, result_type=rtype)
            if ready(seen):
                return seen
        except RPCError as exc:
            if exc.status not in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                raise
            QUERY_TIMEOUTS[query] = QUERY_TIMEOUTS.get(query, 0) + 1
        await asyncio.sleep(every)


async def gather_limited(coros: list[Any], limit: int = 100) -> list[Any]:
    sem = asyncio.Semaphore(limit)

    async def one(c: Any) -> Any:
        async with sem:
            return await c
    return await asyncio.gather(*(one(c) for c in coros))


async def gate_round(client: Client, queue: str, inp: PhaseInput) -> None:
    h = await client.start_workflow("Phase", inp, id=f"bench-{uuid.uuid4()}", task_queue=queue)
    # The status that showed the gate awaiting approval carries the digest to sign: asking
    # again was a third query per round that the skeleton's round does not make.
    st = await poll(h, lambda s: s.gates[0].state == "awaiting_approval", "status", PhaseStatus)
    await h.execute_update("approve", ApproveInput(gate="g1", person="ana", role="head", digest=st.gates[0].digest or ""))
    await h.result()


async def skeleton_round(client: Client, queue: str) -> None:
    h = await client.start_workflow("Skeleton", id=f"skel-{uuid.uuid4()}", task_queue=queue)
    await h.signal("poke")
    await poll(h, lambda v: v == 2, "value_now", int)
    await h.execute_update("finish")
    await h.result()


async def latency(client: Client, queue: str, backend: MemoryBackend, inp: PhaseInput, k: int) -> tuple[list[float], list[float]]:
    gate_ms: list[float] = []
    skel_ms: list[float] = []
    for i in range(k):
        h = await client.start_workflow("Phase", inp, id=f"lat-{uuid.uuid4()}", task_queue=queue)
        await poll(h, lambda s: s.gates[0].evaluations >= 1, "status", PhaseStatus)
        backend.add_evidence("bench", ev(f"lat-{i}-{uuid.uuid4().hex[:6]}", 9 if i % 2 else 1, 20 + i % 5))
        before = (await h.query("status", result_type=PhaseStatus)).gates[0].evaluations
        t = time.perf_counter()
        await h.signal("evidence_changed", EvidenceChanged(indicators=["ind.a"]))
        await poll(h, lambda s, b=before: s.gates[0].evaluations > b, "status", PhaseStatus, LATENCY_POLL_S)
        gate_ms.append((time.perf_counter() - t) * 1000)
        await h.terminate()
        s = await client.start_workflow("Skeleton", id=f"slat-{uuid.uuid4()}", task_queue=queue)
        t = time.perf_counter()
        await s.signal("poke")
        await poll(s, lambda v: v == 2, "value_now", int, LATENCY_POLL_S)
        skel_ms.append((time.perf_counter() - t) * 1000)
        await s.terminate()
    return gate_ms, skel_ms


async def history_size(h: WorkflowHandle[Any, Any]) -> tuple[int, int]:
    events = (await h.fetch_history()).events
    return len(events), sum(e.ByteSize() for e in events)


async def history(client: Client, queue: str, backend: MemoryBackend, inp: PhaseInput, rounds: int) -> dict[str, Any]:
    """What Temporal keeps per gate round (an evidence signal, its evaluation and audit entry)
    and per whole gate (start, evaluate, approve, complete): events and bytes of history."""
    h = await client.start_workflow("Phase", inp, id=f"hist-{uuid.uuid4()}", task_queue=queue)
    await poll(h, lambda s: s.gates[0].evaluations >= 1 and not s.pending_evaluation, "status", PhaseStatus)
    await asyncio.sleep(1.5)  # let the first group commit of audit entries land
    events0, bytes0 = await history_size(h)
    for i in range(rounds):
        backend.add_evidence("bench", ev(f"h-{i}-{uuid.uuid4().hex[:6]}", 9 if i % 2 else 1, 2 + i % 25))
        before = (await h.query("status", result_type=PhaseStatus)).gates[0].evaluations
        await h.signal("evidence_changed", EvidenceChanged(indicators=["ind.a"]))
        await poll(h, lambda s, b=before: s.gates[0].evaluations > b and not s.pending_evaluation, "status",
                   PhaseStatus, LATENCY_POLL_S)
        await asyncio.sleep(1.5)  # one round at a time: each its own audit group commit
    events1, bytes1 = await history_size(h)
    await h.terminate()
    backend.add_evidence("bench", ev(f"h-pass-{uuid.uuid4().hex[:6]}", 1, 28))  # the gate passes again
    g = await client.start_workflow("Phase", inp, id=f"histg-{uuid.uuid4()}", task_queue=queue)
    await poll(g, lambda s: s.gates[0].state == "awaiting_approval", "status", PhaseStatus)
    st = await g.query("status", result_type=PhaseStatus)
    await g.execute_update("approve", ApproveInput(gate="g1", person="ana", role="head", digest=st.gates[0].digest or ""))
    await g.result()
    gate_events, gate_bytes = await history_size(g)
    return {"rounds": rounds, "events_per_round": round((events1 - events0) / rounds, 1),
            "bytes_per_round": round((bytes1 - bytes0) / rounds), "gate_to_completion_events": gate_events,
            "gate_to_completion_bytes": gate_bytes}


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def flood(client: Client, queue: str, inp: PhaseInput, signals: int) -> dict[str, Any]:
    h = await client.start_workflow("Phase", inp, id=f"flood-{uuid.uuid4()}", task_queue=queue)
    await poll(h, lambda s: s.gates[0].evaluations >= 1, "status", PhaseStatus)
    t = time.perf_counter()
    # As the API sends them: a refusal at Temporal's per-run limit is retried with back-off
    # (runtime/signals.py), which is what lets the run turn over under the flood.
    refusals = await gather_limited([signal_evidence_changed(h, ["ind.a"]) for _ in range(signals)], 64)
    sent = time.perf_counter() - t
    await poll(h, lambda s: s.signals_total == signals and not s.pending_evaluation, "status", PhaseStatus)
    st = await h.query("status", result_type=PhaseStatus)
    total = time.perf_counter() - t
    await h.terminate()
    return {"signals": signals, "counted": st.signals_total, "lost": signals - st.signals_total,
            "refused_then_resent": sum(refusals), "runs": st.runs, "evaluations": st.evaluations_total, "send_s": round(sent, 2), "total_s": round(total, 2)}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--latency-samples", type=int, default=50)
    ap.add_argument("--signals", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3, help="throughput measurements; the median is reported")
    ap.add_argument("--history-rounds", type=int, default=10)
    ap.add_argument("--parts", default="throughput,latency,history,flood", help="comma-separated subset")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    # The same footing as the workflows (runtime.workflow_runner writes their bytecode): without
    # it, under PYTHONDONTWRITEBYTECODE, the sandbox would compile the skeleton's source per run.
    compileall.compile_file(str(Path(__file__).with_name("skeleton.py")), quiet=2)
    env = await start_dev_server(data_converter=pydantic_data_converter)
    backend = MemoryBackend()
    plan = load_plan(plan_doc())
    backend.add_plan(plan)
    backend.add_evidence("bench", ev("e0", 1, 1))
    queue = f"bench-{uuid.uuid4()}"
    inp = PhaseInput(mission="bench", plan_sha256=plan.sha256, phase=plan_spec(plan).phases[0],
                     started_by="cora", search_attributes=False)
    acts = [*ExitgateActivities(backend).all(), skeleton_step]
    out: dict[str, Any] = {}
    try:
        async with Worker(env.client, task_queue=queue, workflows=[*WORKFLOWS, Skeleton], activities=acts,
                          max_concurrent_workflow_tasks=200, workflow_runner=workflow_runner()):
            parts = set(args.parts.split(","))
            if "throughput" in parts:
                # Repeats alternate the two shapes so both see the same machine state; on a
                # shared 2-core machine single figures swing by a quarter, the median less.
                ratios, gates, skels = [], [], []
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    await gather_limited([skeleton_round(env.client, queue) for _ in range(args.n)])
                    skels.append(args.n / (time.perf_counter() - t))
                    t = time.perf_counter()
                    await gather_limited([gate_round(env.client, queue, inp) for _ in range(args.n)])
                    gates.append(args.n / (time.perf_counter() - t))
                    ratios.append(gates[-1] / skels[-1])
                out["throughput"] = {"n": args.n, "repeats": args.repeat,
                                     "gate_per_s": round(statistics.median(gates), 1),
                                     "skeleton_per_s": round(statistics.median(skels), 1),
                                     "ratio": round(statistics.median(ratios), 3),
                                     "ratios": [round(r, 3) for r in ratios], "goal_ratio_at_least": 0.9}
            if "latency" in parts:
                g_ms, s_ms = await latency(env.client, queue, backend, inp, args.latency_samples)
                out["latency_ms"] = {
                    "gate_p50": round(pct(g_ms, 0.5), 1), "gate_p99": round(pct(g_ms, 0.99), 1),
                    "skeleton_p50": round(pct(s_ms, 0.5), 1), "skeleton_p99": round(pct(s_ms, 0.99), 1),
                    "p50_ratio": round(pct(g_ms, 0.5) / pct(s_ms, 0.5), 3),
                    "p99_ratio": round(pct(g_ms, 0.99) / pct(s_ms, 0.99), 3), "goal_p50_ratio_at_most": 1.0,
                    "goal_p99_ratio_at_most": 1.2,
                    "mean_gate": round(statistics.fmean(g_ms), 1)}
            if "history" in parts:
                out["history"] = await history(env.client, queue, backend, inp, args.history_rounds)
            if "flood" in parts:
                out["flood"] = await flood(env.client, queue, inp, args.signals)
    finally:
        await env.shutdown()
    out["query_timeouts_retried"] = dict(QUERY_TIMEOUTS)
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k}: " + ", ".join(f"{a}={b}" for a, b in v.items()))


if __name__ == "__main__":
    asyncio.run(main())
