"""Rehearsal performance: wall time and events per second for 1, 5 and 20 years of daily
evidence over a 20-gate plan, and the Valdoria sample's rehearsal (goal: under 30 s).

    nice -n 10 .venv/bin/python benchmarks/rehearse_bench.py [--json] [--quick] [--repeats N]

Each run is a whole rehearsal: its own time-skipping server, worker and SQLite store. An event
is an evidence record fed or an action performed. The baseline is the 1-year run measured in
the same invocation: `per_event_ratio` is each size's seconds per event over the 1-year one's
(1.0 is linear growth). Sizes alternate within each repeat; medians and spread (min, max) are
reported. --quick runs 1 and 5 years and the sample only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rehearsal import load_scenario, rehearse
from schemas.timefmt import DAY, format_timestamp, parse_timestamp

ROOT = Path(__file__).resolve().parent.parent
START = parse_timestamp("2003-01-01T00:00:00Z")
GATES = 20
PHASES = 4


def plan_doc() -> dict[str, Any]:
    per = GATES // PHASES
    phases = []
    for p in range(PHASES):
        gates = [{"id": f"g{p}.{i}", "name": f"gate {p}.{i}",
                  "rule": {"benchmark": {"id": f"b{p}.{i}", "indicator": f"ind{p * per + i}", "aggregate": "latest",
                                         "op": "<=", "threshold": 5}},
                  "approval": {"roles": ["head", "deputy"], "quorum": 1}} for i in range(per)]
        phases.append({"id": f"p{p}", "name": f"phase {p}", "depends_on": [f"p{p - 1}"] if p else [], "gates": gates})
    return {"plan": "bench", "version": "1", "mission": {"id": "bench", "name": "bench"},
            "coordinator_roles": ["coordinator"],
            "indicators": [{"id": f"ind{i}", "name": f"ind{i}", "kind": "number"} for i in range(GATES)],
            "phases": phases}


def write(folder: Path, years: int) -> tuple[Path, int]:
    """One record a day, the indicators in turn; every 90 days the head approves the first
    gate of the running phase (an action that usually lands, sometimes a refusal)."""
    days = years * 365
    (folder / "plan.json").write_text(json.dumps(plan_doc()))
    with (folder / "evidence.jsonl").open("w") as fh:
        for d in range(days):
            fh.write(json.dumps({"id": f"r{d}", "mission": "bench", "indicator": f"ind{d % GATES}",
                                 "value": 1 if (d // GATES) % 3 else 9, "source": "s",
                                 "observed_at": format_timestamp(START + d * DAY + 3_600_000_000)}) + "\n")
    actions = [{"at": format_timestamp(START + d * DAY + 7_200_000_000), "do": "approve",
                "gate": f"g{min(d // 365 * PHASES // max(years, 1), PHASES - 1)}.0", "person": "hana", "role": "head"}
               for d in range(90, days, 90)]
    doc = {"scenario": f"bench-{years}y", "plan": "plan.json", "evidence": "evidence.jsonl",
           "roles": [{"person": "cora", "role": "coordinator", "from": format_timestamp(START)},
                     {"person": "hana", "role": "head", "from": format_timestamp(START)}],
           "start": {"at": format_timestamp(START), "person": "cora", "role": "coordinator"},
           "actions": actions, "checkpoints": [format_timestamp(START + days * DAY)]}
    path = folder / "scenario.json"
    path.write_text(json.dumps(doc))
    return path, days + len(actions) + 1


def timed(path: Path) -> float:
    scn = load_scenario(path)
    t0 = time.perf_counter()
    asyncio.run(rehearse(scn))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    sizes = [1, 5] if args.quick else [1, 5, 20]
    with tempfile.TemporaryDirectory() as tmp:
        cases: dict[str, tuple[Path, int]] = {}
        for y in sizes:
            folder = Path(tmp) / f"{y}y"
            folder.mkdir()
            cases[f"{y}y"] = write(folder, y)
        sample = ROOT / "samples" / "valdoria" / "scenario.yaml"
        scn = load_scenario(sample)
        cases["sample"] = (sample, len(scn.arrivals) + len(scn.doc.actions) + 1)
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.repeats):
            for name, (path, _) in cases.items():
                times[name].append(timed(path))
                if not args.json:
                    print(f"  {name}: {times[name][-1]:.1f} s", file=sys.stderr)
    base = statistics.median(times["1y"]) / cases["1y"][1]
    out: dict[str, Any] = {"repeats": args.repeats, "gates": GATES, "runs": {}}
    for name, (_, events) in cases.items():
        med = statistics.median(times[name])
        out["runs"][name] = {"events": events, "wall_s": round(med, 2), "min_s": round(min(times[name]), 2),
                             "max_s": round(max(times[name]), 2), "events_per_s": round(events / med, 1),
                             "per_event_ratio": round(med / events / base, 2)}
    out["sample_under_30s"] = out["runs"]["sample"]["wall_s"] < 30
    if args.json:
        print(json.dumps(out))
        return
    for name, r in out["runs"].items():
        print(f"{name:>7}: {r['events']:>6} events  {r['wall_s']:>7.1f} s  ({r['min_s']}..{r['max_s']})  "
              f"{r['events_per_s']:>6.1f} events/s  per-event cost x{r['per_event_ratio']} of 1 year's")
    print(f"sample under 30 s: {out['sample_under_30s']}")


if __name__ == "__main__":
    main()
