"""The independent check: a reference simulator written from the contract alone
(tests/rehearsal/reference.py) agrees with `rehearse` on every phase state, gate state, rule
status, vote (signer, role, principal), waiver and action outcome, over votes, withdrawals,
waivers, reopens, grants, role ends and delegations, at every checkpoint of generated scenarios.

Each example runs the whole stack (a test server, a worker, the store, the service), a few
seconds apiece: few examples (EXITGATE_REHEARSAL_EXAMPLES, default 6), and the test says how
many ran."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.timefmt import parse_timestamp

from .helpers import day, run, write
from .reference import Reference

EXAMPLES = int(os.environ.get("EXITGATE_REHEARSAL_EXAMPLES", "6"))
RAN: list[int] = []
OUTCOMES: list[str | None] = []

REGISTER = [
    {"person": "cora", "role": "coordinator", "from": "2023-01-01T00:00:00Z"},
    {"person": "cleo", "role": "coordinator", "from": "2023-01-01T00:00:00Z"},
    {"person": "cleo", "role": "host", "from": "2023-01-01T00:00:00Z"},
    {"person": "hana", "role": "head", "from": "2023-01-01T00:00:00Z"},
    {"person": "hugo", "role": "host", "from": "2023-01-01T00:00:00Z"},
    {"person": "dara", "role": "deputy", "from": "2023-01-01T00:00:00Z"},
    {"person": "dino", "role": "deputy", "from": "2023-01-01T00:00:00Z", "until": day(5)},
    {"person": "nina", "role": "head", "from": "2023-01-01T00:00:00Z", "until": day(1)},
]
VOTERS = [("hana", "head"), ("hugo", "host"), ("dara", "deputy"), ("dino", "deputy"), ("cleo", "host"),
          ("hana", "head"), ("hugo", "host"), ("dara", "deputy"), ("hana", "host"), ("cora", "head")]


def _gate(gid: str, indicator: str, quorum: int) -> dict[str, Any]:
    return {"id": gid, "name": gid,
            "rule": {"benchmark": {"id": f"{gid}.low", "indicator": indicator, "aggregate": "latest", "op": "<=",
                                   "threshold": 5}},
            "approval": {"roles": ["head", "host", "deputy"], "quorum": quorum, "distinct_roles": True,
                         "waiver_roles": ["head"]}}


PLAN = {"plan": "reference-check", "version": "1", "mission": {"id": "m1", "name": "m1"},
        "coordinator_roles": ["coordinator"],
        "indicators": [{"id": i, "name": i, "kind": "number"} for i in ("ind.a", "ind.b")],
        "phases": [{"id": "p1", "name": "p1", "depends_on": [], "gates": [_gate("ga", "ind.a", 1)]},
                   {"id": "p2", "name": "p2", "depends_on": ["p1"], "gates": [_gate("gb", "ind.b", 2)]}]}


@st.composite
def scenarios(draw: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    n_rec = draw(st.integers(2, 7))
    records = []
    for i in range(n_rec):
        d = draw(st.integers(1, 8))
        # A unique observation instant per record: each new record is its indicator's latest.
        at = day(d, i)
        records.append({"id": f"r{i}", "mission": "m1", "indicator": draw(st.sampled_from(["ind.a", "ind.b"])),
                        "value": draw(st.sampled_from([1, 1, 9])), "observed_at": at, "source": "s"})
    acts = []
    for _ in range(draw(st.integers(6, 16))):
        d, h = draw(st.integers(1, 9)), draw(st.sampled_from([0, 12]))
        kind = draw(st.sampled_from(["approve", "approve", "approve", "reject", "withdraw", "waive", "revoke_waiver",
                                     "reopen", "grant", "end_role", "delegate", "delegate"]))
        gate = draw(st.sampled_from(["ga", "gb", "gb"]))
        person, role = draw(st.sampled_from(VOTERS))
        a: dict[str, Any] = {"at": day(d, h), "do": kind}
        behalf = draw(st.sampled_from([None, None, None, "dara", "hugo", "nina"]))
        if kind in ("approve", "reject"):
            a |= {"gate": gate, "person": person, "role": role}
            if kind == "reject":
                a["reason"] = "no"
        elif kind == "withdraw":
            a |= {"gate": gate, "person": person, "reason": "back"}
        elif kind == "grant":
            a |= {"person": draw(st.sampled_from(["nina", "hugo"])), "role": draw(st.sampled_from(ROLES)),
                  "by": draw(st.sampled_from(["cora", "cora", "hana"])),
                  "by_role": draw(st.sampled_from(["coordinator", "coordinator", "head"]))}
            if draw(st.booleans()):
                a["until"] = day(d + 2)
        elif kind == "end_role":
            a |= {"person": draw(st.sampled_from(["nina", "dino", "hugo"])), "role": draw(st.sampled_from(ROLES)),
                  "by": "cora", "by_role": "coordinator"}
        elif kind == "delegate":
            who = draw(st.sampled_from(["dara", "hugo", "nina"]))
            a |= {"person": who, "role": draw(st.sampled_from(ROLES)),
                  "to": draw(st.sampled_from([p for p in ("hugo", "dara", "nina", "hana") if p != who])),
                  "until": day(d + 3), "gates": draw(st.sampled_from([None, ["ga"], ["gb"]]))}
            if a["gates"] is None:
                del a["gates"]
        elif kind in ("waive", "revoke_waiver"):
            a |= {"gate": gate, "benchmark": f"{gate}.low", "person": "hana", "role": "head"}
            if kind == "waive":
                a["justification"] = "j"
        else:
            a |= {"phase": draw(st.sampled_from(["p1", "p2"])), "person": draw(st.sampled_from(["cora", "cleo"])),
                  "role": "coordinator", "reason": "review"}
        if kind in ("approve", "reject", "withdraw", "waive", "revoke_waiver") and behalf is not None:
            a["on_behalf_of"] = behalf
        acts.append(a)
    acts.sort(key=lambda a: parse_timestamp(a["at"]))
    return records, acts


ROLES = ["head", "host", "deputy"]
CHECKPOINTS = [day(2, 18), day(4, 18), day(6, 18), day(9, 18)]


def reference(records: list[dict[str, Any]], acts: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    ref = Reference(PLAN, REGISTER, parse_timestamp)
    start = {"at": day(1, 6), "person": "cora", "role": "coordinator"}
    numbered = list(enumerate([start, *acts]))
    events: list[tuple[int, int, int, Any]] = [(parse_timestamp(r["observed_at"]), 0, i, r) for i, r in enumerate(records)]
    events += [(parse_timestamp(a["at"]), 1, n, a) for n, a in numbered]
    events += [(parse_timestamp(c), 2, i, c) for i, c in enumerate(CHECKPOINTS)]
    outcomes: list[Any] = [None] * len(numbered)
    snaps = []
    for _, kind, n, x in sorted(events, key=lambda e: e[:3]):
        if kind == 0:
            ref.evidence(x)
        elif kind == 1:
            outcomes[n] = ref.act(x)
        else:
            snaps.append(ref.snapshot())
    return outcomes, snaps


def observed(t: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    outs = [None if a["outcome"] == "accepted" else a.get("refusal") or f"invalid {a.get('field')}"
            for a in t["actions"]]
    snaps = [{"phases": c["phases"],
              "gates": {gid: {"state": g["state"], "rule_status": g["rule_status"],
                              "approvals": [[v["person"], v["role"], v["principal"]] for v in g["approvals"]],
                              "rejections": [[v["person"], v["role"], v["principal"]] for v in g["rejections"]],
                              "waivers": [w["benchmark"] for w in g["waivers"]], "rejected": g["rejected"]}
                        for gid, g in c["gates"].items()}}
             for c in t["checkpoints"]]
    return outs, snaps


@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=scenarios())
def test_rehearse_agrees_with_the_reference(tmp_path: Path, case: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    records, acts = case
    folder = tmp_path / f"case{len(RAN)}"
    folder.mkdir()
    path = write(folder, acts, records, CHECKPOINTS, plan=PLAN,
                 start={"at": day(1, 6), "person": "cora", "role": "coordinator"})
    # The register of this test, not the helpers' default one.
    import yaml

    doc = yaml.safe_load(path.read_text())
    doc["roles"] = REGISTER
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    want_outs, want_snaps = reference(records, acts)
    got_outs, got_snaps = observed(run(path))
    RAN.append(len(acts))
    OUTCOMES.extend(got_outs)
    assert got_outs == want_outs, list(zip(range(len(acts) + 1), [{"do": "start"}, *acts], got_outs, want_outs, strict=True))
    for at, g, w in zip(CHECKPOINTS, got_snaps, want_snaps, strict=True):
        assert g == w, at


def test_say_how_many_ran(capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        kinds = Counter(o or "accepted" for o in OUTCOMES)
        print(f"\nreference agreement: {len(RAN)} generated scenarios, {sum(RAN)} actions through rehearse, "
              f"outcomes: {dict(sorted(kinds.items()))}")
