"""Coordinators' actions: load a plan, start a mission's exit, reopen a phase; revoking a waiver."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.exceptions import RequestValidationError

from rules.plan import PlanError, load_plan
from schemas.jsonfmt import JsonFormatError, loads_strict
from schemas.models import ID_PATTERN
from service import GateView, MissionView, PlanLoaded

from .bodies import StrictJsonRoute
from .deps import IdentityDep, PartsDep
from .gate_routes import _REFUSALS, GatePath, MissionPath
from .models import MigrateBody, ReopenBody, RevokeBody, StartBody

router = APIRouter(tags=["missions"], route_class=StrictJsonRoute)

PhasePath = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]
BenchmarkPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]

_PLAN_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "An exit plan (CONTRACT section 1) as JSON.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
}


@router.post("/v1/plans", response_model=PlanLoaded, responses={**_REFUSALS, 422: {
             "description": "the plan is rejected: every problem with its JSON path"}}, openapi_extra=_PLAN_DOC)
async def load(request: Request, p: PartsDep, ident: IdentityDep) -> PlanLoaded:
    """Store an exit plan (a person holding one of its coordinator roles). It becomes its
    mission's plan unless the mission's exit already runs on another version (then
    `registered` is false: migrate the mission to it)."""
    try:
        doc = loads_strict((await request.body()).decode("utf-8"))
    except (UnicodeDecodeError, JsonFormatError) as exc:
        where = exc.path if isinstance(exc, JsonFormatError) else ()
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", *where), "msg": str(exc),
                                       "input": None}]) from None
    try:
        plan = load_plan(doc)
    except PlanError as exc:
        raise RequestValidationError([{"type": "plan_invalid", "loc": ("body", pr.path), "msg": pr.message,
                                       "input": None} for pr in exc.problems]) from None
    return await p.service.load_plan(plan, ident.caller)


@router.post("/v1/missions/{mission}/start", response_model=MissionView, responses=_REFUSALS)
async def start(mission: MissionPath, body: StartBody, p: PartsDep, ident: IdentityDep) -> MissionView:
    """Start the mission's exit on its loaded plan: phases without dependencies start at once.
    Whoever starts it may not decide its gates (separation of duties)."""
    return await p.service.start_mission(mission, ident.caller, body.role)


@router.post("/v1/missions/{mission}/phases/{phase}/reopen", response_model=MissionView, responses=_REFUSALS)
async def reopen(mission: MissionPath, phase: PhasePath, body: ReopenBody, p: PartsDep,
                 ident: IdentityDep) -> MissionView:
    """Reopen a complete (or failed) phase: its gates collect again with approvals void;
    dependants that are not complete pause until it completes again."""
    return await p.service.reopen(mission, phase, ident.caller, body.role, body.reason)


@router.post("/v1/missions/{mission}/migrate", response_model=MissionView, responses=_REFUSALS)
async def migrate(mission: MissionPath, body: MigrateBody, p: PartsDep, ident: IdentityDep) -> MissionView:
    """Move the running exit to another loaded plan of the mission: every gate is re-evaluated
    and pending approvals are void."""
    return await p.service.migrate(mission, ident.caller, body.role, body.plan_sha256)


@router.post("/v1/missions/{mission}/gates/{gate}/waivers/{benchmark}/revoke", response_model=GateView,
             responses=_REFUSALS)
async def revoke(mission: MissionPath, gate: GatePath, benchmark: BenchmarkPath, body: RevokeBody,
                 p: PartsDep, ident: IdentityDep) -> GateView:
    """End a waiver now; the answer shows the gate re-evaluated (or `evaluation_pending`)."""
    return await p.service.revoke_waiver(mission, gate, ident.caller, body.role, benchmark, body.reason,
                                         body.on_behalf_of)
