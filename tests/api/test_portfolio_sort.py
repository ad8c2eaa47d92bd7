"""The portfolio's server-side sort: every column both ways, missing values last either way."""

from __future__ import annotations

from api.pages.portfolio import SORTS, sort_rows
from service.reads import PortfolioRow


def row(mission: str, **kw: object) -> PortfolioRow:
    base: dict[str, object] = dict(name=mission, phase_reached=None, phase_reached_name=None, phases=2,
                                   awaiting=0, oldest_wait_us=None)
    base.update(kw)
    return PortfolioRow(mission=mission, **base)  # type: ignore[arg-type]


ROWS = [row("b", awaiting=2, oldest_wait_us=100, phase_reached="p1", stale_soon=["x"]),
        row("a", awaiting=0),
        row("c", awaiting=1, oldest_wait_us=50, phase_reached="p0", last_regression_at=10, stale_soon=["x", "y"]),
        row("d", awaiting=1, last_regression_at=20)]


def order(sort: str, desc: bool = False) -> list[str]:
    return [r.mission for r in sort_rows(ROWS, sort, desc)]


def test_each_column() -> None:
    assert order("mission") == ["a", "b", "c", "d"] and order("mission", True) == ["d", "c", "b", "a"]
    assert order("awaiting", True) == ["b", "c", "d", "a"]  # ties in mission order
    assert order("wait") == ["c", "b", "a", "d"]  # the oldest wait first; none last
    assert order("wait", True) == ["b", "c", "a", "d"]  # none still last
    assert order("phase") == ["c", "b", "a", "d"]
    assert order("stale", True) == ["c", "b", "a", "d"]
    assert order("regression") == ["d", "c", "a", "b"]  # newest first
    assert set(SORTS) == {"mission", "phase", "awaiting", "wait", "stale", "regression"}
