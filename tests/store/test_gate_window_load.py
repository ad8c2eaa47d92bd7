"""Loading only what a gate can see (its windows, plus corrections) gives exactly the evaluation
of a full read: same statuses, values, reasons, evidence and digests."""

from __future__ import annotations

from rules.evaluate import evaluate_gate
from rules.plan import LoadedPlan, load_plan
from schemas.timefmt import DAY, parse_timestamp
from store import Store


def test_windowed_load_equals_full_load_on_the_sample(store: Store, sample_plan: LoadedPlan,
                                                      sample_lines: list[str]) -> None:
    store.ingest(sample_plan, sample_lines, backfill=True, actor="t", lines=True)
    start = parse_timestamp("2023-02-01T00:00:00Z")
    for step in range(0, 30 * 30, 9):  # every 9 days over 2.5 years
        t = start + step * DAY
        for gate in sample_plan.gates:
            full = store.evidence_index("valdoria", t, sample_plan.gate_indicators(gate))
            part = store.evidence_index("valdoria", t, sample_plan.gate_indicators(gate),
                                        sample_plan.gate_horizons(gate))
            assert evaluate_gate(sample_plan, gate, part, t) == evaluate_gate(sample_plan, gate, full, t), (gate, t)


def test_correction_observed_before_the_window(store: Store) -> None:
    plan = load_plan({
        "plan": "w", "mission": {"id": "m", "name": "m"},
        "indicators": [{"id": "x", "name": "x", "kind": "number"}],
        "phases": [{"id": "p", "name": "p", "gates": [{"id": "g", "name": "g", "approval": {"roles": ["a"], "quorum": 1},
                    "rule": {"benchmark": {"id": "b", "indicator": "x", "aggregate": "mean", "op": "<=",
                                           "threshold": 10, "window": "P30D", "max_age": "P20D"}}}]}]})
    recs = [
        {"id": "old", "mission": "m", "indicator": "x", "value": 1, "observed_at": "2024-01-01T00:00:00Z",
         "reported_at": "2024-01-02T00:00:00Z", "source": "s"},
        {"id": "in", "mission": "m", "indicator": "x", "value": 50, "observed_at": "2024-03-10T00:00:00Z",
         "reported_at": "2024-03-11T00:00:00Z", "source": "s"},
        # Re-keyed to an earlier month: observed outside the window, but it supersedes "in".
        {"id": "fix", "mission": "m", "indicator": "x", "value": 5, "observed_at": "2024-01-15T00:00:00Z",
         "reported_at": "2024-03-20T00:00:00Z", "source": "s", "supersedes": "in"},
    ]
    assert [o.status for o in store.ingest(plan, recs, backfill=True, actor="t")] == ["stored"] * 3
    for t in ("2024-03-15T00:00:00Z", "2024-03-25T00:00:00Z", "2024-05-01T00:00:00Z"):
        at = parse_timestamp(t)
        full = evaluate_gate(plan, "g", store.evidence_index("m", at, ["x"]), at)
        part = evaluate_gate(plan, "g", store.evidence_index("m", at, ["x"], plan.gate_horizons("g")), at)
        assert part == full, t
