"""`plan test` performance: 1,000 cases over a plan of 50 benchmarks, against evaluating the
same cases one `evaluate` call each.

    .venv/bin/python benchmarks/plantest_bench.py [--json] [--quick] [--cli N]

The test file (JSON, and the same in YAML) holds 1,000 cases at instants spread over three
years of a 1,000-record evidence file (the sample mission has 306); every 5th case adds three inline records. Each case
expects every gate's status and the status and points of five benchmarks, taken from one
untimed evaluation first, so every case passes.

- `plan test`: load the test file and the plan, run every case, compare, and measure
  coverage: what `exitgate plan test FILE --coverage` does, without printing.
- baseline `evaluate`: per case what `exitgate evaluate --plan P --evidence F --as-of T` does
  in process: load the plan, read the evidence file (plus the case's records), build the index,
  evaluate. The comparison with the expectations is left out, in the baseline's favour.
- `--cli N` also times N real `exitgate evaluate` processes and gives their mean per case.

Timings (wall clock, and the process's CPU time, which a busy shared machine inflates less)
are medians of repeats that alternate the contenders; inputs come from a fixed seed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rules.coverage import coverage
from rules.evaluate import evaluate
from rules.evidence import read_jsonl
from rules.plan import load_plan_file
from rules.plantest import benchmark_nodes, load_suite, run_suite
from rules.series import EvidenceIndex
from schemas.timefmt import DAY, format_timestamp, parse_timestamp

SEED = 20261202
START = parse_timestamp("2023-01-01T00:00:00Z")
N_INDICATORS = 10
N_GATES = 10
PER_GATE = 5  # 50 benchmarks
N_RECORDS = 1_000
GOAL_S = 2.0


def plan_doc(rng: random.Random) -> dict[str, Any]:
    inds = [{"id": f"i{k}", "name": f"I{k}", "kind": "number", "sources": ["s"]} for k in range(N_INDICATORS)]
    gates, n = [], 0
    for g in range(N_GATES):
        leaves = []
        for _ in range(PER_GATE):
            b: dict[str, Any] = {"id": f"b{n}", "indicator": f"i{n % N_INDICATORS}",
                                 "aggregate": rng.choice(["mean", "latest", "max", "min", "sum", "trend"]),
                                 "op": rng.choice(["<=", ">="]), "threshold": rng.randint(20, 80),
                                 "window": rng.choice(["P30D", "P90D", "P180D"]), "min_points": rng.randint(1, 3)}
            if n % 3 == 0:
                b["max_age"] = "P60D"
            leaves.append({"benchmark": b})
            n += 1
        rule = {"all": [leaves[0], {"any": leaves[1:3]}, {"at_least": 1, "of": leaves[3:]}]}
        gates.append({"id": f"g{g}", "name": f"G{g}", "rule": rule, "approval": {"roles": ["r"], "quorum": 1}})
    return {"plan": "bench", "mission": {"id": "m", "name": "M"}, "indicators": inds,
            "phases": [{"id": "p", "name": "P", "gates": gates}]}


def records(rng: random.Random) -> list[dict[str, Any]]:
    span = 3 * 365 * DAY
    out = []
    for k in range(N_RECORDS):
        obs = START + rng.randrange(span)
        out.append({"id": f"r{k}", "mission": "m", "indicator": f"i{k % N_INDICATORS}", "value": rng.uniform(0, 100),
                    "observed_at": format_timestamp(obs), "reported_at": format_timestamp(obs + rng.randrange(5 * DAY)),
                    "source": "s"})
    return out


def build(folder: Path, n_cases: int) -> tuple[Path, Path, list[tuple[int, list[dict[str, Any]]]]]:
    rng = random.Random(SEED)
    (folder / "plan.json").write_text(json.dumps(plan_doc(rng)))
    (folder / "evidence.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records(rng)))
    plan = load_plan_file(folder / "plan.json")
    base, _ = read_jsonl((folder / "evidence.jsonl").read_text(), plan)
    shared = EvidenceIndex(base.records.values())
    cases, inputs = [], []
    for c in range(n_cases):
        at = START + 30 * DAY + rng.randrange(3 * 365 * DAY - 30 * DAY)
        extra = [] if c % 5 else [{"id": f"c{c}.{j}", "indicator": f"i{rng.randrange(N_INDICATORS)}",
                                   "value": rng.uniform(0, 100), "observed_at": format_timestamp(at - j * DAY)}
                                  for j in range(3)]
        if extra:
            ledger, _ = read_jsonl((folder / "evidence.jsonl").read_text(), plan)
            for r in extra:
                ledger.add({"mission": "m", "source": "s", **r})
            index = EvidenceIndex(ledger.records.values())
        else:
            index = shared
        got = evaluate(plan, index, at)  # the expectations, untimed
        nodes = [n for g in got["gates"] for n in benchmark_nodes(g["explanation"])]
        case: dict[str, Any] = {
            "name": f"case {c}", "as_of": format_timestamp(at),
            "expect": {"gates": {g["gate"]: g["status"] for g in got["gates"]},
                       "benchmarks": {n["benchmark"]: {"status": n["status"], "points": n["points"]}
                                      for n in rng.sample(nodes, 5)}}}
        if extra:  # records alone would replace the file: name it too
            case.update(evidence="evidence.jsonl", records=extra)
        cases.append(case)
        inputs.append((at, extra))
    doc = {"plan": "plan.json", "evidence": "evidence.jsonl", "cases": cases}
    (folder / "t.json").write_text(json.dumps(doc))
    (folder / "t.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return folder / "t.json", folder / "t.yaml", inputs


def run_plan_test(path: Path) -> tuple[float, float]:
    t, cpu = time.perf_counter(), time.process_time()
    suite = load_suite(path)
    results = run_suite(suite)
    coverage(suite.plan, [r.evaluation for r in results])
    elapsed = time.perf_counter() - t, time.process_time() - cpu
    failed = [r for r in results if not r.passed]
    if failed:
        raise SystemExit(f"{len(failed)} cases failed, e.g. {failed[0].mismatches[0].text}")
    return elapsed


def run_baseline(folder: Path, inputs: list[tuple[int, list[dict[str, Any]]]]) -> tuple[float, float]:
    t, cpu = time.perf_counter(), time.process_time()
    for at, extra in inputs:
        plan = load_plan_file(folder / "plan.json")
        ledger, _ = read_jsonl((folder / "evidence.jsonl").read_text(), plan)
        for r in extra:
            ledger.add({"mission": "m", "source": "s", **r})
        evaluate(plan, EvidenceIndex(ledger.records.values()), at)
    return time.perf_counter() - t, time.process_time() - cpu


def run_cli(folder: Path, inputs: list[tuple[int, list[dict[str, Any]]]], n: int) -> float | None:
    if n == 0:
        return None
    exe = Path(sys.executable).with_name("exitgate")
    t = time.perf_counter()
    for at, _ in inputs[:n]:
        subprocess.run([str(exe), "evaluate", "--plan", str(folder / "plan.json"), "--evidence",
                        str(folder / "evidence.jsonl"), "--as-of", format_timestamp(at), "--format", "json"],
                       check=True, capture_output=True)
    return (time.perf_counter() - t) / n


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="plan test of 1,000 cases over 50 benchmarks vs one evaluate each")
    parser.add_argument("--json", action="store_true", help="print one JSON object of the figures")
    parser.add_argument("--quick", action="store_true", help="200 cases and fewer repeats, for development")
    parser.add_argument("--cli", type=int, default=3, help="also time this many `exitgate evaluate` processes")
    args = parser.parse_args(argv)
    n_cases, repeat = (200, 2) if args.quick else (1_000, 3)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        as_json, as_yaml, inputs = build(folder, n_cases)
        timed: dict[str, list[tuple[float, float]]] = {"plan_test_json": [], "plan_test_yaml": [], "evaluate_each": []}
        for _ in range(repeat):  # alternating, so drift in the machine's load hits all alike
            timed["plan_test_json"].append(run_plan_test(as_json))
            timed["evaluate_each"].append(run_baseline(folder, inputs))
            timed["plan_test_yaml"].append(run_plan_test(as_yaml))
        cli = run_cli(folder, inputs, args.cli)
    wall = {k: statistics.median(w for w, _ in v) for k, v in timed.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in timed.items()}
    figures: dict[str, Any] = {
        "cases": n_cases, "benchmarks": N_GATES * PER_GATE, "records": N_RECORDS, "repeats": repeat,
        "load_average_1min": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
        **{f"{k}_s": round(v, 3) for k, v in wall.items()},
        **{f"{k}_cpu_s": round(v, 3) for k, v in cpu.items()},
        "speedup_vs_evaluate_each": round(wall["evaluate_each"] / wall["plan_test_json"], 1),
        "goal_s": GOAL_S, "goal_met": wall["plan_test_json"] < GOAL_S,
        "cli_evaluate_per_case_s": None if cli is None else round(cli, 3),
        "cli_evaluate_all_cases_s_estimated": None if cli is None else round(cli * n_cases, 1),
    }
    if args.json:
        print(json.dumps(figures))
        return 0
    f = figures
    print(f"plan test of {n_cases} cases over {f['benchmarks']} benchmarks, {N_RECORDS:,} records "
          f"(median of {repeat}; load average {f['load_average_1min']} on {f['cpus']} CPUs):")
    print("                              wall s     cpu s")
    print(f"  plan test, JSON test file  {f['plan_test_json_s']:>8}  {f['plan_test_json_cpu_s']:>8}   (goal < {GOAL_S} s)")
    print(f"  plan test, YAML test file  {f['plan_test_yaml_s']:>8}  {f['plan_test_yaml_cpu_s']:>8}")
    print(f"  one evaluate per case      {f['evaluate_each_s']:>8}  {f['evaluate_each_cpu_s']:>8}   "
          f"plan test is x{f['speedup_vs_evaluate_each']} faster")
    if cli is not None:
        print(f"  `exitgate evaluate` process per case: {cli:.2f} s each, about "
              f"{figures['cli_evaluate_all_cases_s_estimated']} s for all {n_cases}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
