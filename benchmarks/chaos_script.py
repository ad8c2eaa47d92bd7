"""The chaos run's mission plan and trial scripts: what each trial posts and who approves what.

A trial's script is a pure function of (seed, trial): the records (ids, values, observed_at),
how they are grouped into requests and spread over the posters, which requests are sent a
second time, and the faults. Its final gate states are a function of the script alone:

- `g-steady` passes once any `steady` record is stored; ann (r1) and bob (r2) both approve it
  while evidence flows, so it may be approved in the middle of the storm (that is the race
  invariant (d) watches; bob's vote there is the probe, see Script.probes), and is approved in
  the end either way.
- `g-flip` (latest `flip` >= 50) and `g-mixed` (latest `flag` is true and latest `flip` < 90)
  flip between pass and fail as records arrive. Only ann approves them while evidence flows, so
  quorum (2) is reached only after the storm, on evaluations of all the evidence: they end
  approved exactly when the newest records (by observed_at, all distinct) make them pass.
- `p2`'s `g-final` starts when `p1` completes and is approved then.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

__all__ = ["APPROVERS", "GATES", "PROBER", "QUORUM", "Fault", "Script", "make_script", "plan_document"]

QUORUM = 2
# gate -> (phase, indicators its rule reads)
GATES: dict[str, tuple[str, frozenset[str]]] = {
    "g-steady": ("p1", frozenset({"steady"})),
    "g-flip": ("p1", frozenset({"flip"})),
    "g-mixed": ("p1", frozenset({"flag", "flip"})),
    "g-final": ("p2", frozenset({"steady"})),
}
PHASE_DEPS = {"p1": (), "p2": ("p1",)}
# person -> (role, gates they approve while evidence flows); after it, both approve every gate
APPROVERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ann": ("r1", ("g-steady", "g-flip", "g-mixed", "g-final")),
    "bob": ("r2", ("g-steady",)),
}
PROBES = 3
PROBER = ("bob", "g-steady")  # who stores the probe record right before voting (Script.probes)
COORDINATOR = "cora"
SOURCE = "feed"


def _benchmark(bid: str, indicator: str, aggregate: str, op: str, threshold: object) -> dict[str, Any]:
    return {"benchmark": {"id": bid, "indicator": indicator, "aggregate": aggregate, "op": op,
                          "threshold": threshold}}


def _gate(gid: str, rule: dict[str, Any]) -> dict[str, Any]:
    return {"id": gid, "name": gid, "rule": rule,
            "approval": {"roles": ["r1", "r2", "r3"], "quorum": QUORUM, "distinct_roles": True}}


def plan_document(mission: str) -> dict[str, Any]:
    ind = {"unit": "u", "sources": [SOURCE]}
    return {
        "plan": f"chaos-{mission}", "version": "1",
        "mission": {"id": mission, "name": f"Chaos trial {mission}"},
        "coordinator_roles": ["coordinator"],
        "indicators": [
            {"id": "flip", "name": "Flips around 50", "kind": "number", "min": 0, "max": 100, **ind},
            {"id": "steady", "name": "Any value", "kind": "integer", "min": 0, **ind},
            {"id": "flag", "name": "A yes or no", "kind": "boolean", **ind},
        ],
        "phases": [
            {"id": "p1", "name": "Phase one", "depends_on": [], "gates": [
                _gate("g-steady", _benchmark("b-steady", "steady", "count", ">=", 1)),
                _gate("g-flip", _benchmark("b-flip", "flip", "latest", ">=", 50)),
                _gate("g-mixed", {"all": [_benchmark("b-flag", "flag", "latest", "==", True),
                                          _benchmark("b-cap", "flip", "latest", "<", 90)]}),
            ]},
            {"id": "p2", "name": "Phase two", "depends_on": ["p1"], "gates": [
                _gate("g-final", _benchmark("b-final", "steady", "count", ">=", 1)),
            ]},
        ],
    }


@dataclass(frozen=True)
class Fault:
    at_s: float  # seconds into the storm
    kind: str  # chaos_stack.FAULT_KINDS
    target: str  # the child's name
    hold_s: float  # how long it stays killed or stopped


@dataclass
class Script:
    mission: str
    records: list[dict[str, Any]]
    requests: list[list[int]]  # indices into records; one index: a single-record POST
    posters: list[list[int]]  # per poster, the requests it sends in order (some twice)
    faults: list[Fault] = field(default_factory=list)
    storm_s: float = 10.0
    # Stored by bob right before his vote on g-steady, which he casts on the digest he read
    # before it: an approver clicking while evidence arrives. That vote completes the quorum,
    # so an evaluation behind stored evidence gets approved unless the vote is refused. When
    # the gate was re-evaluated first (the vote refused as stale), he tries again with the next
    # probe, up to PROBES times. (g-steady and g-final end approved whatever the number of
    # probes, and no other gate reads `steady`: the final states stay the script's.)
    probes: list[dict[str, Any]] = field(default_factory=list)


def make_script(seed: int, trial: int, *, records: int, posters: int, storm_s: float, faults: int,
                base_us: int, first_fault: str | None = None, workers_early: bool = False) -> Script:
    """`workers_early` (the quick pass): worker kills come in the storm's first seconds. A task a
    killed worker held is redone only after its 2-minute start-to-close timeout; early, that
    wait overlaps the rest of the storm instead of following it."""
    rng = random.Random(f"exitgate-chaos:{seed}:{trial}")
    mission = f"c{trial:03d}"
    recs: list[dict[str, Any]] = []
    kinds = ["steady", "flip", "flag"]  # each indicator at least once
    kinds += rng.choices(["flip", "steady", "flag"], weights=[4, 3, 3], k=max(0, records - 3))
    for k, ind in enumerate(kinds):
        value: object
        if ind == "flip":
            value = rng.choice([30, 45, 55.5, 70, 95])
        elif ind == "steady":
            value = rng.randint(0, 50)
        else:
            value = rng.random() < 0.6
        # Distinct observed_at (a minute apart, a day ago): `latest` never ties, so the final
        # state does not depend on arrival order.
        recs.append({"id": f"{mission}.r{k:04d}", "mission": mission, "indicator": ind, "value": value,
                     "observed_at": _rfc3339(base_us + k * 60_000_000), "source": SOURCE})
    requests: list[list[int]] = []
    i = 0
    while i < len(recs):
        size = 1 if rng.random() < 0.5 else rng.randint(2, 6)
        requests.append(list(range(i, min(i + size, len(recs)))))
        i += size
    lanes: list[list[int]] = [[] for _ in range(posters)]
    for r in range(len(requests)):
        lanes[r % posters].append(r)
    for r in range(len(requests)):
        if rng.random() < 0.2:  # the same records again, by another poster, later
            lane = lanes[(r + 1) % posters]
            lane.insert(rng.randint(len(lane) // 2, len(lane)), r)
    from chaos_stack import FAULT_KINDS

    targets = {"kill_worker": ["worker-1", "worker-2"], "kill_api": ["api"], "kill_server": ["temporal"],
               "stop_server": ["temporal"]}
    plan: list[Fault] = []
    t = 0.0
    for n in range(faults):
        kind = first_fault if (n == 0 and first_fault) else rng.choice(FAULT_KINDS)
        at = rng.uniform(0.3, 2.0) if (workers_early and kind == "kill_worker") else max(t, rng.uniform(0.3, storm_s * 0.8))
        plan.append(Fault(round(at, 2), kind, rng.choice(targets[kind]), round(rng.uniform(0.3, 2.5), 2)))
        t = max(t, at) + 1.0
    probes = [{"id": f"{mission}.probe{k}", "mission": mission, "indicator": "steady", "value": 7,
               "observed_at": _rfc3339(base_us + (len(recs) + k) * 60_000_000), "source": SOURCE}
              for k in range(1, PROBES + 1)]
    return Script(mission, recs, requests, lanes, plan, storm_s, probes)


def _rfc3339(us: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(us // 1_000_000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
