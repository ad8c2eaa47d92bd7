"""The signed-in person behind a page request, and the pages' one service-side reader."""

from __future__ import annotations

import weakref

from fastapi import Request
from fastapi.responses import RedirectResponse

from service import Service
from service.keys import Identity
from service.reads import Reads

from ..deps import Parts, parts
from ..ui import _session

__all__ = ["Signed", "reads", "signed_in"]

_READS: weakref.WeakKeyDictionary[Service, Reads] = weakref.WeakKeyDictionary()


def reads(p: Parts) -> Reads:
    r = _READS.get(p.service)
    if r is None:
        r = _READS[p.service] = Reads(p.service)
    return r


class Signed:
    def __init__(self, p: Parts, ident: Identity, csrf: str):
        self.p, self.ident, self.csrf = p, ident, csrf
        self.reads = reads(p)

    def context(self, **more: object) -> dict[str, object]:
        return {"me": self.ident, "csrf": self.csrf, **more}


def signed_in(request: Request) -> Signed | RedirectResponse:
    p = parts(request)
    session = _session(request, p)
    if session is None:
        return RedirectResponse("/ui/login", status_code=303)
    return Signed(p, session[0], session[1])
