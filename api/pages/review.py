"""What the gate page adds for a reviewer (service/review.py): what changed since their last
vote or last look, what would open the gate, stale-before-decision warnings, the newer plan's
what-if, and the acts they may take now.

The evaluation a person last looked at is kept in their browser: a signed, HTTP-only cookie
holding the digest shown on each gate page they opened (the newest SEEN_MAX gates)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from itsdangerous import BadData, URLSafeSerializer

from service import GateView
from service.keys import Identity
from service.review import review

from ..deps import Parts
from .auth import reads

__all__ = ["remember_view", "review_context"]

SEEN = "exitgate_seen"
SEEN_MAX = 50


def _signer(p: Parts) -> URLSafeSerializer:
    return URLSafeSerializer(p.settings.session_secret.get_secret_value(), salt="exitgate-seen")


def _seen(request: Request, p: Parts, who: str) -> dict[str, str]:
    try:
        data = _signer(p).loads(request.cookies.get(SEEN, ""))
    except BadData:
        return {}
    if not isinstance(data, dict) or data.get("who") != who or not isinstance(data.get("g"), dict):
        return {}  # another person's (a shared browser): not theirs to compare with
    return {str(k): str(v) for k, v in data["g"].items()}


async def review_context(request: Request, p: Parts, ident: Identity, view: GateView, votes_as: list[str],
                         waives_as: list[str]) -> dict[str, Any]:
    viewed = _seen(request, p, ident.name).get(f"{view.mission}/{view.gate}")
    return {"review": await review(reads(p), view, ident.caller, request.query_params.get("since"), viewed,
                                   votes_as, waives_as)}


def remember_view(request: Request, resp: Response, p: Parts, ident: Identity, view: GateView) -> None:
    if view.evaluation is None:
        return
    seen = _seen(request, p, ident.name)
    key = f"{view.mission}/{view.gate}"
    seen.pop(key, None)
    seen[key] = str(view.evaluation["digest"])
    kept = dict(list(seen.items())[-SEEN_MAX:])
    resp.set_cookie(SEEN, _signer(p).dumps({"who": ident.name, "g": kept}), max_age=365 * 86400, httponly=True,
                    secure=p.settings.cookie_secure, samesite="lax", path="/ui")
