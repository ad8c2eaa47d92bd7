"""The compiled rules, fast and recording, on every combination of child statuses and waivers
of a few small trees, against the reference combinators. The fast variant stops at the first
child that decides a node: a child after that (unknown, failing, waived) must change nothing."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from rules.compiler import compile_rule, compile_rule_recording

from . import reference as ref
from .helpers import bench, plan_with_rule

LEAVES = ("l1", "l2", "l3")
VALUE = {True: 3, False: 9, None: None}  # latest <= 5: 3 passes, 9 fails, missing is unknown


def _leaf(bid: str, **kw: Any) -> dict[str, Any]:
    return bench(bid, "inc", aggregate="latest", op="<=", threshold=5, **kw)


L1, L2, L3 = (_leaf(b) for b in LEAVES)
TREES: list[dict[str, Any]] = [
    {"all": [L1, L2, L3]},
    {"any": [L1, L2, L3]},
    {"all": [{"not": L1}, L2, L3]},
    {"any": [{"not": L1}, L2, L3]},
    {"all": [{"any": [L1, L2]}, L3]},
    {"any": [{"all": [L1, L2]}, L3]},
    {"all": [{"all": [L1]}, {"any": [L2]}, L3]},
    {"any": [{"not": {"any": [L1]}}, {"all": [L2]}, L3]},
    {"at_least": 2, "of": [L1, L2, L3]},
    {"at_least": 1, "of": [L1, {"not": L2}, L3]},
    {"all": [{"at_least": 2, "of": [L1, L2]}, L3]},
    {"score": {"of": [_leaf("l1", weight=2), L2, L3], "min": 0.5}},
    {"score": {"of": [L1, {"any": [L2, L3], "weight": 3}], "min": 0.75}},
    {"any": [{"score": {"of": [L1, L2], "min": 1}}, L3]},
    {"not": {"at_least": 3, "of": [L1, L2, L3]}},
]


@pytest.mark.parametrize("tree", TREES, ids=[str(i) for i in range(len(TREES))])
def test_compiled_rules_agree_with_the_reference_everywhere(tree: dict[str, Any]) -> None:
    plan = plan_with_rule(tree)
    node = plan.document["phases"][0]["gates"][0]["rule"]
    model = plan.gates["g1"].gate.rule
    waivable = sorted(ref.waivable(node))
    for size in range(len(waivable) + 1):
        for waived in itertools.combinations(waivable, size):
            fast, recording = compile_rule(model, waived), compile_rule_recording(model, waived)
            for combo in itertools.product((True, False, None), repeat=len(LEAVES)):
                own = dict(zip(LEAVES, combo, strict=True))
                ctx = {bid: VALUE[s] for bid, s in own.items()}
                want = ref.statuses(node, {bid: True if bid in waived else s for bid, s in own.items()})
                assert recording(ctx) == want, (waived, own)
                assert fast(ctx) is want[0], (waived, own)
