"""What every route needs: the app's parts, and the identity behind the request's API key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from service import Service
from service.keys import Identity, Keys

from .middleware import Metrics
from .settings import ApiSettings

__all__ = ["IdentityDep", "Parts", "PartsDep", "PersonDep", "parts"]


@dataclass
class Parts:
    settings: ApiSettings
    service: Service
    keys: Keys
    metrics: Metrics


def parts(request: Request) -> Parts:
    p: Parts = request.app.state.parts
    return p


PartsDep = Annotated[Parts, Depends(parts)]

# Declared as security schemes so the OpenAPI docs offer an "Authorize" button for each form.
_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: <API key>")


def identity(
    p: PartsDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> Identity:
    key = bearer.credentials if bearer is not None else header
    if not key:
        raise HTTPException(401, "an API key is required (Authorization: Bearer <key> or X-API-Key)",
                            headers={"WWW-Authenticate": "Bearer"})
    ident = p.keys.verify(key)
    if ident is None:
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
    return ident


IdentityDep = Annotated[Identity, Depends(identity)]


def person(ident: IdentityDep) -> Identity:
    """For what only people read (the gates awaiting them). Acts take any identity: the service
    refuses a system's, and audits the refusal."""
    if ident.kind != "person":
        raise HTTPException(403, f"the key of system {ident.name!r} is not a person's key")
    return ident


PersonDep = Annotated[Identity, Depends(person)]
