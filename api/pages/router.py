"""Every page's routes in one router (api/app.py includes it), and the language switch."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from .. import i18n
from . import dossier, overview, portfolio

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
router.include_router(overview.router)
router.include_router(portfolio.router)
router.include_router(dossier.router)


@router.get("/ui/lang/{lang}")
async def switch_language(lang: str, next: str = "/ui/") -> Response:
    """Keep the chosen language in a cookie and go back; only paths of these pages are followed."""
    target = urlsplit(next)
    back = next if not target.scheme and not target.netloc and next.startswith("/ui") else "/ui/"
    resp = RedirectResponse(back, status_code=303)
    if lang in i18n.LANGUAGES:
        resp.set_cookie(i18n.COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/ui")
    return resp
