"""The evidence index: per indicator, columnar arrays sorted the way points are ordered
(observed_at, then knowledge time, then id), so an as-of view is a couple of vectorised masks
and each window is found by binary search.

Bitemporal in one line: a record counts as of T when it is known by T, is not a withdrawal,
and is not superseded by a correction known by T. Corrections form chains whose knowledge
times only grow (acceptance enforces it), so "superseded by T" is one comparison against the
knowledge time of the record's corrector.

A stored value that evaluation cannot hold exactly (an integer beyond +/-(2^53 - 1) or a
non-finite number, accepted before acceptance refused them) counts as a withdrawal: it is no
data point, and a record it corrects stays replaced, as the correction chain says. Such records
are listed in `EvidenceIndex.unusable` with the reason, instead of failing every evaluation.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .evidence import MAX_EXACT_INTEGER, Record

__all__ = ["NEVER", "EvidenceIndex", "IndicatorSeries", "View", "unusable_value"]

NEVER = np.iinfo(np.int64).max
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class View:
    """The counting points of one indicator as of one instant, in point order."""

    obs: I64
    values: npt.NDArray[np.float64]
    positions: npt.NDArray[np.intp]  # into the series' arrays
    series: IndicatorSeries
    prefix: bool  # positions are 0..k-1, so slices of the series serve directly
    # What evaluations of this view worked out (rules.evaluate: benchmark results and their
    # canonical JSON), reused for as long as the view serves (IndicatorSeries.view).
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def ids(self, lo: int, hi: int) -> list[str]:
        if self.prefix:
            return self.series.ids[lo:hi]
        out: list[str] = self.series.id_array[self.positions[lo:hi]].tolist()
        return out


@dataclass
class IndicatorSeries:
    indicator: str
    obs: I64
    known: I64
    superseded_at: I64  # knowledge time of the correction that replaces the record, or NEVER
    is_point: npt.NDArray[np.bool_]
    values: npt.NDArray[np.float64]
    ids: list[str]
    # (from, until, view): the view serves every T in [from, until), no record entering,
    # leaving or being replaced in between.
    _views: list[tuple[int, int, View]] = field(default_factory=list, repr=False)

    @property
    def id_array(self) -> npt.NDArray[np.object_]:
        # Built on first use: fancy indexing an object array gathers thousands of ids at C speed.
        arr = self.__dict__.get("_id_array")
        if arr is None:
            arr = self.__dict__["_id_array"] = np.array(self.ids, dtype=object)
        return arr

    def __post_init__(self) -> None:
        # "Everything counts" holds for every T past these: the usual case of evaluating now.
        n = len(self.obs)
        self._all_known_at = int(self.known.max()) if n else 0
        self._first_superseded = int(self.superseded_at.min()) if n else NEVER
        self._all_points = bool(self.is_point.all())

    def view(self, as_of: int) -> View:
        held = self._views
        for start, until, cached in held:
            if start <= as_of < until:
                return cached
        if as_of >= self._all_known_at and as_of < self._first_superseded and self._all_points:
            v = View(self.obs, self.values, np.arange(len(self.obs)), self, prefix=True)
            until = self._first_superseded
        else:
            # A record is never known before it is observed, so only the prefix observed by T
            # can count; of that, the settled prefix counts whole: mask the rest alone.
            hi = int(np.searchsorted(self.obs, as_of, side="right"))
            lo = min(hi, self._settled(as_of))
            known = self.known[lo:hi]
            mask = (known <= as_of) & (self.superseded_at[lo:hi] > as_of) & self.is_point[lo:hi]
            pos = np.flatnonzero(mask)
            if lo:
                pos = np.concatenate([np.arange(lo), pos + lo])
            k = len(pos)
            if k == 0 or int(pos[-1]) == k - 1:
                # The counting points are a prefix (typical: only late reports are unknown):
                # slices share memory instead of copying three arrays per indicator.
                v = View(self.obs[:k], self.values[:k], pos, self, prefix=True)
            else:
                v = View(self.obs[pos], self.values[pos], pos, self, prefix=False)
            until = self._next_change(as_of, hi, known)
        # The same view serves until the next instant a record is observed, becomes known or
        # is replaced (evaluating now again and again: until the next late report is known);
        # its memo with it. Only a few are kept: holding more costs memory per indicator. A
        # warm index (store/warm.py) is read by several threads at once: the list is replaced,
        # never changed in place.
        self._views = [*held[-2:], (as_of, until, v)]
        return v

    def _next_change(self, as_of: int, hi: int, known: I64) -> int:
        """The first instant after T at which the view as of T could differ (a bound: no
        earlier one exists). Records observed after T come in at their observation or later;
        of those observed by T, the ones not yet known (all in `known`, the part past the
        settled prefix) at their knowledge time; replacements at their correction's."""
        nxt = int(self.obs[hi]) if hi < len(self.obs) else NEVER
        later = known[known > as_of]
        if len(later):
            nxt = min(nxt, int(later.min()))
        corrections = self.__dict__.get("_corrections")
        if corrections is None:
            finite = self.superseded_at[self.superseded_at != NEVER]
            corrections = self.__dict__["_corrections"] = np.sort(finite)
        i = int(np.searchsorted(corrections, as_of, side="right"))
        if i < len(corrections):
            nxt = min(nxt, int(corrections[i]))
        return nxt

    def _settled(self, as_of: int) -> int:
        """How many leading records all count as of T: known by T, not superseded by T, points.

        Late reports sit at the end of a series observed up to now, so for T near now this is
        most of it (a warm index is evaluated as of now, all its series whole)."""
        cum = self.__dict__.get("_cum")
        if cum is None:
            nonpoint = np.flatnonzero(~self.is_point)
            cum = self.__dict__["_cum"] = (np.maximum.accumulate(self.known),
                                           -np.minimum.accumulate(self.superseded_at),
                                           int(nonpoint[0]) if len(nonpoint) else len(self.obs))
        known_by, minus_superseded, first_nonpoint = cum
        return min(int(np.searchsorted(known_by, as_of, side="right")),
                   int(np.searchsorted(minus_superseded, -as_of, side="left")), first_nonpoint)

    @property
    def nbytes(self) -> int:
        """Memory held: the arrays, the id strings and the list holding them (views aside)."""
        cached = self.__dict__.get("_nbytes")
        if cached is None:
            arrays = self.obs.nbytes + self.known.nbytes + self.superseded_at.nbytes
            arrays += self.is_point.nbytes + self.values.nbytes
            cached = self.__dict__["_nbytes"] = (arrays + sys.getsizeof(self.ids)
                                                 + sum(sys.getsizeof(i) for i in self.ids))
        return int(cached)

    def merged(self, records: list[Record], unusable: dict[str, tuple[int, str]]) -> tuple[IndicatorSeries, int]:
        """This series plus `records` (of its indicator), as a new series, and how many were new.

        Each record goes where a full rebuild would put it (point order), found by binary
        search; a record already held is skipped. Corrections set their target's
        superseded_at, wherever the target sits. `unusable` gets the new unusable records.
        """
        obs, known, ids = self.obs, self.known, self.ids
        fresh: list[Record] = []
        at: list[int] = []
        seen: set[str] = set()
        for r in sorted(records, key=lambda r: (r.observed_at, r.known_at, r.id)):
            pos = int(np.searchsorted(obs, r.observed_at, side="left"))
            hi = int(np.searchsorted(obs, r.observed_at, side="right"))
            while pos < hi and (int(known[pos]), ids[pos]) < (r.known_at, r.id):
                pos += 1
            if r.id in seen or (pos < hi and ids[pos] == r.id):
                continue
            seen.add(r.id)
            problem = unusable_value(r.value)
            if problem is not None:
                unusable[r.id] = (r.known_at, problem)
            fresh.append(r)
            at.append(pos)
        if not fresh:
            return self, 0
        where = np.array(at, dtype=np.intp)
        if len(fresh) <= 16:
            # A few new records (the usual catch-up): one copy of the ids, each new one inserted
            # into it; copying tens of thousands of ids twice was most of such a merge.
            new_ids = list(ids)
            for offset, (p, r) in enumerate(zip(at, fresh, strict=True)):
                new_ids.insert(p + offset, r.id)
        else:
            new_ids = []
            prev = 0
            for p, r in zip(at, fresh, strict=True):
                new_ids.extend(ids[prev:p])
                new_ids.append(r.id)
                prev = p
            new_ids.extend(ids[prev:])
        superseded_at = np.insert(self.superseded_at, where, NEVER)
        targets = {r.supersedes: r.known_at for r in fresh if r.supersedes is not None}
        if targets:
            for i, rid in enumerate(new_ids):
                if rid in targets:
                    superseded_at[i] = targets[rid]
        return IndicatorSeries(
            indicator=self.indicator,
            obs=np.insert(obs, where, [r.observed_at for r in fresh]),
            known=np.insert(known, where, [r.known_at for r in fresh]),
            superseded_at=superseded_at,
            is_point=np.insert(self.is_point, where, [r.value is not None and r.id not in unusable for r in fresh]),
            values=np.insert(self.values, where, [0.0 if r.value is None or r.id in unusable else float(r.value)
                                                  for r in fresh]),
            ids=new_ids,
        ), len(fresh)

    @classmethod
    def empty(cls, indicator: str) -> IndicatorSeries:
        return cls(indicator, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64),
                   np.zeros(0, np.bool_), np.zeros(0, np.float64), [])


