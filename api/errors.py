"""The service's refusals as HTTP: 403 who acts, 404 unknown, 409 the mission's, phase's or
gate's state (each with its refusal type); invalid input as 422 shaped like FastAPI's own,
naming the field."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from service import Refused, Unavailable

__all__ = ["refusal_status", "refused_response", "unavailable_response"]

_STATUS = {"forbidden": 403, "not_found": 404, "invalid": 422, "conflict": 409}


def refusal_status(exc: Refused) -> int:
    return _STATUS[exc.category]


async def refused_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    status = refusal_status(exc)
    if status == 422 and exc.problems:  # input refused whole (a register import): every problem
        return JSONResponse({"detail": [{"loc": ["body", exc.field or "body", path], "msg": why, "type": exc.type}
                                        for path, why in exc.problems]}, status_code=422)
    if status == 422:
        return JSONResponse({"detail": [{"loc": ["body", exc.field or "body"], "msg": exc.message,
                                         "type": exc.type}]}, status_code=422)
    return JSONResponse({"type": exc.type, "detail": exc.message}, status_code=status)


async def unavailable_response(request: Request, exc: Exception) -> Response:
    """503 naming what did not answer (a stopped worker, an unreachable Temporal)."""
    assert isinstance(exc, Unavailable)
    return JSONResponse({"type": "Unavailable", "detail": exc.message}, status_code=503,
                        headers={"Retry-After": "5"})
