"""The portfolio: one row per mission the person holds a role in, sorted on the server by the
column the person picks (plain links: no JavaScript), each linking to its overview."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from service.reads import PortfolioRow

from .auth import Signed, signed_in
from .common import templates

__all__ = ["SORTS", "router", "sort_rows"]

router = APIRouter(prefix="/ui", include_in_schema=False)

_NEVER = 2**63


# Each column's key, ascending; missing values sort last whichever the direction.
SORTS: dict[str, Callable[[PortfolioRow], Any]] = {
    "mission": lambda r: r.mission,
    "phase": lambda r: (r.phase_reached is None, r.phase_reached or ""),
    "awaiting": lambda r: r.awaiting,
    "wait": lambda r: (r.oldest_wait_us is None, r.oldest_wait_us or _NEVER),  # oldest first
    "stale": lambda r: len(r.stale_soon),
    "regression": lambda r: (r.last_regression_at is None, -(r.last_regression_at or 0)),  # newest first
}


def sort_rows(rows: list[PortfolioRow], sort: str, descending: bool) -> list[PortfolioRow]:
    key = SORTS[sort]
    out = sorted(rows, key=lambda r: r.mission)  # ties in mission order, either way
    if not descending:
        return sorted(out, key=key)
    present = [r for r in out if not (isinstance(key(r), tuple) and key(r)[0])]
    absent = [r for r in out if r not in present]
    return sorted(present, key=key, reverse=True) + absent


@router.get("/portfolio", response_class=HTMLResponse)
async def portfolio_page(request: Request, sort: str = "wait", dir: str = "asc") -> Response:
    s = signed_in(request)
    if not isinstance(s, Signed):
        return s
    if sort not in SORTS or dir not in ("asc", "desc"):
        return templates.TemplateResponse(request, "problem.html", s.context(
            error=f"sort: one of {', '.join(SORTS)} with dir asc or desc (got sort={sort!r}, dir={dir!r})"),
            status_code=422)
    rows = sort_rows(await s.reads.portfolio(s.ident.caller), sort, dir == "desc")
    return templates.TemplateResponse(request, "portfolio.html", s.context(
        rows=rows, sort=sort, dir=dir, columns=list(SORTS)))
