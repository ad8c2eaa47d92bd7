"""Mutation testing: does the suite fail when the code is wrong?

Each mutant is one small deliberate bug (a comparison flipped, `and` for `or`, a `not` dropped,
a constant or an arithmetic operator changed, a call or an update removed, `min` for `max`),
made by walking the module's syntax tree. It is written into a temporary copy of the tree, never
into the checkout, and the module's own pytest selection (TABLE below) runs against it with
`-x`: a failing run kills the mutant, a passing one lets it survive.

Repeatable: mutants are enumerated in source order and the property tests are derandomised
(the `mutation` hypothesis profile of tests/conftest.py: fewer examples, no shrinking), so two
runs on the same code give the same table. It is slow, so it is not part of the test command:

    .venv/bin/python scripts/mutate.py                      # every module of TABLE
    .venv/bin/python scripts/mutate.py rules/evaluate.py    # some of them
    .venv/bin/python scripts/mutate.py --json               # one JSON object on stdout
    .venv/bin/python scripts/mutate.py --list rules/tree.py # the mutants, without running them

To be fast, one process imports pytest and the heavy libraries once and forks a child per
mutant; the child imports the project fresh from the copy and runs pytest in process. A mutant
that makes its tests run past a time limit (an endless loop) counts as killed. Survivors that
change no behaviour are listed in EQUIVALENT with the reason; the score leaves them out.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RULE_TESTS = ("tests/rules/test_explanation_contract.py", "tests/rules/test_compiler.py", "tests/rules/test_valid_until.py",
              "tests/rules/test_reference_property.py", "tests/test_sample_expected.py")

# module -> the tests that should catch its bugs, fastest and most pointed first (-x stops at
# the first failure). Add a module by adding a line.
TABLE: dict[str, tuple[str, ...]] = {
    "rules/tree.py": (*RULE_TESTS, "tests/rules/test_plan_rejections.py"),
    "rules/compiler.py": RULE_TESTS,
    "rules/evaluate.py": (*RULE_TESTS, "tests/timeline/test_exact.py", "tests/rules/test_value_range.py",
                          "tests/plans/test_coverage.py", "tests/plans/test_plan_test.py", "tests/rules/test_evaluation_memo.py"),
    "rules/series.py": ("tests/rules/test_series.py", "tests/rules/test_series_merge.py", "tests/rules/test_value_range.py",
                        "tests/rules/test_evaluation_memo.py", *RULE_TESTS),
    "rules/evidence.py": ("tests/rules/test_evidence_rejections.py", "tests/rules/test_value_range.py", *RULE_TESTS),
    "rules/plan.py": ("tests/rules/test_plan_rejections.py", "tests/rules/test_plan_votes.py", "tests/rules/test_plan_horizons.py",
                      "tests/rules/test_schema_agreement.py", *RULE_TESTS),
    "rules/documents.py": ("tests/rules/test_plan_rejections.py", "tests/rules/test_schema_agreement.py"),
    "rules/problems.py": ("tests/rules/test_plan_rejections.py", "tests/rules/test_evidence_rejections.py"),
    "rules/timeline.py": ("tests/timeline/test_walk.py", "tests/timeline/test_row_fsums.py", "tests/timeline/test_limbs.py",
                          "tests/timeline/test_shortcuts.py", "tests/timeline/test_edges.py", "tests/timeline/test_exact.py",
                          "tests/timeline/test_random.py", "tests/timeline/test_valdoria.py", "tests/timeline/test_summary.py"),
    "rules/timeline_summary.py": ("tests/timeline/test_summary.py", "tests/timeline/test_cli.py"),
    "store/ingest.py": ("tests/store/test_ingest.py", "tests/store/test_outbox.py",
                        "tests/store/test_concurrency.py::test_two_processes_import_the_same_file"),
    "lifecycle/gate.py": ("tests/lifecycle",),
    "lifecycle/authority.py": ("tests/lifecycle/test_authority.py", "tests/lifecycle/test_gate.py", "tests/store/test_register.py"),
    "store/audit.py": ("tests/store/test_audit_verify.py", "tests/store/test_audit_tamper.py", "tests/store/test_ingest.py::test_imports_are_audited"),
}

# Survivors that behave exactly as the original does, keyed by Mutant.key, with why.
_PREFIX = ("a prefix view's positions are 0..k-1, so reading ids through them or by slicing "
           "gives the same list")
_SCHEMA_FIRST = "unreachable: JSON Schema validation rejects such a plan first"
EQUIVALENT: dict[str, str] = {
    "rules/compiler.py::_Gen.inline_leaf: drop update `self.n += 1` -> `pass`":
        "node numbers only name the fast variant's variables, which stay unique without it; the "
        "recording variant, whose numbers index its result, never inlines leaves",
    "rules/compiler.py::_Gen.inline_leaf: constant `1` -> `0`": "as `self.n += 1` -> `pass`",
    "rules/evaluate.py::format_value: compare `abs(v) < 1e15` -> `(abs(v) <= 1000000000000000.0)`":
        "int() and the fixed-point format both print a whole float's digits exactly; the bound only "
        "picks one",
    "rules/evaluate.py::evaluate_benchmark: compare `len(view.memo) >= _MEMO_RESULTS` -> `(len(view.memo) > _MEMO_RESULTS)`":
        "a view's memo holds one result more before it is emptied: memory, not results (a result is only "
        "found under the key it was computed for)",
    "rules/evaluate.py::evaluate_benchmark: drop call `view.memo.clear()` -> `pass`":
        "a view's memo is never emptied: memory, not results",
    "rules/evaluate.py::evaluate_gate: compare `len(index.memo) >= _MEMO_GATES` -> `(len(index.memo) > _MEMO_GATES)`":
        "one gate's digest states more are kept: memory; a resumed digest equals the whole one "
        "(test_evaluation_memo), kept states or not",
    "rules/evaluate.py::evaluate_gate: drop call `index.memo.clear()` -> `pass`":
        "the digest states are never emptied: memory, not results (as above)",
    "rules/evaluate.py::_explain: constant `True` -> `False`":
        "zip(strict=False) over two lists that have one entry per child by construction",
    "rules/evidence.py::values_equal: boolean `a is None or b is None` -> `(a is None and b is None)`":
        "with one value None, the later branches answer False too (None is neither a bool nor a number)",
    "rules/evidence.py::values_equal: boolean `kind == \"boolean\" or isinstance(a, bool) or isinstance(b, bool)` -> "
    "`(kind == 'boolean' and isinstance(a, bool) and isinstance(b, bool))`":
        "the numeric branch answers False whenever a value is a bool, as the boolean branch does unless both "
        "are; two bools are only ever values of a boolean indicator",
    "rules/series.py::IndicatorSeries.__post_init__: constant `0` -> `1`":
        "a series is built only for an indicator with at least one record, so n is never 0 (but "
        "IndicatorSeries.empty, which with_records merges at once with at least one record, never viewed)",
    "rules/series.py::IndicatorSeries.view: compare `as_of >= self._all_known_at` -> `(as_of > self._all_known_at)`":
        "at exactly the last knowledge time the general path computes the same view",
    "rules/series.py::IndicatorSeries.view: constant `True` -> `False`": _PREFIX,
    "rules/series.py::IndicatorSeries.view: constant `True` -> `False` #1": _PREFIX,
    "rules/series.py::IndicatorSeries.view: compare `start <= as_of < until` -> `(start < as_of < until)`":
        "at exactly the instant a cached view was made for, the view is computed again: the same view "
        "(the cache and the memo on it only save work)",
    "rules/series.py::IndicatorSeries._next_change: compare `known > as_of` -> `(known >= as_of)`":
        "a bound of as_of itself only makes the cached view serve no later instant: each is computed again",
    "rules/series.py::IndicatorSeries._next_change: compare `self.superseded_at != NEVER` -> "
    "`(self.superseded_at == NEVER)`":
        "a record is replaced at its corrector's knowledge time; the corrector (same indicator, acceptance) is "
        "either observed after T, and obs[hi] comes no later, or observed by T and not yet known, and in "
        "`known`: the other two bounds already stop the view there",
    "rules/series.py::IndicatorSeries.merged: compare `len(fresh) <= 16` -> `(len(fresh) < 16)`":
        "which of two ways of splicing the ids: both give the same list",
    "rules/series.py::IndicatorSeries.merged: constant `True` -> `False`":
        "zip(strict=False) over the positions and the records they were found for: same length",
    "rules/series.py::IndicatorSeries.merged: constant `True` -> `False` #1": "as the one above",
    "rules/series.py::EvidenceIndex.__init__: boolean `r.supersedes is not None and r.supersedes in by_id` -> "
    "`(r.supersedes is not None or r.supersedes in by_id)`":
        "it also marks targets that are not in the index, and marks are only read for records that are",
    "rules/series.py::unusable_value: boolean `value is None or isinstance(value, bool)` -> "
    "`(value is None and isinstance(value, bool))`":
        "a bool then reaches the integer branch, which answers None for it too (abs(True) is 1)",
    "rules/evidence.py::check_record: constant `False` -> `True`":
        "the default of `backfill`: every caller (Ledger.add, the store's import) passes it",
    "rules/evidence.py::check_record: negate `ind` -> `(not (ind))`":
        "values_equal answers the same under any kind for values of their indicator's kind (a boolean "
        "indicator holds only booleans, which it compares by type)",
    "rules/plan.py::load_plan: drop not `not str(p).startswith(\"node:\")` -> `(str(p).startswith('node:'))`":
        "unreachable: the models accept every document the JSON Schema accepts (test_schema_agreement)",
    "rules/plan.py::_explain: drop call `parse_timestamp(err.instance)` -> `pass`":
        "unreachable for plans: the plan schema has no timestamp field (the branch serves the shared format)",
    "rules/plan.py::_explain: boolean `v in (\"oneOf\", \"anyOf\") and err.context` -> "
    "`(v in ('oneOf', 'anyOf') or err.context)`":
        "only anyOf and oneOf errors have a context, and every failing one has, but a oneOf matched by "
        "several branches: the plan schema's oneOf branches (rule nodes) exclude each other (each requires "
        "its own operator, no other properties)",
    "rules/plan.py::_explain: swap call `any` -> `all`":
        "a group is one branch's errors; the only branch failing with `type: null` is {\"type\": \"null\"}, "
        "which fails with that one error alone, so any() and all() agree",
    "rules/plan.py::_cycle_problems.visit: drop call `reported.add(key)` -> `pass`":
        "a cycle found twice gives the same problem twice, and PlanError keeps each problem once",
    "rules/documents.py::_mapping: constant `True` -> `False`":
        "PyYAML fills nested values in place before the document is returned, deep or not",
    "rules/documents.py::_mapping: constant `True` -> `False` #1": "as the one above",
    "store/ingest.py::_prefetch_pg: constant `True` -> `False`":
        "zip(strict=False) over a row and the column names it was selected by: same length",
    "store/ingest.py::_insert: constant `True` -> `False`":
        "zip(strict=False) over a row and the column names it was built for: same length",
    "store/ingest.py::_insert: constant `False` -> `True`":
        "provenance stored with ASCII escapes is the same JSON value when read back",
    "rules/timeline_summary.py::summarize: constant `1` -> `0` #2":
        "the search for the next pass may start at the step that just failed to pass: it never matches",
    "rules/timeline_summary.py::summarize: constant `True` -> `False` #4":
        "zip(strict=False) over a gate's and a benchmark's statuses, one per instant each",
    "lifecycle/authority.py::_why_not: constant `0` -> `1`":
        "`a.until_us or 0`: every assignment reaching it has an until (it is neither in force at `at` nor "
        "starts after it, so it ended; an open-ended one that has started is in force)",
    "rules/plan.py::_rule_problems: constant `1` -> `0`": _SCHEMA_FIRST + " (at_least >= 1)",
    "rules/plan.py::_benchmark_problems: swap call `any` -> `all`":
        _SCHEMA_FIRST + " (no boolean inside a [low, high] threshold)",
}

# rules/timeline.py: the counts, exact sums and extremes of every window come from intervals
# of instants; these mutants only change how work is grouped or repeated, send values to a
# slower path that computes the same (fsum, Python ints, Python's comparison), or change what
# the data cannot reach. The arguments, grouped: docs/mutation.md.
_TL = "rules/timeline.py::"
_NO_SERIES = "an indicator without records: every count and total is 0, so no aggregate reads a point"
_STRICT = "zip(strict=False) over lists of one entry per instant (or per benchmark) each, by construction"
_MORE = "only re-does work whose result is the same: "
_SLICES = ("the slices of trend's layout only bound its memory: every instant still falls in exactly one "
           "slice, and its trend is computed from its own points whatever slice that is")
_PY_COMPARE = ("more thresholds compared by Python, on the ctx values themselves: the compiled rule's own "
               "comparison, so the same status (numpy's is only a faster way to it)")
_TO_FSUM = ("more rows summed by `_row_fsums_apart` (or fsum), each of which returns fsum's sum of any row: "
            "the same value")
_GRID = ("2**c is still at least the longest row (bit_length(n - 1) or of n): n parts on the grid of "
         "sigma = 2**(e + c), each at most 2**e, add up to at most 2**(e + c), exactly, so the split and "
         "the bound still hold")
_BIG_BOUND = ("the remainders r - q are then about as large as the terms, so the bound (sum |r| * n * 2**-51) "
              "is at least 4n times half an ulp of the sum: no row is found sure, every one goes to fsum")
_EQUAL = ("at equality the slack is either 0 (no error at all: the bound underflows only while the "
          "remainders' partial sums stay below 2**-1021, where they are exact) or positive, and then the "
          "factor 1 + 2**-40 makes it strictly more than the true error: below half an ulp, so correctly "
          "rounded")
_LIMB_PATH = "`scale` is read only for Python-int totals; limb totals are scaled by `shift` (`_limb_sums`)"
_ZERO_MANTISSA = "a zero mantissa has zero limbs whatever its power (0 shifted either way is 0), and -0 is 0"
_AT_ZERO = "at s = 0 both branches give um & mask (a shift by 0 either way)"
EQUIVALENT.update({
    _TL + "_IndicatorState.__init__: constant `1` -> `0`": _NO_SERIES + " (exact_sum divides only a total that is not 0)",
    _TL + "_IndicatorState.__init__: constant `False` -> `True`":
        _NO_SERIES + ": every step flagged as changed makes trend re-read windows that never hold two points (None)",
    _TL + "_IndicatorState.__init__: compare `entry < series.superseded_at` -> `(entry <= series.superseded_at)`":
        "a point known and superseded at the same instant has the empty interval [first, last): _sums and _stab "
        "drop it, window_points never selects it, and newest leaves it out",
    _TL + "_IndicatorState.__init__: constant `0` -> `1`":
        "`shift` is read only by `_limb_sums` for totals in limbs, and the limb path of `_exact` sets it first",
    _TL + "_IndicatorState.__init__: constant `0` -> `1` #1":
        _NO_SERIES + ": values are read at positions of counting points (none), or where the count is positive",
    _TL + "_IndicatorState.__init__: constant `0` -> `1` #2":
        _NO_SERIES + ": observation times are read for windows with points (trend, a zero extreme): none",
    _TL + "_IndicatorState.__init__: constant `0` -> `1` #3":
        _NO_SERIES + ": the phantom point at position 0 has the empty interval [0, 0), so no count, sum or "
        "tree holds it, and positions and times are read only where a count is positive",
    _TL + "_IndicatorState.__init__: constant `1` -> `0` #1":
        _NO_SERIES + ": `newest_at` is read only where the count is positive (latest, change); `newest_obs`, "
        "which max_age reads, is set apart",
    _TL + "_IndicatorState._exact: compare `np.abs(values) < 2.0**53` -> `(np.abs(values) <= 2.0 ** 53)`":
        "2**53 is exact both as an int64 and as mantissa and exponent: either way the sums are exact",
    _TL + "_IndicatorState._exact: compare `float(np.abs(values).sum()) < 2.0**62` -> "
    "`(float(np.abs(values).sum()) <= 2.0 ** 62)`":
        "magnitudes whose float64 sum is exactly 2**62 add up exactly to at most 2**62 * (1 + n * 2**-53), "
        "far inside int64 (2**63 - 1): no running sum overflows",
    _TL + "_IndicatorState._exact: constant `0` -> `1`":
        "`mantissa != 1`: no mantissa is 1 (a nonzero one is at least 2**52), so zeros count as nonzero too: "
        "their power (-53) can only widen the shift, which scales limbs and divisor alike (or sends the "
        "values to Python ints): the same exact sums; " + _ZERO_MANTISSA,
    _TL + "_IndicatorState._exact: constant `0` -> `1` #1":
        "a shift of 1 where it was 0 (every value at least 2**53, whole) is one more power of two in the limbs "
        "and in the divisor: the same exact sums (or Python ints, exact too, if 96 bits no longer hold them)",
    _TL + "_IndicatorState._exact: compare `len(values) < 2**20` -> `(len(values) <= 2 ** 20)`":
        "2**20 limbs below 2**32 sum to below 2**52 in `_sums`' float64 bincount: still exact",
    _TL + "_IndicatorState._exact: constant `1` -> `0` #1": _LIMB_PATH,
    _TL + "_IndicatorState._exact: constant `0` -> `1` #2": _ZERO_MANTISSA,
    _TL + "_IndicatorState._exact: constant `0` -> `1` #3":
        "shift at least 1: one more power of two in every Python-int total and in the divisor, the same "
        "exact quotient",
    _TL + "_IndicatorState._exact: constant `0` -> `1` #4":
        "unreachable: no values at all are all whole numbers, and return in the first branch",
    _TL + "_IndicatorState._exact: constant `True` -> `False`": "zip(strict=False) over the mantissas and exponents of the same values",
    _TL + "_stab: compare `size < k` -> `(size <= k)`":
        "a tree twice as large where k is a power of two: the leaves past k are never read, the first k get the same values",
    _TL + "_sums: compare `first < last` -> `(first <= last)`":
        "an empty interval adds a point and removes it at the same instant: counts, sums and -0.0 counts "
        "unchanged; its `changed` flag " + _MORE + "a trend recomputed",
    _TL + "_sums: compare `(ones_in + ones_out)[:k] > 0` -> `((ones_in + ones_out)[:k] >= 0)`":
        "every step flagged as changed " + _MORE + "trends recomputed at every step",
    _TL + "_sums: constant `1` -> `0` #2":
        "a point counting at the first step has its interval start there (index 0), which sets the flag "
        "anyway; with none, trend is None there, the value it starts with",
    _TL + "_limbs: constant `0` -> `1` #1": "the shift down is used only where s < 0, so -s is at least 1 anyway",
    _TL + "_limbs: compare `s >= 0` -> `(s > 0)`": _AT_ZERO,
    _TL + "_limbs: constant `0` -> `1` #2": _AT_ZERO,
    _TL + "_limbs: compare `mantissa < 0` -> `(mantissa <= 0)`": _ZERO_MANTISSA,
    _TL + "_limbs: constant `0` -> `1` #3": _ZERO_MANTISSA,
    _TL + "_limb_sums: compare `np.abs(c[2]) < 2**29` -> `(np.abs(c[2]) <= 2 ** 29)`":
        "a top limb of exactly 2**29 still gives an int64 H (below 2**62) with |H - float(H)| <= 2**9, so the "
        "rest is exact and the one rounded addition correct: the fast path holds up to |c[2]| < 2**31",
    _TL + "_limb_sums: constant `0` -> `1` #1": "a column that is not safe is always recomputed in Python ints (it is unsure)",
    _TL + "_limb_sums: compare `out != 0` -> `(out == 0)`":
        "a sum below 2**-1021 is a multiple of 2**-1074 (every double is) below 2**53 such units, so it is a "
        "double and the fast path's one rounding and its scaling are both exact: the subnormal check only "
        "re-does exact sums, and so do zeros in Python ints (0 / scale = 0.0)",
    _TL + "_limb_sums: constant `0` -> `1` #2": "as `out != 0` -> `out == 0`: more sums re-done exactly, to the same value",
    _TL + "_limb_sums: compare `np.abs(out) < 2.0**-1022` -> `(np.abs(out) <= 2.0 ** (-1022))`":
        "as `out != 0` -> `out == 0`: a sum of exactly 2**-1022 re-done in Python ints, to the same value",
    _TL + "_exact_threshold: boolean `isinstance(t, (bool, float)) or (isinstance(t, int) and abs(t) <= 2...` -> "
    "`(isinstance(t, (bool, float)) and (isinstance(t, int) and abs(t) <= 2 ** 53))`": _PY_COMPARE,
    _TL + "_exact_threshold: compare `abs(t) <= 2**53` -> `(abs(t) < 2 ** 53)`": _PY_COMPARE + " (2**53 itself)",
    _TL + "_codes: constant `True` -> `False`": _STRICT,
    _TL + "_codes: constant `True` -> `False` #1": _STRICT,
    _TL + "_typed_column: boolean `num.size and float(np.abs(num).max()) >= 2.0**62` -> "
    "`(num.size or float(np.abs(num).max()) >= 2.0 ** 62)`":
        "a timeline has at least one instant, so num is never empty; int() of a float64 below 2**62 is the "
        "int64 conversion's value",
    _TL + "_typed_column: compare `float(np.abs(num).max()) >= 2.0**62` -> `(float(np.abs(num).max()) > 2.0 ** 62)`":
        "2**62 itself converts to int64 exactly (below 2**63): the same int",
    _TL + "_BenchmarkState.column: constant `0` -> `1` #3":
        "a position read where change is not defined: its value becomes None and its status unknown; the "
        "position exists (change is read only where some window holds two points, so two values)",
    _TL + "_trend_column: compare `i < rows.size` -> `(i <= rows.size)`":
        "one more pass over an empty slice of instants: `_trend_rows` lays out nothing and writes nothing",
    _TL + "_trend_column: arithmetic `(ends[i - 1] if i else 0) + _PAIRS` -> `((ends[i - 1] if i else 0) - _PAIRS)`": _SLICES,
    _TL + "_trend_column: negate `i` -> `(not (i))`": _SLICES,
    _TL + "_trend_column: constant `1` -> `0` #1": _SLICES,
    _TL + "_trend_column: constant `0` -> `1` #1": _SLICES,
    _TL + "_row_fsums: arithmetic `n.max() + 1` -> `(n.max() - 1)`": _GRID,
    _TL + "_row_fsums: constant `1` -> `0`": _GRID,
    _TL + "_row_fsums: constant `0` -> `1` #1":
        _TO_FSUM + "; a row of zeros on the shared grid sums to 0, which is unsure and goes there too",
    _TL + "_row_fsums: compare `e + c > 1000` -> `(e + c >= 1000)`": _TO_FSUM,
    _TL + "_row_fsums: constant `0` -> `1` #3":
        "a zero sum is unsure anyway (half an ulp of 0 is 0, no more than the slack); " + _TO_FSUM + " (sums of 1)",
    _TL + "_row_fsums: compare `(np.abs(err) + bound) * (1 + 2.0**-40) >= half_ulp` -> "
    "`((np.abs(err) + bound) * (1 + 2.0 ** (-40)) > half_ulp)`": _EQUAL,
    _TL + "_row_fsums_apart: arithmetic `n.max() + 1` -> `(n.max() - 1)`": _GRID,
    _TL + "_row_fsums_apart: constant `1` -> `0`": _GRID,
    _TL + "_row_fsums_apart: compare `int(e.max()) + c > 1000` -> `(int(e.max()) + c >= 1000)`":
        "only the first split can reach it (remainders are far smaller): its break leaves every row to fsum",
    _TL + "_row_fsums_apart: arithmetic `(sigma + r) - sigma` -> `(sigma + r + sigma)`":
        "q is then about 2 sigma, the remainders about -2 sigma: a bound far past half an ulp of any sum, so "
        "every row goes to fsum",
    _TL + "_row_fsums_apart: arithmetic `sigma + r` -> `(sigma - r)`": _BIG_BOUND,
    _TL + "_row_fsums_apart: arithmetic `r - q` -> `(r + q)`": _BIG_BOUND,
    _TL + "_row_fsums_apart: arithmetic `np.add.reduceat(np.abs(r), starts) * (n * 2.0**-51)` -> "
    "`(np.add.reduceat(np.abs(r), starts) / (n * 2.0 ** (-51)))`":
        "the bound is then 2**102 times larger: a row is found sure only if its remainders are all 0, where "
        "both bounds are 0 and the sum exact; every other row goes to fsum",
    _TL + "_row_fsums_apart: arithmetic `n * 2.0**-51` -> `(n / 2.0 ** (-51))`":
        "as the bound divided: only rows with no remainder are found sure, exactly; the rest go to fsum",
    _TL + "_row_fsums_apart: compare `out != 0` -> `(out == 0)`":
        "half an ulp of 0 is 0, never more than the slack, so no row is found sure: all go to fsum",
    _TL + "_row_fsums_apart: constant `0` -> `1` #1": "rows summing to 1 go to fsum too; zero sums still do (half an ulp of 0 is 0)",
    _TL + "_row_fsums_apart: compare `slack * (1 + 2.0**-40) < half_ulp` -> `(slack * (1 + 2.0 ** (-40)) <= half_ulp)`": _EQUAL,
    _TL + "_row_fsums_apart: negate `bool(sure.all())` -> `(not (bool(sure.all())))`":
        "a second split where every row was sure after the first (it only refines the same exact parts), and "
        "none where some was not: those rows go to fsum",
    _TL + "_combinations: compare `(len(columns) + 1) * 2 + n_sets.bit_length() < 62` -> "
    "`((len(columns) + 1) * 2 + n_sets.bit_length() <= 62)`":
        "a key needs 2 bits a column and the bits of the largest waiver set number: at 62 here, 60, inside int64",
    _TL + "_combinations: arithmetic `len(columns) + 1` -> `(len(columns) - 1)`":
        "the key then takes at most 2 * len(columns) + bit_length(n_sets) < 64 bits: still below 2**63",
    _TL + "_combinations: constant `1` -> `0`": "as `len(columns) - 1`: the key still fits an int64",
})


# Imported once by the parent so children start fast. None of them may import a module of
# TABLE (checked), or the child would test the parent's unmutated copy.
PRELOAD = ("numpy", "pydantic", "pydantic_settings", "hypothesis", "sqlalchemy", "sqlmodel", "psycopg",
           "jsonschema", "referencing", "rfc8785", "yaml", "typer", "rich", "pytest",
           "alembic", "matplotlib", "matplotlib.pyplot", "fastapi", "httpx", "temporalio.client", "schemathesis",
           "requests", "anyio", "pytest_asyncio", "_hypothesis_pytestplugin",
           "schemas.models", "schemas.jsonfmt", "schemas.timefmt")

# Stop at the first failure; plain asserts (a mutant needs no diff, and the preloaded plugins
# cannot be rewritten anyway); none of the plugins the selections above do not use.
PYTEST_ARGS = ("-x", "-q", "-p", "no:cacheprovider", "--assert=plain", "-p", "no:anyio", "-p", "no:schemathesis",
               "-p", "no:unraisableexception", "-W", "ignore::pytest.PytestAssertRewriteWarning")

_COMPARE_SWAP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In,
}
_BINOP_SWAP: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Mult,
}
_CALL_SWAP = {"min": "max", "max": "min", "any": "all", "all": "any"}


@dataclass(frozen=True)
class Mutant:
    path: str
    line: int
    where: str  # the enclosing function or class
    kind: str
    before: str
    after: str
    start: int  # byte offsets of the replaced source
    end: int
    n: int = 0  # occurrence among mutants with the same where/kind/before/after
    end_line: int = 0  # the last line of the replaced source

    @property
    def span_lines(self) -> range:
        return range(self.line, max(self.line, self.end_line) + 1)

    @property
    def key(self) -> str:
        """Stable across edits elsewhere in the file (no line numbers)."""
        return f"{self.path}::{self.where}: {self.kind} `{self.before}` -> `{self.after}`" + (f" #{self.n}" if self.n else "")

    def apply(self, source: bytes) -> bytes:
        return source[: self.start] + self.after.encode() + source[self.end:]


class _Finder(ast.NodeVisitor):
    """Collect the mutation points of one module in source order."""

    def __init__(self, path: str, source: bytes):
        self.path = path
        self.source = source
        self.lines = [0]
        for line in source.splitlines(keepends=True):
            self.lines.append(self.lines[-1] + len(line))
        self.scope: list[str] = []
        self.found: list[Mutant] = []

    def _span(self, node: ast.AST) -> tuple[int, int]:
        n: Any = node
        return self.lines[n.lineno - 1] + n.col_offset, self.lines[n.end_lineno - 1] + n.end_col_offset

    def _add(self, node: ast.AST, kind: str, replacement: str, wrap: bool = True) -> None:
        start, end = self._span(node)
        before = self.source[start:end].decode()
        after = f"({replacement})" if wrap else replacement
        one_line = " ".join(before.split())
        self.found.append(Mutant(self.path, getattr(node, "lineno", 0), ".".join(self.scope) or "<module>", kind,
                                 one_line if len(one_line) <= 70 else one_line[:67] + "...",
                                 after, start, end, end_line=getattr(node, "end_lineno", 0) or 0))

    # --- what is not mutated: docs, annotations, asserts, f-strings, type-checking imports ---

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        return  # positions inside f-strings are not reliable before Python 3.12

    def visit_Assert(self, node: ast.Assert) -> None:
        return  # asserts in the product only narrow types

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)

    def visit_arguments(self, node: ast.arguments) -> None:
        for default in [*node.defaults, *[d for d in node.kw_defaults if d is not None]]:
            self.visit(default)

    def _body(self, body: list[ast.stmt]) -> None:
        for i, stmt in enumerate(body):
            if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
                    and isinstance(stmt.value.value, str):
                continue  # a docstring
            self.visit(stmt)

    def visit_Module(self, node: ast.Module) -> None:
        # Only code in functions: module and class level hold declarations (dataclass options,
        # tables, tuning constants such as chunk sizes), whose mutants are mostly equivalent.
        for stmt in node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.visit(stmt)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.scope.append(node.name)
        for stmt in node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.visit(stmt)
        self.scope.pop()

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scope.append(node.name)
        self.visit(node.args)
        self._body(node.body)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_If(self, node: ast.If) -> None:
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return
        self._negate(node.test)
        self.generic_visit(node)

    def visit_While(self, node: ast.While) -> None:
        self._negate(node.test)
        self.generic_visit(node)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self._negate(node.test)
        self.generic_visit(node)

    def _negate(self, test: ast.expr) -> None:
        # Comparisons, `and`/`or` and `not` have mutants of their own.
        if not isinstance(test, (ast.Compare, ast.BoolOp)) and not (isinstance(test, ast.UnaryOp)
                                                                     and isinstance(test.op, ast.Not)):
            self._add(test, "negate", f"not ({ast.unparse(test)})")

    # --- the mutants ---

    def visit_Compare(self, node: ast.Compare) -> None:
        for i, op in enumerate(node.ops):
            swap = _COMPARE_SWAP.get(type(op))
            if swap is not None:
                ops = list(node.ops)
                ops[i] = swap()
                self._add(node, "compare", ast.unparse(ast.Compare(node.left, ops, node.comparators)))
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        self._add(node, "boolean", ast.unparse(ast.BoolOp(other, node.values)))
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.Not):
            self._add(node, "drop not", ast.unparse(node.operand))
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        swap = _BINOP_SWAP.get(type(node.op))
        if swap is not None and not (isinstance(node.left, ast.Constant) and isinstance(node.left.value, str)):
            self._add(node, "arithmetic", ast.unparse(ast.BinOp(node.left, swap(), node.right)))
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._add(node, "drop update", "pass", wrap=False)
        self.generic_visit(node)

    def visit_Expr(self, node: ast.Expr) -> None:
        if isinstance(node.value, ast.Call):
            self._add(node, "drop call", "pass", wrap=False)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in _CALL_SWAP:
            self._add(node.func, "swap call", _CALL_SWAP[node.func.id], wrap=False)
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self.visit(node.value)
        if not isinstance(node.slice, ast.Constant):  # x[0] -> x[1] mostly just raises
            self.visit(node.slice)

    def visit_Constant(self, node: ast.Constant) -> None:
        # Booleans and the 0/1 of counts and starts; other numbers are tuning or formatting,
        # and an off-by-one at a boundary is the comparison mutants' job.
        v = node.value
        if isinstance(v, bool):
            self._add(node, "constant", str(not v), wrap=False)
        elif isinstance(v, int) and v in (0, 1):
            self._add(node, "constant", str(1 - v), wrap=False)


def find_mutants(path: str) -> list[Mutant]:
    with open(os.path.join(ROOT, path), "rb") as fh:
        source = fh.read()
    finder = _Finder(path, source)
    finder.visit(ast.parse(source, path))
    seen: dict[str, int] = {}
    out = []
    for m in finder.found:
        n = seen.get(m.key, 0)
        seen[m.key] = n + 1
        out.append(Mutant(**{**asdict(m), "n": n}))
    for m in out:  # every mutant must still be Python: a syntax error would be a free kill
        ast.parse(m.apply(source), path)
    return out


# --- running ---------------------------------------------------------------------------------


@dataclass
class ModuleResult:
    module: str
    mutants: int = 0
    killed: int = 0
    survived: list[str] = field(default_factory=list)
    equivalent: list[str] = field(default_factory=list)
    seconds: float = 0.0
    rechecked: int = 0  # survivors of their traced tests, run again against the whole selection

    @property
    def score(self) -> float:
        judged = self.mutants - len(self.equivalent)
        return self.killed / judged if judged else 1.0


def _copy_tree(dest: str) -> None:
    ignore = shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.pyc", ".mypy_cache", ".ruff_cache",
                                    ".pytest_cache", "node_modules")
    shutil.copytree(ROOT, dest, ignore=ignore, dirs_exist_ok=True)


def _start_child(tree: str, tests: tuple[str, ...], log: str, trace: tuple[str, str] | None = None) -> int:
    """Fork a child that runs pytest on the tree; its pid (also its process group).

    trace = (module, out.json): also record which lines of the module each test executes
    (see _Trace), written to out.json when pytest ends."""
    pid = os.fork()
    if pid:
        return pid
    try:  # the child
        os.setsid()  # its own group, so a timeout takes its subprocesses too
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.chdir(tree)
        sys.path[0] = tree
        os.environ["PYTHONPATH"] = tree  # for the subprocesses some tests start
        plugins: list[Any] = []
        if trace is not None:
            plugins.append(_Trace(os.path.join(tree, trace[0])))
        code = pytest.main([*tests, *PYTEST_ARGS], plugins=plugins)
        if trace is not None:
            plugins[0].stop()
            with open(trace[1], "w", encoding="utf-8") as fh:
                json.dump(plugins[0].result(), fh)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(code))
    except BaseException:  # anything at all: the child must never return into the parent's loop
        import traceback

        traceback.print_exc()
        os._exit(3)


class _Trace:
    """A pytest plugin recording, per test, the lines of one file executed while the test is
    set up and runs. Lines run anywhere else (imports, collection, teardown) are recorded
    under "" and make every test a candidate."""

    def __init__(self, path: str):
        import threading

        self.path = path
        self.hits: dict[str, set[int]] = {"": set()}
        self.order: list[str] = []
        self.seconds: dict[str, float] = {}
        self.began = 0.0
        self.bucket = self.hits[""]

        def local(frame: Any, event: str, arg: Any) -> Any:
            if event == "line":
                self.bucket.add(frame.f_lineno)
            return local

        def start(frame: Any, event: str, arg: Any) -> Any:
            if frame.f_code.co_filename != path:
                return None  # no line events for other files: cheap
            self.bucket.add(frame.f_lineno)
            return local

        self._start = start
        sys.settrace(start)
        threading.settrace(start)

    def stop(self) -> None:
        import threading

        sys.settrace(None)
        threading.settrace(None)

    @pytest.hookimpl(tryfirst=True)  # before pytest's own, which sets the test up
    def pytest_runtest_setup(self, item: Any) -> None:
        # A fixture set up for this test counts as the test's own: a wider fixture (session,
        # module) is set up for the first test that needs it, and another test it would fail
        # is still found when the mutant survives the first one (the recheck).
        self.order.append(item.nodeid)
        self.bucket = self.hits.setdefault(item.nodeid, set())
        self.began = time.perf_counter()
        if sys.gettrace() is None:  # something (a debugger, a tool) removed ours
            sys.settrace(self._start)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item: Any) -> None:
        if self.bucket is not self.hits[""]:
            self.seconds[item.nodeid] = time.perf_counter() - self.began
        self.bucket = self.hits[""]

    def result(self) -> dict[str, Any]:
        # Fastest first: with -x, a mutant is killed by the first test that fails.
        order = sorted(self.order, key=lambda t: self.seconds.get(t, 0.0))
        return {"order": order, "hits": {k: sorted(v) for k, v in self.hits.items()}, "seconds": self.seconds}


def _selection(trace: dict[str, Any], m: Mutant) -> tuple[str, ...] | None:
    """The tests that execute the mutant's lines, fastest first; None: run them all (its lines
    run outside any test, at import or collection, or in no test this process saw: maybe in a
    subprocess)."""
    lines = set(m.span_lines)
    if lines & set(trace["hits"][""]):
        return None
    # By test function, not parameter: ids may be built from what the product computes (a
    # reason text), which the mutant may change.
    chosen = dict.fromkeys(t.split("[", 1)[0] for t in trace["order"] if lines & set(trace["hits"].get(t, ())))
    return tuple(chosen) or None


def _outcome(status: int, tests: tuple[str, ...], log: str, chosen: bool = False) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code in (4, 5):
        if chosen:  # the mutant changed what the chosen tests are (their ids): the whole selection decides
            return "passed"
        raise SystemExit(f"pytest could not run {' '.join(tests)} (exit {code}); see {log}")
    return "passed" if code == 0 else "failed"


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    _drop_test_databases(pid)


@dataclass
class _Slot:
    """One copy of the tree and the mutant running in it."""

    tree: str
    log: str
    pid: int | None = None
    mutant: Mutant | None = None
    tests: tuple[str, ...] = ()
    deadline: float = 0.0


def _run_module(slots: list[_Slot], module: str, jobs: list[tuple[Mutant, tuple[str, ...]]],
                limit: Callable[[tuple[str, ...]], float], done: Callable[[Mutant, str], None]) -> None:
    """Every (mutant, its tests) of one module, as many at a time as there are slots."""
    with open(os.path.join(slots[0].tree, module), "rb") as fh:
        original = fh.read()
    queue = list(reversed(jobs))
    try:
        while queue or any(s.pid for s in slots):
            for slot in slots:
                if slot.pid is None and queue:
                    slot.mutant, slot.tests = queue.pop()
                    with open(os.path.join(slot.tree, module), "wb") as fh:
                        fh.write(slot.mutant.apply(original))
                    slot.pid, slot.deadline = _start_child(slot.tree, slot.tests, slot.log), time.monotonic() + limit(slot.tests)
            time.sleep(0.02)
            for slot in slots:
                if slot.pid is None or slot.mutant is None:
                    continue
                pid, status = os.waitpid(slot.pid, os.WNOHANG)
                if pid:
                    outcome = _outcome(status, slot.tests, slot.log, chosen=slot.tests != TABLE[module])
                elif time.monotonic() > slot.deadline:
                    _kill(slot.pid)
                    outcome = "timeout"
                else:
                    continue
                slot.pid = None
                with open(os.path.join(slot.tree, module), "wb") as fh:
                    fh.write(original)
                done(slot.mutant, outcome)
    finally:  # interrupted: no child outlives the run
        for slot in slots:
            if slot.pid is not None:
                _kill(slot.pid)
                slot.pid = None


def _drop_test_databases(pid: int) -> None:
    """A killed child cannot drop the PostgreSQL databases tests/store/conftest.py made for it."""
    try:
        import psycopg

        admin = os.environ.get("EXITGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
        with psycopg.connect(admin, autocommit=True) as conn:
            names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                                (f"exitgate_test_{pid}_%",))]
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception as exc:  # best effort: a leftover database is no wrong result
        print(f"note: could not drop the test databases of process {pid}: {exc}", file=sys.stderr)


def _preload(tree: str) -> None:
    sys.path.insert(0, tree)
    for name in PRELOAD:
        __import__(name)
    ours = {m.removesuffix(".py").replace("/", ".") for m in TABLE}
    loaded = ours & set(sys.modules)
    if loaded:
        raise SystemExit(f"preloading imported modules under test: {sorted(loaded)}")


def run(modules: list[str], progress: bool, match: list[str] | None = None, jobs: int = 1,
        all_tests: bool = False) -> list[ModuleResult]:
    """Run every mutant of the modules (or only those whose key contains one of `match`).

    Each mutant runs first against the tests of its module's selection that execute its lines
    (traced in the baseline run, `_Trace`); a mutant that survives them runs again against the
    whole selection, so the choice saves time and never lets a mutant survive. all_tests: every
    mutant against the whole selection at once (as before the tracing)."""
    results = []
    # A plain kill should still remove the copies: SIGTERM unwinds like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    keep = os.environ.get("EXITGATE_MUTATE_KEEP")  # a folder to keep the copies and logs in, to debug
    with tempfile.TemporaryDirectory(prefix="exitgate-mutate-", dir=keep) as tmp:
        slots = [_Slot(os.path.join(tmp, f"tree{i}"), os.path.join(tmp, f"mutant{i}.log")) for i in range(jobs)]
        for slot in slots:
            _copy_tree(slot.tree)
        os.environ.update(EXITGATE_HYPOTHESIS_PROFILE="mutation", PYTHONDONTWRITEBYTECODE="1",
                          OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")
        sys.dont_write_bytecode = True
        _preload(slots[0].tree)
        for module in modules:
            found = find_mutants(module)
            stale = sorted(k for k in EQUIVALENT if k.startswith(module + "::") and k not in {m.key for m in found})
            for k in stale:
                print(f"note: EQUIVALENT names no mutant of {module} any more: {k}", file=sys.stderr)
            mutants = [m for m in found if match is None or any(t in m.key for t in match)]
            if not mutants:
                continue
            tests = TABLE[module]
            began = time.monotonic()
            baseline, trace_file = os.path.join(tmp, "baseline.log"), os.path.join(tmp, "trace.json")
            pid = _start_child(slots[0].tree, tests, baseline, None if all_tests else (module, trace_file))
            if _outcome(os.waitpid(pid, 0)[1], tests, baseline) != "passed":
                with open(baseline, encoding="utf-8") as fh:
                    print(fh.read()[-3000:], file=sys.stderr)
                raise SystemExit(f"the tests of {module} fail without any mutant: {' '.join(tests)}")
            whole = time.monotonic() - began
            chosen: dict[str, tuple[str, ...]] = {m.key: tests for m in mutants}
            if not all_tests:
                with open(trace_file, encoding="utf-8") as fh:
                    trace = json.load(fh)
                chosen = {m.key: _selection(trace, m) or tests for m in mutants}
            outcomes: dict[str, str] = {}

            def done(m: Mutant, outcome: str, outcomes: dict[str, str] = outcomes,
                     chosen: dict[str, tuple[str, ...]] = chosen, tests: tuple[str, ...] = tests) -> None:
                outcomes[m.key] = outcome
                if progress:
                    ran = chosen[m.key]
                    what = "all tests" if ran == tests else f"{len(ran)} test{'s' * (len(ran) > 1)}"
                    print(f"  {m.path}:{m.line} {m.kind} {outcome} ({what})", file=sys.stderr, flush=True)

            # Running in parallel is slower per run; an endless loop still shows within this. A
            # run of some tests takes pytest's start-up plus those tests (as timed in the trace).
            seconds: dict[str, float] = {}
            if not all_tests:
                for t, sec in trace["seconds"].items():
                    seconds[t.split("[", 1)[0]] = seconds.get(t.split("[", 1)[0], 0.0) + sec
            startup = max(0.0, whole - sum(seconds.values()))

            def limit(ran: tuple[str, ...], whole: float = whole, startup: float = startup,
                      seconds: dict[str, float] = seconds, tests: tuple[str, ...] = tests) -> float:
                took = whole if ran == tests or not seconds else startup + sum(seconds.get(t, 0.0) for t in ran)
                return 3 * jobs * took + 10

            _run_module(slots, module, [(m, chosen[m.key]) for m in mutants], limit, done)
            # Listed equivalent: the reason says no test can fail on it, so the whole selection
            # is not run for it again (the traced tests are every test that executes its lines).
            again = [m for m in mutants if outcomes[m.key] == "passed" and chosen[m.key] != tests
                     and m.key not in EQUIVALENT]
            for m in again:
                chosen[m.key] = tests
            _run_module(slots, module, [(m, tests) for m in again], limit, done)
            res = ModuleResult(module, rechecked=len(again))
            for m in mutants:  # source order, whatever finished first
                res.mutants += 1
                if outcomes[m.key] != "passed":
                    res.killed += 1
                    if m.key in EQUIVALENT:  # its reason is wrong, or names older code
                        print(f"note: EQUIVALENT lists a mutant the tests kill: {m.key}", file=sys.stderr)
                elif m.key in EQUIVALENT:
                    res.equivalent.append(m.key)
                else:
                    res.survived.append(f"{m.key} (line {m.line})")
            res.seconds = time.monotonic() - began
            results.append(res)
    return results


def table(results: list[ModuleResult]) -> str:
    rows = [("module", "mutants", "killed", "survived", "equivalent", "score", "seconds")]
    for r in results:
        rows.append((r.module, str(r.mutants), str(r.killed), str(len(r.survived)), str(len(r.equivalent)),
                     f"{r.score:.1%}", f"{r.seconds:.0f}"))
    total = ModuleResult("total", sum(r.mutants for r in results), sum(r.killed for r in results),
                         [s for r in results for s in r.survived], [e for r in results for e in r.equivalent],
                         sum(r.seconds for r in results))
    rows.append((total.module, str(total.mutants), str(total.killed), str(len(total.survived)),
                 str(len(total.equivalent)), f"{total.score:.1%}", f"{total.seconds:.0f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    out = "\n".join(lines)
    if total.survived:
        out += "\n\nsurvivors:\n" + "\n".join(f"  {s}" for s in total.survived)
    if total.equivalent:
        out += "\n\nequivalent (left out of the score):\n" + "\n".join(
            f"  {e}\n      {EQUIVALENT[e]}" for e in total.equivalent)
    return out


def _as_json(results: list[ModuleResult]) -> dict[str, Any]:
    mutants = sum(r.mutants for r in results)
    killed = sum(r.killed for r in results)
    equivalent = sum(len(r.equivalent) for r in results)
    return {
        "modules": [{"module": r.module, "mutants": r.mutants, "killed": r.killed, "survived": len(r.survived),
                     "equivalent": len(r.equivalent), "score": round(r.score, 4), "seconds": round(r.seconds, 1),
                     "rechecked": r.rechecked, "survivors": r.survived} for r in results],
        "mutants": mutants, "killed": killed, "survived": mutants - killed - equivalent, "equivalent": equivalent,
        "score": round(killed / (mutants - equivalent), 4) if mutants > equivalent else 1.0,
        "equivalents": {k: EQUIVALENT[k] for r in results for k in r.equivalent},
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("modules", nargs="*", help=f"modules of TABLE (default: all {len(TABLE)})")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--list", action="store_true", help="list the mutants without running them")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    ap.add_argument("--match", action="append", metavar="TEXT",
                    help="only mutants whose key contains TEXT (repeatable), e.g. to re-check a survivor")
    ap.add_argument("--jobs", type=int, default=1, help="mutants run at a time (default 1)")
    ap.add_argument("--rerun", metavar="RESULT.json", help="only the survivors of an earlier --json run")
    ap.add_argument("--all-tests", action="store_true",
                    help="run each mutant against its module's whole selection, not first the tests that execute it")
    args = ap.parse_args(argv)
    unknown = [m for m in args.modules if m not in TABLE]
    if unknown:
        ap.error(f"not in TABLE: {', '.join(unknown)} (known: {', '.join(TABLE)})")
    modules = args.modules or list(TABLE)
    match = args.match
    if args.rerun:
        with open(args.rerun, encoding="utf-8") as fh:
            earlier = json.load(fh)
        match = [*(match or []), *(s.rsplit(" (line ", 1)[0] for m in earlier["modules"] for s in m["survivors"])]
        modules = [m["module"] for m in earlier["modules"] if m["survivors"] and m["module"] in modules]
    if args.list:
        for module in modules:
            for m in find_mutants(module):
                print(f"{m.line:5}  {m.key}")
        return 0
    results = run(modules, progress=not args.quiet, match=match, jobs=max(1, args.jobs), all_tests=args.all_tests)
    print(json.dumps(_as_json(results), indent=2) if args.json else table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
