"""Coordinators' actions: load a plan, start a mission's exit, reopen a phase; revoking a waiver."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError

from rules.plan import PlanError, load_plan
from schemas.jsonfmt import JsonFormatError, loads_strict
from schemas.models import ID_PATTERN

from .bodies import StrictJsonRoute
from .deps import Parts, PartsDep, PersonDep
from .gate_routes import _REFUSALS, GatePath, MissionPath, act
from .keys import Identity
from .models import MigrateBody, ReopenBody, RevokeBody, StartBody
from .ports import (
    GateView,
    MigrateInput,
    MissionStatus,
    NotFoundError,
    PlanLoaded,
    RefusedError,
    ReopenInput,
    RevokeInput,
    StartInput,
)

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
async def load(request: Request, p: PartsDep, ident: PersonDep) -> PlanLoaded:
    """Store an exit plan. It becomes its mission's plan unless the mission's exit already runs on
    another version (then `registered` is false: migrate the mission to it)."""
    try:
        doc = loads_strict((await request.body()).decode("utf-8"))
    except (UnicodeDecodeError, JsonFormatError) as exc:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": str(exc),
                                       "input": None}]) from None
    try:
        plan = load_plan(doc)
    except PlanError as exc:
        raise RequestValidationError([{"type": "plan_invalid", "loc": ("body", pr.path), "msg": pr.message,
                                       "input": None} for pr in exc.problems]) from None
    if not ident.roles & set(plan.model.coordinators):
        raise HTTPException(403, f"{ident.name} holds none of the plan's coordinator roles "
                                 f"({', '.join(plan.model.coordinators)})")
    return await p.gates.load_plan(plan, ident.actor)


async def _coordinate(p: Parts, ident: Identity, action: str, mission: str, call: Awaitable[MissionStatus],
                      details: dict[str, Any]) -> MissionStatus:
    try:
        return await call
    except NotFoundError as exc:
        raise HTTPException(404, exc.reason) from None
    except RefusedError as exc:
        await p.audit.append(f"{action}.refused", {"mission": mission, "reason": exc.reason, **details}, ident.actor)
        raise HTTPException(403 if exc.forbidden else 409, exc.reason) from None


@router.post("/v1/missions/{mission}/start", response_model=MissionStatus, responses=_REFUSALS)
async def start(mission: MissionPath, body: StartBody, p: PartsDep, ident: PersonDep) -> MissionStatus:
    """Start the mission's exit on its loaded plan: phases without dependencies start at once.
    Whoever starts it may not decide its gates (separation of duties)."""
    inp = StartInput(person=ident.name, held_roles=tuple(sorted(ident.roles)), role=body.role)
    return await _coordinate(p, ident, "mission_start", mission, p.gates.start_mission(mission, inp),
                             {"role": body.role})


@router.post("/v1/missions/{mission}/phases/{phase}/reopen", response_model=MissionStatus, responses=_REFUSALS)
async def reopen(mission: MissionPath, phase: PhasePath, body: ReopenBody, p: PartsDep,
                 ident: PersonDep) -> MissionStatus:
    """Reopen a complete phase: its gates collect again with approvals void; dependants that are
    not complete pause until it completes again."""
    inp = ReopenInput(person=ident.name, held_roles=tuple(sorted(ident.roles)), role=body.role, reason=body.reason)
    return await _coordinate(p, ident, "reopen", mission, p.gates.reopen(mission, phase, inp),
                             {"phase": phase, "role": body.role})


@router.post("/v1/missions/{mission}/migrate", response_model=MissionStatus, responses=_REFUSALS)
async def migrate(mission: MissionPath, body: MigrateBody, p: PartsDep, ident: PersonDep) -> MissionStatus:
    """Move the running exit to another loaded plan of the mission: every gate is re-evaluated
    and pending approvals are void."""
    inp = MigrateInput(person=ident.name, held_roles=tuple(sorted(ident.roles)), role=body.role,
                       plan_sha256=body.plan_sha256)
    return await _coordinate(p, ident, "migrate", mission, p.gates.migrate(mission, inp),
                             {"role": body.role, "plan_sha256": body.plan_sha256})


@router.post("/v1/missions/{mission}/gates/{gate}/waivers/{benchmark}/revoke", response_model=GateView,
             responses=_REFUSALS)
async def revoke(mission: MissionPath, gate: GatePath, benchmark: BenchmarkPath, body: RevokeBody,
                 p: PartsDep, ident: PersonDep) -> GateView:
    """End a waiver now; the gate is re-evaluated at once."""
    inp = RevokeInput(person=ident.name, held_roles=tuple(sorted(ident.roles)), role=body.role,
                      benchmark=benchmark, reason=body.reason)
    return await act(p, ident, "waiver_revoke", mission, gate, p.gates.revoke_waiver(mission, gate, inp),
                     {"role": body.role, "benchmark": benchmark})
