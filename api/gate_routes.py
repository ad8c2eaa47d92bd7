"""Mission status, gate evaluations, and approve / reject / waive."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Path

from schemas.models import ID_PATTERN

from .bodies import StrictJsonRoute
from .deps import IdentityDep, Parts, PartsDep, PersonDep
from .keys import Identity
from .models import ApproveBody, Refusal, RejectBody, WaiveBody
from .ports import (
    ApproveInput,
    AwaitingGate,
    GateView,
    MissionStatus,
    NotFoundError,
    RefusedError,
    RejectInput,
    WaiveInput,
)

router = APIRouter(tags=["gates"], route_class=StrictJsonRoute)

MissionPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]
GatePath = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]

_REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"description": "the body is not UTF-8 text"},
    401: {"description": "no or invalid API key"},
    403: {"model": Refusal, "description": "outside the key's rights (role not held, a system key, "
                                          "separation of duties)"},
    404: {"description": "unknown mission or gate"},
    409: {"model": Refusal, "description": "refused by the gate's validator: digest not current, "
                                          "already approved, gate not awaiting approval"},
    413: {"description": "body over the size limit"},
}


def _may_read(ident: Identity, mission: str) -> None:
    if ident.kind == "system" and mission not in ident.missions:
        raise HTTPException(403, f"the API key of system {ident.name!r} may not read mission {mission!r}")


T = TypeVar("T")


async def _read(call: Awaitable[T]) -> T:
    try:
        return await call
    except NotFoundError as exc:
        raise HTTPException(404, exc.reason) from None


async def act(p: Parts, ident: Identity, action: str, mission: str, gate: str,
              call: Awaitable[GateView], details: dict[str, Any]) -> GateView:
    """Run an action; a refusal is audited (nothing is recorded in the gate) and raised."""
    try:
        return await call
    except NotFoundError as exc:
        raise HTTPException(404, exc.reason) from None
    except RefusedError as exc:
        await p.audit.append(f"{action}.refused", {"mission": mission, "gate": gate, "reason": exc.reason,
                                                   **details}, ident.actor)
        raise HTTPException(403 if exc.forbidden else 409, exc.reason) from None


@router.get("/v1/me", tags=["keys"])
async def me(ident: IdentityDep) -> dict[str, Any]:
    """The identity behind the API key."""
    return ident.to_json()


@router.get("/v1/missions/{mission}/status", response_model=MissionStatus, responses=_REFUSALS)
async def mission_status(mission: MissionPath, p: PartsDep, ident: IdentityDep) -> MissionStatus:
    _may_read(ident, mission)
    return await _read(p.gates.status(mission))


@router.get("/v1/gates/awaiting", response_model=list[AwaitingGate], responses=_REFUSALS)
async def awaiting(p: PartsDep, ident: PersonDep) -> list[AwaitingGate]:
    """Gates awaiting the key holder's approval, across missions."""
    return await p.gates.gates_awaiting(ident.name, ident.roles)


@router.get("/v1/missions/{mission}/gates/{gate}", response_model=GateView, responses=_REFUSALS)
async def gate_view(mission: MissionPath, gate: GatePath, p: PartsDep, ident: IdentityDep) -> GateView:
    """The gate's state, its current evaluation with the explanation tree, approvals and waivers."""
    _may_read(ident, mission)
    return await _read(p.gates.gate(mission, gate))


@router.post("/v1/missions/{mission}/gates/{gate}/approve", response_model=GateView, responses=_REFUSALS)
async def approve(mission: MissionPath, gate: GatePath, body: ApproveBody, p: PartsDep,
                  ident: PersonDep) -> GateView:
    inp = ApproveInput(person=ident.name, held_roles=tuple(sorted(ident.roles)), **body.model_dump())
    return await act(p, ident, "approval", mission, gate, p.gates.approve(mission, gate, inp),
                     {"role": body.role, "digest": body.digest})


@router.post("/v1/missions/{mission}/gates/{gate}/reject", response_model=GateView, responses=_REFUSALS)
async def reject(mission: MissionPath, gate: GatePath, body: RejectBody, p: PartsDep,
                 ident: PersonDep) -> GateView:
    inp = RejectInput(person=ident.name, held_roles=tuple(sorted(ident.roles)), **body.model_dump())
    return await act(p, ident, "rejection", mission, gate, p.gates.reject(mission, gate, inp),
                     {"role": body.role, "digest": body.digest})


@router.post("/v1/missions/{mission}/gates/{gate}/waive", response_model=GateView, responses=_REFUSALS)
async def waive(mission: MissionPath, gate: GatePath, body: WaiveBody, p: PartsDep,
                ident: PersonDep) -> GateView:
    inp = WaiveInput(person=ident.name, held_roles=tuple(sorted(ident.roles)), **body.model_dump())
    return await act(p, ident, "waiver", mission, gate, p.gates.waive(mission, gate, inp),
                     {"role": body.role, "benchmark": body.benchmark})
