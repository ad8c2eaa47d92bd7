"""Timeline performance: 1,095 daily steps over 100,000 evidence records for a plan of 50
benchmarks, against evaluating each instant independently in the same run.

    .venv/bin/python benchmarks/timeline_bench.py [--json] [--quick]

Baselines, both measured here on the same plan and evidence:
- `evaluate_gate`: what `exitgate evaluate` does at each instant (full explanation and
  digest), every gate, every step. This is the goal's baseline (>= 20x).
- `lean`: only the statuses, values and points per instant (evaluate_benchmark plus the
  compiled rule, no explanation or digest): the cheapest honest independent evaluation.
Everything is generated from a fixed seed, so runs are comparable.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rules.evaluate import evaluate_benchmark, evaluate_gate
from rules.evidence import Record
from rules.plan import LoadedPlan, load_plan
from rules.series import EvidenceIndex
from rules.timeline import timeline
from rules.tree import iter_benchmarks
from schemas.timefmt import DAY, HOUR, parse_timestamp

SEED = 20250801
START = parse_timestamp("2023-01-01T00:00:00Z")
STEPS = 1095
N_RECORDS = 100_000
N_INDICATORS = 25
N_GATES = 10
PER_GATE = 5  # 10 gates x 5 = 50 benchmarks


def make_plan(rng: random.Random) -> LoadedPlan:
    kinds = ["number"] * 15 + ["integer"] * 7 + ["boolean"] * 3
    indicators = [{"id": f"ind{i}", "name": f"indicator {i}", "unit": "u", "kind": kinds[i]}
                  for i in range(N_INDICATORS)]
    gates = []
    n = 0
    for g in range(N_GATES):
        leaves = []
        for _ in range(PER_GATE):
            i = n % N_INDICATORS
            kind = kinds[i]
            b: dict[str, Any] = {"id": f"b{n}", "indicator": f"ind{i}"}
            if kind == "boolean":
                b.update(rng.choice([{"aggregate": "latest", "op": "==", "threshold": True},
                                     {"aggregate": "sum", "op": ">=", "threshold": 20}]))
            else:
                agg = rng.choice(["mean", "mean", "latest", "sum", "count", "min", "max", "change", "trend"])
                b["aggregate"] = agg
                b["op"] = rng.choice(["<=", ">="])
                b["threshold"] = {"count": 60, "sum": 3000, "change": 0, "trend": 0}.get(agg, 50)
            if rng.random() < 0.85:
                b["window"] = rng.choice(["P30D", "P90D", "P180D"])
            if rng.random() < 0.4:
                b["max_age"] = rng.choice(["P7D", "P14D", "P45D"])
            if b["aggregate"] not in ("latest",):
                b["min_points"] = rng.choice([1, 2, 3])
            leaves.append({"benchmark": b})
            n += 1
        shape = g % 4
        rule: dict[str, Any]
        if shape == 0:
            rule = {"all": leaves}
        elif shape == 1:
            rule = {"all": [leaves[0], {"any": leaves[1:3]}, {"not": leaves[3]}, leaves[4]]}
        elif shape == 2:
            rule = {"at_least": 3, "of": leaves}
        else:
            rule = {"score": {"of": leaves, "min": 0.6}}
        gates.append({"id": f"g{g}", "name": f"gate {g}", "rule": rule,
                      "approval": {"roles": ["head"], "quorum": 1}})
    return load_plan({"plan": "bench", "version": "1", "mission": {"id": "m", "name": "Bench"},
                      "indicators": indicators,
                      "phases": [{"id": "p", "name": "phase", "gates": gates}]})


def make_records(rng: random.Random, plan: LoadedPlan) -> list[Record]:
    """Random walks per indicator, reported late, with corrections and withdrawals."""
    span = (STEPS + 200) * DAY
    origin = START - 200 * DAY
    kinds = {i: ind.kind for i, ind in plan.indicators.items()}
    level = {i: 50.0 for i in kinds}
    out: list[Record] = []
    live: dict[str, list[Record]] = {i: [] for i in kinds}
    for n in range(N_RECORDS):
        ind = f"ind{rng.randrange(N_INDICATORS)}"
        kind = kinds[ind]
        obs = origin + rng.randrange(span // HOUR) * HOUR
        delay = rng.choice([0, HOUR, DAY, 3 * DAY, 7 * DAY]) if rng.random() < 0.97 else rng.randrange(30, 120) * DAY
        known = obs + delay
        if live[ind] and rng.random() < 0.04:
            target = live[ind].pop(rng.randrange(len(live[ind])))
            known = max(known, target.known_at) + rng.randrange(1, 10) * DAY
            value: Any = None if rng.random() < 0.15 else _value(rng, kind, level, ind)
            rec = Record(f"r{n}", "m", ind, value, target.observed_at, known, known, "s", target.id)
        else:
            rec = Record(f"r{n}", "m", ind, _value(rng, kind, level, ind), obs, known, known, "s")
        out.append(rec)
        if rec.value is not None:
            live[ind].append(rec)
    return out


def _value(rng: random.Random, kind: str, level: dict[str, float], ind: str) -> Any:
    level[ind] = min(100.0, max(0.0, level[ind] + rng.gauss(0, 2)))
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "integer":
        return round(level[ind])
    return round(level[ind] + rng.gauss(0, 5), 2)


def independent_full(plan: LoadedPlan, index: EvidenceIndex, times: list[int]) -> list[list[str]]:
    return [[evaluate_gate(plan, g, index, t)["status"] for g in plan.gates] for t in times]


def independent_lean(plan: LoadedPlan, index: EvidenceIndex, times: list[int]) -> None:
    rules = {g: [b for b, _ in iter_benchmarks(ref.gate.rule)] for g, ref in plan.gates.items()}
    for t in times:
        for g, bs in rules.items():
            ctx = {b.id: evaluate_benchmark(b, plan.indicators[b.indicator], index.view(b.indicator, t), t).ctx_value
                   for b in bs}
            plan.compiled(g)(ctx)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object of the figures")
    ap.add_argument("--quick", action="store_true",
                    help="time the baselines on every 10th step only and scale up (for development)")
    args = ap.parse_args()

    rng = random.Random(SEED)
    plan = make_plan(rng)
    records = make_records(rng, plan)
    t = time.perf_counter()
    index = EvidenceIndex(records)
    index_s = time.perf_counter() - t
    end = START + (STEPS - 1) * DAY

    t = time.perf_counter()
    tl = timeline(plan, index, START, end, DAY)
    timeline_s = time.perf_counter() - t
    assert len(tl.instants) == STEPS

    every = 10 if args.quick else 1
    sample = tl.instants[::every]
    scale = STEPS / len(sample)
    t = time.perf_counter()
    full = independent_full(plan, index, sample)
    full_s = (time.perf_counter() - t) * scale
    # Fast and wrong would be worthless: the gate statuses must be the ones evaluate finds.
    status = {True: "pass", False: "fail", None: "unknown"}
    for k, row in zip(range(0, STEPS, every), full, strict=True):
        assert row == [status[tl.gates[g][k]] for g in plan.gates], f"mismatch at step {k}"
    t = time.perf_counter()
    independent_lean(plan, index, sample)
    lean_s = (time.perf_counter() - t) * scale

    figures = {
        "steps": STEPS, "records": len(records), "benchmarks": len(plan.benchmarks), "gates": len(plan.gates),
        "index_build_s": round(index_s, 3),
        "timeline_s": round(timeline_s, 3),
        "independent_evaluate_gate_s": round(full_s, 3),
        "independent_lean_s": round(lean_s, 3),
        "speedup_vs_evaluate_gate": round(full_s / timeline_s, 1),
        "speedup_vs_lean": round(lean_s / timeline_s, 1),
        "baseline_sampled_every": every,
        "goal_timeline_under_2s": timeline_s < 2.0,
        "goal_speedup_at_least_20x": full_s / timeline_s >= 20,
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"plan: {figures['benchmarks']} benchmarks in {figures['gates']} gates; "
          f"{figures['records']:,} records; {STEPS} daily steps")
    print(f"index build                      {index_s:8.3f} s (shared by all)")
    print(f"timeline (incremental)           {timeline_s:8.3f} s   goal < 2 s")
    note = "" if every == 1 else f" (every {every}th step, scaled)"
    print(f"independent: evaluate_gate       {full_s:8.3f} s{note}")
    print(f"independent: lean                {lean_s:8.3f} s{note}")
    print(f"speedup vs evaluate_gate         {full_s / timeline_s:8.1f} x   goal >= 20 x")
    print(f"speedup vs lean                  {lean_s / timeline_s:8.1f} x")


if __name__ == "__main__":
    main()
