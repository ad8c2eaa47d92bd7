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
from collections.abc import Iterable
from dataclasses import dataclass, field

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
    _views: dict[int, View] = field(default_factory=dict, repr=False)

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
        cached = self._views.get(as_of)
        if cached is not None:
            return cached
        if as_of >= self._all_known_at and as_of < self._first_superseded and self._all_points:
            v = View(self.obs, self.values, np.arange(len(self.obs)), self, prefix=True)
        else:
            # A record is never known before it is observed, so only the prefix observed by T
            # can count: mask that alone.
            hi = int(np.searchsorted(self.obs, as_of, side="right"))
            mask = (self.known[:hi] <= as_of) & (self.superseded_at[:hi] > as_of) & self.is_point[:hi]
            pos = np.flatnonzero(mask)
            k = len(pos)
            if k == 0 or int(pos[-1]) == k - 1:
                # The counting points are a prefix (typical: only late reports are unknown):
                # slices share memory instead of copying three arrays per indicator.
                v = View(self.obs[:k], self.values[:k], pos, self, prefix=True)
            else:
                v = View(self.obs[pos], self.values[pos], pos, self, prefix=False)
        # Only the same instant is reused (benchmarks of one evaluation share a view); holding
        # more costs memory per indicator and measurably slows large indexes.
        if len(self._views) >= 4:
            self._views.pop(next(iter(self._views)))
        self._views[as_of] = v
        return v


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