def unusable_value(value: object) -> str | None:
    """Why evaluation cannot use a stored value, or None when it can."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        if abs(value) <= MAX_EXACT_INTEGER:
            return None
        return "the stored value is outside -(2^53 - 1) to 2^53 - 1, which evaluation cannot hold exactly"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"the stored value {value!r} is not a finite number"
    return f"the stored value is a {type(value).__name__}, not a number or boolean"


class EvidenceIndex:
    """Accepted records of one mission, ready for as-of evaluation."""

    def __init__(self, records: Iterable[Record]):
        recs = list(records)
        by_id = {r.id: r for r in recs}
        superseded: dict[str, int] = {}
        for r in recs:
            if r.supersedes is not None and r.supersedes in by_id:
                superseded[r.supersedes] = r.known_at
        groups: dict[str, list[Record]] = {}
        # id -> (knowledge time, why its value does not count)
        self.unusable: dict[str, tuple[int, str]] = {}
        for r in recs:
            groups.setdefault(r.indicator, []).append(r)
            problem = unusable_value(r.value)
            if problem is not None:
                self.unusable[r.id] = (r.known_at, problem)
        self.series: dict[str, IndicatorSeries] = {}
        for ind, rs in groups.items():
            rs.sort(key=lambda r: (r.observed_at, r.known_at, r.id))
            self.series[ind] = IndicatorSeries(
                indicator=ind,
                obs=np.fromiter((r.observed_at for r in rs), np.int64, len(rs)),
                known=np.fromiter((r.known_at for r in rs), np.int64, len(rs)),
                superseded_at=np.fromiter((superseded.get(r.id, NEVER) for r in rs), np.int64, len(rs)),
                is_point=np.fromiter((r.value is not None and r.id not in self.unusable for r in rs),
                                     np.bool_, len(rs)),
                values=np.fromiter((0.0 if r.value is None or r.id in self.unusable else float(r.value)
                                    for r in rs), np.float64, len(rs)),
                ids=[r.id for r in rs],
            )
        self.count = len(recs)
        # Per gate, what its last digest hashed (rules.evaluate): carried over by
        # with_records, so a warm index rehashes only what changed since.
        self.memo: dict[Any, Any] = {}

    def with_records(self, records: Iterable[Record]) -> EvidenceIndex:
        """This index plus `records`, as a new index equal to one built from all of them at once.

        Series no record touches are shared, the others replaced (IndicatorSeries.merged), so
        an evaluation still holding this index is undisturbed. Records already held are
        skipped: a batch read twice adds once. A correction must come in the same call as its
        target or later, as the store's outbox delivers them.
        """
        groups: dict[str, list[Record]] = {}
        for r in records:
            groups.setdefault(r.indicator, []).append(r)
        if not groups:
            return self
        out = EvidenceIndex(())
        out.unusable = dict(self.unusable)
        out.series = dict(self.series)
        out.count = self.count
        out.memo = self.memo
        for ind, rs in groups.items():
            old = out.series.get(ind) or IndicatorSeries.empty(ind)
            out.series[ind], added = old.merged(rs, out.unusable)
            out.count += added
        return out

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.series.values())

    @property
    def memo_nbytes(self) -> int:
        """About what evaluations keep beside the index: the text of each gate's last
        explanation (its benchmarks' results, memoised on the views, hold the same strings)
        and a reference per evidence id they list."""
        texts = {id(seg): len(seg) for states in list(self.memo.values()) for seg, _ in states}
        refs = sum(len(r.evidence) for s in self.series.values() for _, _, v in s._views
                   for r in list(v.memo.values()))
        return sum(texts.values()) + 8 * refs

    def unusable_known(self, as_of: int) -> list[dict[str, str]]:
        """The records known at `as_of` whose stored value does not count, with the reason."""
        return [{"id": rid, "reason": why} for rid, (known, why) in sorted(self.unusable.items()) if known <= as_of]

    def view(self, indicator: str, as_of: int) -> View | None:
        s = self.series.get(indicator)
        return None if s is None else s.view(as_of)

    def counting_ids(self, as_of: int) -> list[str]:
        out: list[str] = []
        for s in self.series.values():
            v = s.view(as_of)
            out.extend(v.ids(0, len(v.obs)))
        out.sort()
        return out
