"""Equality between a timeline step and `evaluate_gate` at the same instant."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from rules.evaluate import Waiver, evaluate_gate
from rules.plan import LoadedPlan
from rules.series import EvidenceIndex
from rules.timeline import Timeline


def benchmark_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if node["node"] == "benchmark":
        yield node
    for c in node.get("children", []):
        yield from benchmark_nodes(c)


def same_value(a: Any, b: Any, aggregate: str) -> bool:
    """Bit for bit, sign of zero included, for every aggregate (trend too, see
    rules.timeline._trend)."""
    del aggregate
    return type(a) is type(b) and repr(a) == repr(b)


def mismatches(plan: LoadedPlan, index: EvidenceIndex, tl: Timeline,
               waivers: Iterable[Waiver] = (), every: int = 1) -> list[str]:
    ws = list(waivers)
    out: list[str] = []
    for i in range(0, len(tl.instants), every):
        t = tl.instants[i]
        step = tl.at(i)
        for gid in tl.gates:
            ref = evaluate_gate(plan, gid, index, t, ws)
            if ref["status"] != step[gid]["status"]:
                out.append(f"{t} {gid}: {step[gid]['status']} != {ref['status']}")
            for node in benchmark_nodes(ref["explanation"]):
                got = step[gid]["benchmarks"][node["benchmark"]]
                want = {"status": node["status"], "value": node["value"], "points": node["points"]}
                if got["status"] != want["status"] or got["points"] != want["points"] \
                        or not same_value(got["value"], want["value"], node["aggregate"]):
                    out.append(f"{t} {gid}/{node['benchmark']}: {got} != {want}")
    return out
