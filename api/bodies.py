"""JSON request bodies parsed as the contract says, and validation errors that stay small.

FastAPI parses bodies with the standard `json.loads`, which takes NaN, Infinity and repeated
keys. Routes of the routers built with `StrictJsonRoute` have their body parsed by
`schemas.jsonfmt.loads_strict` (the parser of plans and evidence) before FastAPI sees it, so
every JSON body the API takes follows one rule, and a refusal is a 422 naming the field.
"""

from __future__ import annotations

import email.message
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from schemas.jsonfmt import (
    LONE_SURROGATE,
    JsonFormatError,
    loads_strict,
    lone_surrogates,
    printable,
)

__all__ = ["StrictJsonRoute", "parse_json_body", "validation_error_response"]


def _invalid(loc: tuple[str | int, ...], msg: str) -> RequestValidationError:
    return RequestValidationError([{"type": "json_invalid", "loc": ("body", *loc), "msg": msg, "input": None}])


def parse_json_body(body: bytes) -> Any:
    """The body as JSON by the contract's rules (section 0), or a RequestValidationError that
    names the field: not UTF-8, NaN / Infinity, a repeated key, a lone surrogate."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid((), f"the body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        doc = loads_strict(text)
    except JsonFormatError as exc:
        raise _invalid(exc.path, str(exc)) from None
    broken = lone_surrogates(doc)
    if broken:
        raise RequestValidationError([{"type": "string_invalid", "loc": ("body", *p), "msg": LONE_SURROGATE,
                                       "input": None} for p in broken])
    return doc


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


class _ParsedRequest(Request):
    parsed: Any

    async def json(self) -> Any:
        return self.parsed


class StrictJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler  # a route that reads its body itself (POST /v1/plans) parses it strictly too

        async def strict(request: Request) -> Response:
            body = await request.body()
            if body and _is_json(request.headers.get("content-type")):
                # Parsed here, outside FastAPI's body reading, which turns any parser error into
                # a bare 400; FastAPI then reads the parsed value through json().
                parsed = _ParsedRequest(request.scope, request.receive)
                parsed._body = body
                parsed.parsed = parse_json_body(body)
                request = parsed
            return await handler(request)

        return strict


_MAX_TEXT = 200
_MAX_ITEMS = 20


def _small(value: Any) -> Any:
    """What a validation error echoes of the input, cut so that a 5 MB field is not sent back
    and made encodable (lone surrogates escaped, non-finite numbers as text)."""
    if isinstance(value, str):
        cut = printable(value[:_MAX_TEXT])
        return cut if len(value) <= _MAX_TEXT else f"{cut}... ({len(value)} characters)"
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        items = list(value.items())
        out = {printable(str(k))[:_MAX_TEXT]: _small(v) for k, v in items[:_MAX_ITEMS]}
        if len(items) > _MAX_ITEMS:
            out["..."] = f"{len(items) - _MAX_ITEMS} more"
        return out
    if isinstance(value, (list, tuple)):
        return [_small(v) for v in value[:_MAX_ITEMS]] + ([f"... {len(value) - _MAX_ITEMS} more"]
                                                           if len(value) > _MAX_ITEMS else [])
    if isinstance(value, bytes):
        return f"{len(value)} bytes"
    return value


async def validation_error_response(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 body, with each error's echoed input kept small."""
    assert isinstance(exc, RequestValidationError)
    errors = [{**e, "input": _small(e["input"])} if "input" in e else e for e in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(errors)})
