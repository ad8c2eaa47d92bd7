"""The evidence index: per indicator, columnar arrays sorted the way points are ordered
(observed_at, then knowledge time, then id), so an as-of view is a couple of vectorised masks
and each window is found by binary search.

Bitemporal in one line: a record counts as of T when it is known by T, is not a withdrawal,
and is not superseded by a correction known by T. Corrections form chains whose knowledge
times only grow (acceptance enforces it), so "superseded by T" is one comparison against the
knowledge time of the record's corrector.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .evidence import Record

__all__ = ["NEVER", "EvidenceIndex", "IndicatorSeries", "View"]

NEVER = np.iinfo(np.int64).max
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class View:
    """The counting points of one indicator as of one instant, in point order."""

    obs: I64
    values: npt.NDArray[np.float64]
    known: I64
    positions: npt.NDArray[np.intp]  # into the series' ids
    series: IndicatorSeries

    def ids(self, lo: int, hi: int) -> list[str]:
        ids = self.series.ids
        return [ids[i] for i in self.positions[lo:hi].tolist()]


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

    def view(self, as_of: int) -> View:
        cached = self._views.get(as_of)
        if cached is not None:
            return cached
        mask = (self.known <= as_of) & (self.superseded_at > as_of) & self.is_point
        pos = np.flatnonzero(mask)
        v = View(self.obs[pos], self.values[pos], self.known[pos], pos, self)
        if len(self._views) > 64:
            self._views.clear()
        self._views[as_of] = v
        return v


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
        for r in recs:
            groups.setdefault(r.indicator, []).append(r)
        self.series: dict[str, IndicatorSeries] = {}
        for ind, rs in groups.items():
            rs.sort(key=lambda r: (r.observed_at, r.known_at, r.id))
            self.series[ind] = IndicatorSeries(
                indicator=ind,
                obs=np.fromiter((r.observed_at for r in rs), np.int64, len(rs)),
                known=np.fromiter((r.known_at for r in rs), np.int64, len(rs)),
                superseded_at=np.fromiter((superseded.get(r.id, NEVER) for r in rs), np.int64, len(rs)),
                is_point=np.fromiter((r.value is not None for r in rs), np.bool_, len(rs)),
                values=np.fromiter((float(r.value) if r.value is not None else 0.0 for r in rs), np.float64, len(rs)),
                ids=[r.id for r in rs],
            )
        self.count = len(recs)

    def view(self, indicator: str, as_of: int) -> View | None:
        s = self.series.get(indicator)
        return None if s is None else s.view(as_of)

    def counting_ids(self, as_of: int) -> list[str]:
        out: list[str] = []
        for s in self.series.values():
            out.extend(s.view(as_of).ids(0, len(s.view(as_of).obs)))
        out.sort()
        return out
