"""What the gate page adds for a reviewer (service/review.py): what changed since their last
vote, what would open the gate, stale-before-decision warnings, and the acts they may take now."""

from __future__ import annotations

from typing import Any

from service import GateView
from service.keys import Identity
from service.review import review

from ..deps import Parts
from .auth import reads

__all__ = ["review_context"]


async def review_context(p: Parts, ident: Identity, view: GateView, since: str | None = None) -> dict[str, Any]:
    return {"review": await review(reads(p), view, ident.caller, since)}
