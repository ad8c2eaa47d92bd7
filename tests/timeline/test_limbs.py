"""Exact window sums in int64 limbs (`rules.timeline._limbs`, `_limb_sums`): for values whose
binary digits span at most 96 bits, every window's sum at every step is fsum's, bit for bit,
sign of zero included; carries between limbs, cancellation to zero, negative totals, sums that
round on a tie and subnormal results (done in Python ints) among them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rules.timeline as tlmod
from rules.evidence import Record
from rules.plan import LoadedPlan, load_plan
from rules.series import EvidenceIndex
from rules.timeline import _IndicatorState, timeline
from schemas.timefmt import DAY, HOUR

from .compare import mismatches
from .test_walk import _fsum_keeping_sign

T0 = 19_700 * DAY


def _plan() -> LoadedPlan:
    leaves = [{"benchmark": {"id": f"{a}{w or ''}", "indicator": "x", "aggregate": a, "op": ">=", "threshold": 0,
                             **({"window": w} if w else {})}}
              for a in ("sum", "mean", "trend") for w in (None, "P2D", "P5D")]
    return load_plan({
        "plan": "p", "version": "1", "mission": {"id": "m", "name": "M"},
        "indicators": [{"id": "x", "name": "x", "unit": "u", "kind": "number"}],
        "phases": [{"id": "ph", "name": "ph", "gates": [
            {"id": "g", "name": "g", "rule": {"all": leaves}, "approval": {"roles": ["r"], "quorum": 1}}]}]})


def _index(values: list[float], late: list[int]) -> EvidenceIndex:
    recs = [Record(f"r{n}", "m", "x", v, T0 + n * 12 * HOUR, T0 + n * 12 * HOUR + d * DAY, T0 + n * 12 * HOUR + d * DAY,
                   "s") for n, (v, d) in enumerate(zip(values, late, strict=True))]
    return EvidenceIndex(recs)


def _limb_totals(index: EvidenceIndex, steps: np.ndarray) -> bool:
    state = _IndicatorState(index.series["x"], [None], steps)
    return bool(state.windows[None].totals.ndim == 2)


def _check(values: list[float], late: list[int] | None = None) -> None:
    plan = _plan()
    index = _index(values, late or [0] * len(values))
    tl = timeline(plan, index, T0 - DAY, T0 + (len(values) // 2 + 4) * DAY, 6 * HOUR)
    assert mismatches(plan, index, tl) == []
    # The sums of the whole history, step by step, against fsum of what is known then.
    known = [T0 + n * 12 * HOUR + d * DAY for n, d in enumerate(late or [0] * len(values))]
    for i, t in enumerate(tl.instants):
        want = math.fsum([v for v, k in zip(values, known, strict=True) if k <= t])
        assert repr(tl.benchmarks["sum"].value[i]) == repr(want)


# Every bit of the three limbs set: (2**53 - 1) * 2**-53 is the smallest unit, (2**53 - 1) *
# 2**-10 reaches bit 95; their sums carry from each limb into the next.
A = (2.0**53 - 1) * 2.0**-10
B = (2.0**53 - 1) * 2.0**-53
CARRIES = [A, A, B, -A, B, A / 2, -B, 0.5, B, B, -A, A, A / 4]


def test_carries_cancellation_and_ties() -> None:
    assert _limb_totals(_index(CARRIES, [0] * len(CARRIES)), np.array([T0 + 10 * DAY]))
    _check(CARRIES)
    # 2**53 + 1 is a tie between 2**53 and 2**53 + 2: fsum rounds to even.
    _check([2.0**53, 1.0, 1.0, -1.0, 0.5, -0.5, -(2.0**53), 3.0], late=[0, 0, 3, 1, 0, 2, 4, 0])


def test_a_sum_whose_top_limb_is_past_2_29_to_the_last_bit() -> None:
    # The top limb of 46489281088.909996 (in units of 2**-60) is past 2**29, where the sum is
    # done in Python ints; its low limb decides the rounding (found by a search).
    values = [46489281088.909996, 0.00587081986954468]
    assert _limb_totals(_index(values, [0, 0]), np.array([T0 + 10 * DAY]))
    _check(values)


def test_signed_zeros_and_exact_zero_sums() -> None:
    _check([0.1, -0.1, -0.0, 0.7, -0.7, -0.0, -0.0, 0.25, -0.25])


def test_negative_zero_sums_in_limbs_where_fsum_keeps_the_sign(monkeypatch: pytest.MonkeyPatch) -> None:
    # As in test_walk, for values in limbs: a window of -0.0 alone sums to -0.0, one that
    # also held 0.5 and -0.5 to +0.0.
    monkeypatch.setattr(math, "fsum", _fsum_keeping_sign(math.fsum))
    monkeypatch.setattr(tlmod, "_FSUM_NEGZERO", True)
    values = [-0.0, -0.0, 0.5, -0.5, -0.0, -0.0, -0.0, -0.0, -0.0, -0.0]
    assert _limb_totals(_index(values, [0] * len(values)), np.array([T0 + 10 * DAY]))
    _check(values)


def test_subnormal_results_fall_back_to_python_ints() -> None:
    tiny = [2.0**-1000, -(2.0**-1000) + 2.0**-1040, 2.0**-1040, -(2.0**-1040)]
    assert _limb_totals(_index(tiny, [0] * 4), np.array([T0 + 10 * DAY]))
    _check(tiny)
    _check([5e-324 * 3, -5e-324, 2.0**-1030])


def test_more_than_2_20_values_take_python_ints() -> None:
    # `_sums` adds the limbs of the points entering at one instant in a float64 bincount,
    # exact only while fewer than 2**21 limbs below 2**32 meet there: past 2**20 values the
    # totals are Python ints. (`_exact` alone: two million points through the timeline and
    # evaluate would take far longer.)
    state = _IndicatorState.__new__(_IndicatorState)
    ints = state._exact(np.full(2**20 + 1, 0.75))
    assert ints.ndim == 1 and ints[0] / state.scale == 0.75


def test_wide_values_take_python_ints() -> None:
    wide = [1e300, 1.0, -1e300, 1e-300]
    assert not _limb_totals(_index(wide, [0] * 4), np.array([T0 + 10 * DAY]))
    _check(wide)


finite = st.builds(lambda m, e: math.ldexp(m, e), st.integers(-(2**53) + 1, 2**53 - 1), st.integers(-80, 0))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(finite | st.sampled_from([0.0, -0.0, 0.1, -0.1, 1e15 + 0.5]), st.integers(0, 3)),
                min_size=1, max_size=25))
def test_random_values_within_96_bits(points: list[tuple[float, int]]) -> None:
    values = [v for v, _ in points]
    _check(values, [d for _, d in points])


def test_fails_when_broken(monkeypatch: Any) -> None:
    """The checks above can fail: limbs that drop the carries give other sums."""
    def no_carries(totals: np.ndarray, shift: int) -> tuple[np.ndarray, np.ndarray]:
        out = np.ldexp(totals[0].astype(np.float64) + totals[1] * 2.0**32, -shift)
        return out, out == 0

    monkeypatch.setattr(tlmod, "_limb_sums", no_carries)
    plan = _plan()
    index = _index(CARRIES, [0] * len(CARRIES))
    assert mismatches(plan, index, timeline(plan, index, T0 - DAY, T0 + 6 * DAY, 6 * HOUR)) != []
