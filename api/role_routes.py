"""The role register over HTTP (CONTRACT section 5): read it (now, or as it stood at an instant),
grant and end roles, import a list, delegate and end a delegation.

A change is made by the key's person under `by_role`, one of the plan's coordinator roles they
hold (a delegation by the delegator, under the role delegated); the service checks it against
the register and answers with the register as it then stands. Operators without a role use the
command line (`exitgate roles grant --operator`), which needs access to the store.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field

from schemas.register import Assignment, Delegation, Register
from schemas.timefmt import format_timestamp, parse_timestamp
from store import now_us

from .bodies import StrictJsonRoute
from .deps import IdentityDep, PartsDep
from .gate_routes import _REFUSALS, MissionPath, _may_read
from .models import Id, Timestamp, _Body

router = APIRouter(tags=["roles"], route_class=StrictJsonRoute)

Reason = Annotated[str, Field(max_length=4000)]


def _t(us: int | None) -> str | None:
    return format_timestamp(us) if us is not None else None


class AssignmentOut(BaseModel):
    seq: int
    person: str
    role: str
    from_: str = Field(alias="from")
    until: str | None
    granted_by: str
    granted_by_role: str | None = Field(description="null: granted by an operator with store access")
    reason: str

    @staticmethod
    def of(a: Assignment) -> AssignmentOut:
        return AssignmentOut(seq=a.seq, person=a.person, role=a.role, **{"from": format_timestamp(a.from_us)},
                             until=_t(a.until_us), granted_by=a.granted_by, granted_by_role=a.granted_by_role,
                             reason=a.reason)


class DelegationOut(BaseModel):
    seq: int
    delegator: str
    delegate: str
    role: str
    from_: str = Field(alias="from")
    until: str
    gates: list[str] | None = Field(description="null: the whole mission")
    reason: str

    @staticmethod
    def of(d: Delegation) -> DelegationOut:
        return DelegationOut(seq=d.seq, delegator=d.delegator, delegate=d.delegate, role=d.role,
                             **{"from": format_timestamp(d.from_us)}, until=format_timestamp(d.until_us),
                             gates=d.gates, reason=d.reason)


class RegisterOut(BaseModel):
    mission: str
    version: int
    at: str = Field(description="the instant `held` and `delegations_in_force` are for")
    held: list[AssignmentOut] = Field(description="assignments in force at `at`")
    delegations_in_force: list[DelegationOut]
    assignments: list[AssignmentOut] = Field(description="every assignment ever made, ended ones too")
    delegations: list[DelegationOut]


def _out(reg: Register, at: int | None = None) -> RegisterOut:
    t = now_us() if at is None else at
    return RegisterOut(mission=reg.mission, version=reg.version, at=format_timestamp(t),
                       held=[AssignmentOut.of(a) for a in reg.assignments if a.active(t)],
                       delegations_in_force=[DelegationOut.of(d) for d in reg.delegations if d.active(t)],
                       assignments=[AssignmentOut.of(a) for a in reg.assignments],
                       delegations=[DelegationOut.of(d) for d in reg.delegations])


def _us(v: str | None) -> int | None:
    return parse_timestamp(v) if v is not None else None


class GrantBody(_Body):
    person: Id
    role: Id
    by_role: Id = Field(description="the coordinator role you grant under")
    from_: Timestamp | None = Field(None, alias="from", description="default now; never earlier")
    until: Timestamp | None = None
    reason: Reason = ""


class EndRoleBody(_Body):
    person: Id
    role: Id
    by_role: Id
    reason: Reason = ""


class ImportBody(_Body):
    by_role: Id
    assignments: list[Any] = Field(description="[{person, role, from?, until?, reason?}, ...], all or nothing")


class DelegateBody(_Body):
    role: Id = Field(description="a role you hold directly")
    to: Id
    until: Timestamp
    from_: Timestamp | None = Field(None, alias="from")
    gates: list[Id] | None = Field(None, description="only these gates (votes, withdrawals, waivers); "
                                                     "null: the whole mission")
    reason: Reason = ""


class EndDelegationBody(_Body):
    by_role: Id | None = Field(None, description="a coordinator role, unless you are the delegator")
    reason: Reason = ""


@router.get("/v1/missions/{mission}/roles", response_model=RegisterOut, responses=_REFUSALS)
async def roles(mission: MissionPath, p: PartsDep, ident: IdentityDep,
                at: Annotated[str | None, Query(description="RFC 3339: who held what then (default now)")] = None
                ) -> RegisterOut:
    """Who holds which role of the mission now, or held it at `at`; and the whole register."""
    _may_read(ident, mission)
    try:
        t = _us(at)
    except ValueError as exc:
        raise HTTPException(422, [{"loc": ["query", "at"], "msg": str(exc), "type": "value_error"}]) from None
    return _out(await p.service.roles.register(mission), t)


@router.post("/v1/missions/{mission}/roles", response_model=RegisterOut, responses=_REFUSALS)
async def grant(mission: MissionPath, body: GrantBody, p: PartsDep, ident: IdentityDep) -> RegisterOut:
    """Grant a role, from now (or a later `from`) until `until` or until ended."""
    return _out(await p.service.roles.grant(mission, ident.caller, body.by_role, body.person, body.role,
                                            from_us=_us(body.from_), until_us=_us(body.until), reason=body.reason))


@router.post("/v1/missions/{mission}/roles/end", response_model=RegisterOut, responses=_REFUSALS)
async def end_role(mission: MissionPath, body: EndRoleBody, p: PartsDep, ident: IdentityDep) -> RegisterOut:
    """End now every assignment of the role the person holds now (NoActiveAssignment if none)."""
    return _out(await p.service.roles.end_role(mission, ident.caller, body.by_role, body.person, body.role,
                                               body.reason))


@router.post("/v1/missions/{mission}/roles/import", response_model=RegisterOut, responses=_REFUSALS)
async def import_roles(mission: MissionPath, body: ImportBody, p: PartsDep, ident: IdentityDep) -> RegisterOut:
    """Grant a list of assignments, all or nothing (422 lists every problem by index and field)."""
    return _out(await p.service.roles.import_assignments(mission, ident.caller, body.by_role, body.assignments))


@router.get("/v1/missions/{mission}/delegations", response_model=list[DelegationOut], responses=_REFUSALS)
async def delegations(mission: MissionPath, p: PartsDep, ident: IdentityDep) -> list[DelegationOut]:
    """Every delegation of the mission, in the order made (ended ones too)."""
    _may_read(ident, mission)
    return [DelegationOut.of(d) for d in (await p.service.roles.register(mission)).delegations]


@router.post("/v1/missions/{mission}/delegations", response_model=RegisterOut, responses=_REFUSALS)
async def delegate(mission: MissionPath, body: DelegateBody, p: PartsDep, ident: IdentityDep) -> RegisterOut:
    """Let another person act for you under a role you hold, until `until`."""
    return _out(await p.service.roles.delegate(mission, ident.caller, body.role, body.to, until_us=_us(body.until),
                                               from_us=_us(body.from_), gates=body.gates, reason=body.reason))


@router.post("/v1/missions/{mission}/delegations/{seq}/end", response_model=RegisterOut, responses=_REFUSALS)
async def end_delegation(mission: MissionPath, seq: Annotated[int, Path(ge=1)], body: EndDelegationBody,
                         p: PartsDep, ident: IdentityDep) -> RegisterOut:
    """End a delegation now: its delegator, or a coordinator under `by_role`."""
    return _out(await p.service.roles.end_delegation(mission, ident.caller, body.by_role, seq, body.reason))
