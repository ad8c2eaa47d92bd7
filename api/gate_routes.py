"""Mission status, gate evaluations, and approve / reject / waive.

Routes only translate: the service decides, audits its refusals, and raises `Refused`, which
the app answers (api.app: 403, 404, 409 with the refusal's type, 422 naming the field)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path

from schemas.models import ID_PATTERN
from service import AwaitingGate, GateView, MissionView
from service.keys import Identity

from .bodies import StrictJsonRoute
from .deps import IdentityDep, PartsDep, PersonDep
from .models import ApproveBody, Refusal, RejectBody, WaiveBody, WithdrawBody

router = APIRouter(tags=["gates"], route_class=StrictJsonRoute)

MissionPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]
GatePath = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]

_REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"description": "the body is not UTF-8 text"},
    401: {"description": "no or invalid API key"},
    403: {"model": Refusal, "description": "who acts: RoleNotAllowed, RoleNotHeld (a system key holds no role), "
                                          "SeparationOfDuties"},
    404: {"model": Refusal, "description": "UnknownMission, UnknownGate, UnknownPhase, UnknownBenchmark, UnknownPlan"},
    409: {"model": Refusal, "description": "the mission's, phase's or gate's state: PhaseNotStarted, PhasePaused, "
                                          "NotAwaitingApproval, GateDecided, AlreadyVoted, RoleAlreadyCounted, "
                                          "StaleDigest, ... (docs/api.md)"},
    413: {"description": "body over the size limit"},
}


def _may_read(ident: Identity, mission: str) -> None:
    if ident.kind == "system" and mission not in ident.missions:
        raise HTTPException(403, f"the API key of system {ident.name!r} may not read mission {mission!r}")


@router.get("/v1/me", tags=["keys"])
async def me(ident: IdentityDep) -> dict[str, Any]:
    """The identity behind the API key."""
    return ident.to_json()


@router.get("/v1/missions/{mission}/status", response_model=MissionView, responses=_REFUSALS)
async def mission_status(mission: MissionPath, p: PartsDep, ident: IdentityDep) -> MissionView:
    _may_read(ident, mission)
    return await p.service.status(mission)


@router.get("/v1/gates/awaiting", response_model=list[AwaitingGate], responses=_REFUSALS)
async def awaiting(p: PartsDep, ident: PersonDep) -> list[AwaitingGate]:
    """Gates the key holder may approve now, across missions."""
    return await p.service.gates_awaiting(ident.caller)


@router.get("/v1/missions/{mission}/gates/{gate}", response_model=GateView, responses=_REFUSALS)
async def gate_view(mission: MissionPath, gate: GatePath, p: PartsDep, ident: IdentityDep) -> GateView:
    """The gate's state, its evaluation with the explanation tree, its counted votes and waivers."""
    _may_read(ident, mission)
    return await p.service.gate(mission, gate)


@router.post("/v1/missions/{mission}/gates/{gate}/approve", response_model=GateView, responses=_REFUSALS)
async def approve(mission: MissionPath, gate: GatePath, body: ApproveBody, p: PartsDep,
                  ident: IdentityDep) -> GateView:
    return await p.service.approve(mission, gate, ident.caller, body.role, body.digest, body.comment,
                                   body.on_behalf_of)


@router.post("/v1/missions/{mission}/gates/{gate}/reject", response_model=GateView, responses=_REFUSALS)
async def reject(mission: MissionPath, gate: GatePath, body: RejectBody, p: PartsDep,
                 ident: IdentityDep) -> GateView:
    return await p.service.reject(mission, gate, ident.caller, body.role, body.digest, body.reason,
                                  body.on_behalf_of)


@router.post("/v1/missions/{mission}/gates/{gate}/waive", response_model=GateView, responses=_REFUSALS)
async def waive(mission: MissionPath, gate: GatePath, body: WaiveBody, p: PartsDep,
                ident: IdentityDep) -> GateView:
    return await p.service.waive(mission, gate, ident.caller, body.role, body.benchmark, body.justification,
                                 body.until, body.on_behalf_of)


@router.post("/v1/missions/{mission}/gates/{gate}/withdraw", response_model=GateView, responses=_REFUSALS)
async def withdraw(mission: MissionPath, gate: GatePath, body: WithdrawBody, p: PartsDep,
                   ident: IdentityDep) -> GateView:
    """Take back your counted approval or rejection while the gate awaits approval; it stops
    counting at once (NoCountedVote when there is none)."""
    return await p.service.withdraw(mission, gate, ident.caller, body.reason, body.on_behalf_of)
