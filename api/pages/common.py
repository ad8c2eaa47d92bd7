"""What every page shares: the templates (with the person's language and the time filters) and
the signed-in person behind the request."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates

from schemas.timefmt import DAY, HOUR, MINUTE, format_timestamp

from .. import i18n

__all__ = ["LABELS", "render", "templates", "wait_text"]


# The words for the states and kinds the pages show (their msgids in the catalogues).
LABELS = {
    "not_started": "not started", "collecting": "collecting", "awaiting_approval": "awaiting approval",
    "approved": "approved", "paused": "paused", "running": "running", "complete": "complete",
    "failed": "failed", "pass": "pass", "fail": "fail", "unknown": "unknown", "approval": "approval",
    "rejection": "rejection",
}


def _i18n(request: Request) -> dict[str, Any]:
    lang = i18n.choose(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))
    t = i18n.translator(lang)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")

    def label(key: str | None) -> str:
        return "—" if key is None else t.gettext(LABELS.get(key, key))

    return {"_": t.gettext, "gettext": t.gettext, "ngettext": t.ngettext, "label": label, "lang": lang,
            "languages": i18n.LANGUAGES, "here": here}


templates = Jinja2Templates(directory=Path(__file__).resolve().parents[1] / "templates", context_processors=[_i18n])


def _ts(us: int | None) -> str:
    return "—" if us is None else format_timestamp(us)


def wait_text(us: int | None) -> str:
    """A span of time as a person reads it on a page: `3 d 4 h`, `25 min`."""
    if us is None:
        return "—"
    us = max(us, 0)
    d, rest = divmod(us, DAY)
    h, rest = divmod(rest, HOUR)
    mins = rest // MINUTE
    if d:
        return f"{d} d {h} h" if h else f"{d} d"
    if h:
        return f"{h} h {mins} min" if mins else f"{h} h"
    return f"{mins} min"


def _since(us: int | None) -> str:
    return "—" if us is None else wait_text(time.time_ns() // 1000 - us)


templates.env.filters["ts"] = _ts
templates.env.filters["span"] = wait_text
templates.env.filters["since"] = _since


def render(request: Request, name: str, context: dict[str, Any]) -> str:
    """A page as text (for printing), with what every page's context has."""
    return templates.get_template(name).render({**context, **_i18n(request), "request": request})
