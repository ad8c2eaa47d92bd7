"""Who may do what to a gate, decided from the workflow's state alone (so validators can run it).

Each check raises `ApplicationError` with a `type` the caller can branch on and a message
that names the reason; it never changes anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow

from .common import refuse

with workflow.unsafe.imports_passed_through():
    from schemas.messages import (
        ApprovalRecord,
        ApproveInput,
        GateSpec,
        GateState,
        RevokeWaiverInput,
        WaiveInput,
    )
    from schemas.timefmt import parse_timestamp


@dataclass(frozen=True)
class GateView:
    spec: GateSpec
    state: GateState
    paused: bool
    complete: bool
    started_by: str
    reopened_by: str | None


def quorum_met(spec: GateSpec, approvals: list[ApprovalRecord]) -> bool:
    people = {a.person for a in approvals}
    roles = {a.role for a in approvals}
    return len(people) >= spec.approval.quorum and set(spec.approval.required_roles) <= roles


def check_decider(v: GateView, person: str, role: str, digest: str) -> None:
    """What approvals and rejections both require."""
    gid = v.spec.id
    if v.paused:
        refuse("PhasePaused", f"gate {gid!r}: the phase is paused until the phase it depends on completes again")
    if v.state.state != "awaiting_approval":
        refuse("NotAwaitingApproval", f"gate {gid!r} is {v.state.state}, not awaiting approval")
    if role not in v.spec.approval.roles:
        refuse("RoleNotAllowed", f"gate {gid!r}: role {role!r} may not decide; allowed roles: "
               + ", ".join(v.spec.approval.roles))
    if person == v.started_by:
        refuse("SeparationOfDuties", f"gate {gid!r}: {person} started the mission's exit and may not decide its gates")
    if person == v.reopened_by:
        refuse("SeparationOfDuties", f"gate {gid!r}: {person} reopened this phase and may not decide its gates")
    if digest != v.state.digest:
        refuse("StaleDigest", f"gate {gid!r}: digest {digest} is not the current evaluation {v.state.digest}")


def check_approve(v: GateView, inp: ApproveInput) -> None:
    check_decider(v, inp.person, inp.role, inp.digest)
    gid = v.spec.id
    if any(a.person == inp.person for a in v.state.approvals):
        refuse("AlreadyApproved", f"gate {gid!r}: {inp.person} already approved it")
    if v.spec.approval.distinct_roles and any(a.role == inp.role for a in v.state.approvals):
        refuse("RoleAlreadyCounted", f"gate {gid!r}: an approval under role {inp.role!r} is already counted "
               "and this gate needs distinct roles")


def _check_waiver_role(v: GateView, role: str) -> None:
    gid = v.spec.id
    if not v.spec.approval.waiver_roles:
        refuse("RoleNotAllowed", f"gate {gid!r} has no waiver roles: nothing in it can be waived")
    if role not in v.spec.approval.waiver_roles:
        refuse("RoleNotAllowed", f"gate {gid!r}: role {role!r} may not waive; waiver roles: "
               + ", ".join(v.spec.approval.waiver_roles))


def check_waive(v: GateView, inp: WaiveInput, now: int) -> None:
    gid = v.spec.id
    _check_waiver_role(v, inp.role)
    if v.state.state == "approved":
        refuse("GateDecided", f"gate {gid!r} is already approved")
    if inp.benchmark not in v.spec.benchmarks:
        refuse("UnknownBenchmark", f"gate {gid!r} has no benchmark {inp.benchmark!r}")
    if inp.benchmark not in v.spec.waivable:
        refuse("NotWaivable", f"benchmark {inp.benchmark!r} is under a `not` and cannot be waived")
    if any(w.benchmark == inp.benchmark for w in v.state.waivers):
        refuse("AlreadyWaived", f"benchmark {inp.benchmark!r} is already waived; revoke that waiver first")
    if inp.until is not None and parse_timestamp(inp.until) <= now:
        refuse("InvalidUntil", f"until: {inp.until} is not in the future")


def check_revoke(v: GateView, inp: RevokeWaiverInput) -> None:
    _check_waiver_role(v, inp.role)
    if not any(w.benchmark == inp.benchmark for w in v.state.waivers):
        refuse("NoSuchWaiver", f"gate {v.spec.id!r}: benchmark {inp.benchmark!r} is not waived")
