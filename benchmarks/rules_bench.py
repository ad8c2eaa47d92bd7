"""Rule engine benchmarks (issue 2). One command, one run, the same inputs for every contender.

    python benchmarks/rules_bench.py            # figures as text
    python benchmarks/rules_bench.py --json     # one JSON object
    python benchmarks/rules_bench.py --quick    # smaller repeats, for development

(a) 20 benchmarks over a pre-aggregated context ({benchmark id: value or None}): the compiled
    rule against a hand-written Python function with the same three-valued result, and against
    datalogic-py and zen-engine when installed (they are not project dependencies).
(b) One gate of 50 benchmarks evaluated as of one instant over 1,000,000 evidence records.
(c) Plan load and rule compile time.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rules.compiler import compile_rule
from rules.evaluate import evaluate_gate
from rules.evidence import Record
from rules.plan import load_plan
from rules.series import EvidenceIndex, IndicatorSeries
from schemas.timefmt import DAY, parse_timestamp

SEED = 20260101

# --- (a) the 20-benchmark rule -------------------------------------------------------------------

# (id, op, threshold): the hand-written function below spells out exactly these checks.
CHECKS: list[tuple[str, str, Any]] = [
    ("b00", "<=", 5), ("b01", ">=", 2.5), ("b02", "<", 100), ("b03", ">", 0), ("b04", "==", 1),
    ("b05", "!=", 0), ("b06", "between", [10, 20]), ("b07", "<=", 0.3), ("b08", ">=", 60), ("b09", "<", 7),
    ("b10", ">", -1), ("b11", "between", [0, 1]), ("b12", "<=", 50), ("b13", ">=", 3), ("b14", "==", 4),
    ("b15", "!=", 9), ("b16", "<", 2.5), ("b17", ">", 10), ("b18", "between", [5, 15]), ("b19", ">=", 0.75),
]


def hand_written(ctx: Any) -> bool | None:
    """What a careful person writes for `all` of the 20 checks, three-valued: a missing value
    makes the result unknown unless some check fails."""
    unknown = False
    g = ctx.get
    v = g("b00")
    if v is None:
        unknown = True
    elif not v <= 5:
        return False
    v = g("b01")
    if v is None:
        unknown = True
    elif not v >= 2.5:
        return False
    v = g("b02")
    if v is None:
        unknown = True
    elif not v < 100:
        return False
    v = g("b03")
    if v is None:
        unknown = True
    elif not v > 0:
        return False
    v = g("b04")
    if v is None:
        unknown = True
    elif v != 1:
        return False
    v = g("b05")
    if v is None:
        unknown = True
    elif v == 0:
        return False
    v = g("b06")
    if v is None:
        unknown = True
    elif not 10 <= v <= 20:
        return False
    v = g("b07")
    if v is None:
        unknown = True
    elif not v <= 0.3:
        return False
    v = g("b08")
    if v is None:
        unknown = True
    elif not v >= 60:
        return False
    v = g("b09")
    if v is None:
        unknown = True
    elif not v < 7:
        return False
    v = g("b10")
    if v is None:
        unknown = True
    elif not v > -1:
        return False
    v = g("b11")
    if v is None:
        unknown = True
    elif not 0 <= v <= 1:
        return False
    v = g("b12")
    if v is None:
        unknown = True
    elif not v <= 50:
        return False
    v = g("b13")
    if v is None:
        unknown = True
    elif not v >= 3:
        return False
    v = g("b14")
    if v is None:
        unknown = True
    elif v != 4:
        return False
    v = g("b15")
    if v is None:
        unknown = True
    elif v == 9:
        return False
    v = g("b16")
    if v is None:
        unknown = True
    elif not v < 2.5:
        return False
    v = g("b17")
    if v is None:
        unknown = True
    elif not v > 10:
        return False
    v = g("b18")
    if v is None:
        unknown = True
    elif not 5 <= v <= 15:
        return False
    v = g("b19")
    if v is None:
        unknown = True
    elif not v >= 0.75:
        return False
    return None if unknown else True


def _passing(op: str, t: Any) -> float:
    if op == "between":
        return float(t[0])
    shift = {"<": -1, ">": 1, "!=": 1}.get(op, 0)
    return float(t + shift)


def contexts(n: int, rng: random.Random) -> list[dict[str, Any]]:
    """Mostly passing values, some missing, some failing: every outcome is exercised."""
    out = []
    for _ in range(n):
        ctx: dict[str, Any] = {}
        for bid, op, t in CHECKS:
            r = rng.random()
            if r < 0.03:
                ctx[bid] = None
            elif r < 0.05:
                ctx[bid] = -1000
            else:
                ctx[bid] = _passing(op, t)
        out.append(ctx)
    return out


def rule_20() -> dict[str, Any]:
    ind = {"id": "x", "name": "X", "kind": "number"}
    bench = [{"benchmark": {"id": bid, "indicator": "x", "aggregate": "latest", "op": op, "threshold": t}}
             for bid, op, t in CHECKS]
    return _plan_doc([ind], {"all": bench})


def _plan_doc(indicators: list[dict[str, Any]], rule: dict[str, Any]) -> dict[str, Any]:
    return {"plan": "bench", "mission": {"id": "m", "name": "M"}, "indicators": indicators,
            "phases": [{"id": "p", "name": "P", "gates": [
                {"id": "g", "name": "G", "rule": rule, "approval": {"roles": ["r"], "quorum": 1}}]}]}


def _jsonlogic(bid: str, op: str, t: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    var = {"var": bid}
    cmp = {"<=": [t[0], var, t[1]]} if op == "between" else {op: [var, t]}
    return {"and": [{"!==": [var, None]}, {"!": cmp}]}, {"===": [var, None]}


def datalogic_rule() -> Callable[[dict[str, Any]], Any] | None:
    try:
        import datalogic_py
    except ImportError:
        return None
    fails, missing = zip(*(_jsonlogic(*c) for c in CHECKS), strict=True)
    logic = {"if": [{"or": list(fails)}, False, {"or": list(missing)}, None, True]}
    return datalogic_py.Engine().compile(logic).evaluate


def zen_rule() -> Callable[[dict[str, Any]], Any] | None:
    try:
        import zen
    except ImportError:
        return None

    def cmp(bid: str, op: str, t: Any) -> str:
        if op == "between":
            return f"({bid} >= {t[0]} and {bid} <= {t[1]})"
        return f"{bid} {op} {t}"

    fails = " or ".join(f"({b} != null and not ({cmp(b, o, t)}))" for b, o, t in CHECKS)
    missing = " or ".join(f"{b} == null" for b, _, _ in CHECKS)
    return zen.compile_expression(f"({fails}) ? false : (({missing}) ? null : true)").evaluate


def _rate(fn: Callable[[Any], Any], ctxs: list[dict[str, Any]], repeat: int) -> dict[str, float]:
    def run() -> None:
        for c in ctxs:
            fn(c)

    times = timeit.repeat(run, number=1, repeat=repeat)
    return {"best_per_s": len(ctxs) / min(times), "median_per_s": len(ctxs) / statistics.median(times)}


def bench_a(quick: bool) -> dict[str, Any]:
    rng = random.Random(SEED)
    ctxs = contexts(2_000 if quick else 20_000, rng)
    plan = load_plan(rule_20())
    compiled = compile_rule(plan.gates["g"].gate.rule)
    contenders: dict[str, Callable[[dict[str, Any]], Any] | None] = {
        "compiled": compiled, "hand_written": hand_written, "datalogic_py": datalogic_rule(), "zen_engine": zen_rule(),
    }
    outcomes = {"pass": 0, "fail": 0, "unknown": 0}
    for c in ctxs:  # every contender must give the same three-valued answer before any timing
        want = hand_written(c)
        outcomes[{True: "pass", False: "fail", None: "unknown"}[want]] += 1
        for name, fn in contenders.items():
            if fn is not None and fn(c) != want:
                raise SystemExit(f"{name} disagrees with the hand-written function on {c}: {fn(c)} != {want}")
    repeat = 3 if quick else 7
    out: dict[str, Any] = {"contexts": len(ctxs), "outcomes": outcomes}
    for name, fn in contenders.items():
        out[name] = _rate(fn, ctxs, repeat) if fn is not None else None
    hw = out["hand_written"]["best_per_s"]
    out["ratio_vs_hand_written"] = {n: round(v["best_per_s"] / hw, 3) for n, v in out.items()
                                    if isinstance(v, dict) and "best_per_s" in v}
    missing = [n for n in ("datalogic_py", "zen_engine") if out[n] is None]
    if missing:
        out["note"] = "not installed: pip install datalogic-py zen-engine"
    return out


# --- (b) one gate of 50 benchmarks over 1,000,000 records ---------------------------------------

AGGS = ["latest", "mean", "min", "max", "sum", "count", "change", "trend"]


def gate_50_doc(indicators: int) -> dict[str, Any]:
    rng = random.Random(SEED)
    inds = [{"id": f"i{k:02d}", "name": f"I{k}", "kind": "number"} for k in range(indicators)]
    benches = []
    for n in range(50):
        agg = AGGS[n % len(AGGS)]
        b: dict[str, Any] = {"id": f"b{n:02d}", "indicator": f"i{n % indicators:02d}", "aggregate": agg,
                             "op": rng.choice(["<=", ">=", "<", ">"]), "threshold": rng.randint(0, 100),
                             "window": rng.choice(["P30D", "P90D", "P180D", "P365D"])}
        if n % 3 == 0:
            b["max_age"] = "P60D"
        benches.append({"benchmark": b})
    rule = {"all": [{"any": benches[:10]}, {"at_least": 5, "of": benches[10:25]},
                    {"score": {"of": benches[25:], "min": 0.6}}]}
    return _plan_doc(inds, rule)


def synthetic_records(n: int, indicators: int, end: int, rng: random.Random) -> list[Record]:
    """Seeded records over five years before `end`, every 50th a correction of an earlier one."""
    span = 5 * 365 * DAY
    out: list[Record] = []
    for k in range(n):
        ind = f"i{k % indicators:02d}"
        if k % 50 == 49:
            target = out[k - indicators * 3]
            out.append(Record(f"r{k}", "m", target.indicator, rng.uniform(0, 100), target.observed_at,
                              target.reported_at + DAY, target.known_at + DAY, "s", target.id))
            continue
        obs = end - span + rng.randrange(span)
        rep = obs + rng.randrange(10 * DAY)
        out.append(Record(f"r{k}", "m", ind, rng.uniform(0, 100), obs, rep, rep, "s"))
    return out


def _unmemoised(index: EvidenceIndex) -> EvidenceIndex:
    """The same records in new series objects (sharing the arrays): an index no evaluation has
    memoised anything on."""
    out = EvidenceIndex(())
    out.series = {k: IndicatorSeries(v.indicator, v.obs, v.known, v.superseded_at, v.is_point, v.values, v.ids)
                  for k, v in index.series.items()}
    out.unusable, out.count = index.unusable, index.count
    return out


def bench_b(quick: bool) -> dict[str, Any]:
    n = 100_000 if quick else 1_000_000
    indicators = 20
    as_of = parse_timestamp("2026-01-01T00:00:00Z")
    plan = load_plan(gate_50_doc(indicators))
    t0 = time.perf_counter()
    records = synthetic_records(n, indicators, as_of, random.Random(SEED))
    t1 = time.perf_counter()
    index = EvidenceIndex(records)
    t2 = time.perf_counter()
    evaluate_gate(plan, "g", index, as_of)  # compiles the gate once
    cold = []
    for i in range(1, (4 if quick else 11)):
        # A new instant each time, on series that have served no evaluation yet: nothing
        # worked out before (views, results, digest states; rules/evaluate.py) is reused.
        fresh = _unmemoised(index)
        s = time.perf_counter()
        result = evaluate_gate(plan, "g", fresh, as_of + i)
        cold.append(time.perf_counter() - s)
    warm = timeit.repeat(lambda: evaluate_gate(plan, "g", index, as_of), number=1, repeat=5 if quick else 11)
    return {
        "records": n, "indicators": indicators, "benchmarks": 50, "status": result["status"],
        "generate_records_s": round(t1 - t0, 3), "build_index_s": round(t2 - t1, 3),
        "evaluate_gate_ms": {"best": round(min(cold) * 1e3, 3), "median": round(statistics.median(cold) * 1e3, 3)},
        "evaluate_gate_same_instant_ms": {"best": round(min(warm) * 1e3, 3),
                                          "median": round(statistics.median(warm) * 1e3, 3)},
        "goal_ms": 50,
    }


# --- (c) plan load and compile ------------------------------------------------------------------


def bench_c(quick: bool) -> dict[str, Any]:
    repeat = 5 if quick else 20
    out: dict[str, Any] = {}
    for name, doc in (("rule_20", rule_20()), ("gate_50", gate_50_doc(20))):
        text = json.dumps(doc)
        load = timeit.repeat(lambda t=text: load_plan(t), number=1, repeat=repeat)  # type: ignore[misc]
        rule = load_plan(doc).gates["g"].gate.rule
        comp = timeit.repeat(lambda r=rule: compile_rule(r), number=1, repeat=repeat)  # type: ignore[misc]
        out[name] = {"load_plan_ms": {"best": round(min(load) * 1e3, 3), "median": round(statistics.median(load) * 1e3, 3)},
                     "compile_ms": {"best": round(min(comp) * 1e3, 3), "median": round(statistics.median(comp) * 1e3, 3)}}
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Rule engine benchmarks (a) compiled rule vs hand-written, "
                                     "(b) a 50-benchmark gate over 1,000,000 records, (c) plan load and compile.")
    parser.add_argument("--json", action="store_true", help="print one JSON object of the figures")
    parser.add_argument("--quick", action="store_true", help="smaller inputs, for development")
    args = parser.parse_args(argv)
    quick = args.quick
    figures = {"a_context_rule": bench_a(quick), "b_gate_over_records": bench_b(quick), "c_load_compile": bench_c(quick)}
    if args.json:
        print(json.dumps(figures))
        return 0
    a, b, c = figures["a_context_rule"], figures["b_gate_over_records"], figures["c_load_compile"]
    print(f"(a) all of 20 benchmarks, {a['contexts']} contexts {a['outcomes']}; evaluations/s (best, median)")
    for name in ("compiled", "hand_written", "datalogic_py", "zen_engine"):
        r = a[name]
        if r is None:
            print(f"    {name:13} not installed: pip install datalogic-py zen-engine")
        else:
            print(f"    {name:13} {r['best_per_s']:>12,.0f} {r['median_per_s']:>12,.0f}   "
                  f"x{a['ratio_vs_hand_written'][name]:.2f} of hand-written")
    print(f"(b) gate of 50 benchmarks over {b['records']:,} records: records {b['generate_records_s']} s, "
          f"index {b['build_index_s']} s (load, once)")
    print(f"    evaluate_gate at a new instant: best {b['evaluate_gate_ms']['best']} ms, "
          f"median {b['evaluate_gate_ms']['median']} ms (goal < {b['goal_ms']} ms); "
          f"same instant again: best {b['evaluate_gate_same_instant_ms']['best']} ms")
    for name, r in c.items():
        print(f"(c) {name}: load_plan best {r['load_plan_ms']['best']} ms (median {r['load_plan_ms']['median']}), "
              f"compile best {r['compile_ms']['best']} ms (median {r['compile_ms']['median']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
