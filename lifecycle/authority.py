"""Authority over time (CONTRACT section 5), once: who holds which role of a mission at an
instant, directly or by delegation, and which changes to the register are allowed.

Pure and deterministic like lifecycle.gate: every function is told the register and the instant
(microseconds). The workflows resolve each act with `resolve` at `workflow.now()` in the same
step as the decision; the service checks each register change with `grant`, `end_role`,
`delegate`, `end_delegation` and `import_assignments`, which return the change for the store to
write (or raise `Refusal` / `InvalidInput` and change nothing).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from schemas.messages import GateState
from schemas.models import ID_PATTERN
from schemas.register import Assignment, AuditNote, Delegation, Register, RegisterChange
from schemas.timefmt import format_timestamp, parse_timestamp

from .gate import Act, check_coordinator, principal_of, vote_to_withdraw
from .refusals import InvalidInput, Refusal

__all__ = [
    "ActKind",
    "ImportRejected",
    "delegate",
    "delegations_of",
    "end_delegation",
    "end_role",
    "grant",
    "holders",
    "holds",
    "import_assignments",
    "resolve",
    "roles_of",
    "withdrawal_act",
]

# What an act is, for what a delegation covers: a gate-limited delegation covers votes,
# withdrawals and waivers (and revocations) on its gates; a mission-wide one covers every act.
ActKind = Literal["vote", "withdraw", "waive", "coordinate", "grant"]
GATE_ACTS: frozenset[str] = frozenset({"vote", "withdraw", "waive"})
_ID = re.compile(ID_PATTERN)


# --- who holds what ---


def holds(reg: Register, person: str, role: str, at: int) -> bool:
    """A direct assignment of `role` to `person` covers `at`."""
    return any(a.person == person and a.role == role and a.active(at) for a in reg.assignments)


def roles_of(reg: Register, person: str, at: int) -> set[str]:
    return {a.role for a in reg.assignments if a.person == person and a.active(at)}


def holders(reg: Register, at: int) -> list[Assignment]:
    """Who held what at `at` (`roles list --at T`), in the order granted."""
    return [a for a in reg.assignments if a.active(at)]


def _covers(d: Delegation, kind: ActKind, gate: str | None) -> bool:
    if d.gates is None:
        return True
    return kind in GATE_ACTS and gate is not None and gate in d.gates


def delegations_of(reg: Register, delegate: str, role: str, at: int, kind: ActKind = "vote",
                   gate: str | None = None) -> list[Delegation]:
    """The delegations `delegate` may use for `role` at `at`, in the order they were made: in
    force, covering the act, and the delegator still holding the role directly (a delegate
    cannot pass on what was delegated to them)."""
    return [d for d in sorted(reg.delegations, key=lambda d: d.seq)
            if d.delegate == delegate and d.role == role and d.active(at) and _covers(d, kind, gate)
            and holds(reg, d.delegator, role, at)]


def resolve(reg: Register, person: str, role: str, at: int, *, kind: ActKind = "vote",
            gate: str | None = None, on_behalf_of: str | None = None) -> Act:
    """The Act of `person` under `role` at `at`: their own assignment first (unless they name
    someone else in `on_behalf_of`), else the first delegation in the order made that covers
    the act. Not held, the Act says so (`held` empty, `why` the reason) and lifecycle.gate's
    checks refuse it RoleNotHeld after RoleNotAllowed, in the contract's order."""
    if on_behalf_of in (None, person) and holds(reg, person, role, at):
        return Act(person, role, frozenset({role}))
    if on_behalf_of != person:
        for d in delegations_of(reg, person, role, at, kind, gate):
            if on_behalf_of in (None, d.delegator):
                return Act(person, role, frozenset({role}), principal=d.delegator)
    return Act(person, role, frozenset(), why=_why_not(reg, person, role, at, kind, gate, on_behalf_of))


def _why_not(reg: Register, person: str, role: str, at: int, kind: ActKind, gate: str | None,
             on_behalf_of: str | None) -> str:
    when = format_timestamp(at)
    if on_behalf_of not in (None, person):
        ds = [d for d in reg.delegations if d.delegate == person and d.delegator == on_behalf_of and d.role == role]
        if not ds:
            return f"{person} holds no delegation of role {role!r} from {on_behalf_of}"
        d = ds[-1]
        if not d.active(at):
            return (f"{person}'s delegation of role {role!r} from {on_behalf_of} is in force from "
                    f"{format_timestamp(d.from_us)} until {format_timestamp(d.until_us)}, not at {when}")
        if not _covers(d, kind, gate):
            scope = "gates " + ", ".join(d.gates or [])
            return f"{person}'s delegation of role {role!r} from {on_behalf_of} covers only votes and waivers on {scope}"
        return f"{on_behalf_of} no longer holds role {role!r}, so {person} cannot act for them under it"
    mine = [a for a in reg.assignments if a.person == person and a.role == role]
    if not mine:
        return f"{person} does not hold role {role!r}"
    nxt = [a for a in mine if a.from_us > at]
    if nxt:
        return f"{person} holds role {role!r} only from {format_timestamp(min(a.from_us for a in nxt))}, not at {when}"
    ended = max(a.until_us or 0 for a in mine)
    return f"{person}'s assignment of role {role!r} ended at {format_timestamp(ended)}"


def withdrawal_act(reg: Register, st: GateState | None, person: str, at: int, gate: str,
                   on_behalf_of: str | None = None) -> Act | None:
    """The Act a withdrawal is made under: the vote's own role, held by `person` for the vote's
    principal at `at` (None: no vote to withdraw; lifecycle.gate.check_withdraw says so)."""
    found = vote_to_withdraw(st, person, on_behalf_of)
    if found is None:
        return None
    vote = found[1]
    return resolve(reg, person, vote.role, at, kind="withdraw", gate=gate, on_behalf_of=principal_of(vote))


# --- changes to the register ---


def _authorise(reg: Register, coordinator_roles: Iterable[str], by: str, by_role: str | None, at: int) -> Act | None:
    """A register change is made by a person holding a coordinator role (directly or by a
    mission-wide delegation), or by an operator with store access (`by_role` None)."""
    if by_role is None:
        return None
    act = resolve(reg, by, by_role, at, kind="grant")
    check_coordinator(list(coordinator_roles), act)
    return act


def _by(by: str, act: Act | None) -> dict[str, Any]:
    if act is None:
        return {"by": by, "by_role": None, "operator": True}
    return {"by": by, "by_role": act.role, **({"by_for": act.principal} if act.principal else {})}


def _id(field: str, value: str) -> None:
    if not isinstance(value, str) or not _ID.match(value):
        raise InvalidInput(field, f"{value!r} is not a valid id ([A-Za-z0-9][A-Za-z0-9._-]{{0,63}})")


def _window(from_us: int | None, until_us: int | None, now: int, *, until_required: bool) -> tuple[int, int | None]:
    start = now if from_us is None else from_us
    if start < now:
        raise InvalidInput("from", f"{format_timestamp(start)} is before now ({format_timestamp(now)}): "
                                   "a change takes effect no earlier than the instant it is made")
    if until_us is None:
        if until_required:
            raise InvalidInput("until", "a delegation needs an end (until)")
        return start, None
    if until_us <= start:
        raise InvalidInput("until", f"{format_timestamp(until_us)} is not after the start ({format_timestamp(start)})")
    return start, until_us


def _role_known(role: str, plan_roles: Iterable[str] | None) -> None:
    if plan_roles is None:
        return  # no plan yet: an operator names the first coordinator
    known = sorted(set(plan_roles))
    if role not in known:
        raise InvalidInput("role", f"{role!r} is not a role of the mission's plan (roles: {', '.join(known)})")


def grant(reg: Register, coordinator_roles: Iterable[str], plan_roles: Iterable[str] | None, *, by: str,
          by_role: str | None, person: str, role: str, from_us: int | None = None, until_us: int | None = None,
          reason: str = "", now: int) -> RegisterChange:
    _id("person", person)
    _id("role", role)
    _role_known(role, plan_roles)
    start, end = _window(from_us, until_us, now, until_required=False)
    act = _authorise(reg, coordinator_roles, by, by_role, now)
    a = Assignment(person=person, role=role, from_us=start, until_us=end, granted_by=by,
                   granted_by_role=by_role, reason=reason)
    return RegisterChange(at_us=now, add_assignments=[a], audit=[_granted(reg.mission, a, by, act)])


def _granted(mission: str, a: Assignment, by: str, act: Act | None) -> AuditNote:
    return AuditNote(kind="role_granted", actor=by, payload={
        "mission": mission, "person": a.person, "role": a.role, "from": format_timestamp(a.from_us),
        "until": format_timestamp(a.until_us) if a.until_us is not None else None, "reason": a.reason,
        **_by(by, act)})


def end_role(reg: Register, coordinator_roles: Iterable[str], *, by: str, by_role: str | None, person: str,
             role: str, reason: str = "", now: int) -> RegisterChange:
    """End every assignment of `person` and `role` in force now; later ones are untouched."""
    act = _authorise(reg, coordinator_roles, by, by_role, now)
    ending = [a for a in reg.assignments if a.person == person and a.role == role and a.active(now)]
    if not ending:
        raise Refusal("NoActiveAssignment", f"{person} holds no assignment of role {role!r} now")
    return RegisterChange(at_us=now, end_assignments=[a.seq for a in ending], audit=[AuditNote(
        kind="role_ended", actor=by, payload={"mission": reg.mission, "person": person, "role": role,
                                              "assignments": [a.seq for a in ending], "reason": reason,
                                              "at": format_timestamp(now), **_by(by, act)})])


def delegate(reg: Register, plan_gates: Iterable[str], *, by: str, role: str, to: str, until_us: int | None,
             from_us: int | None = None, gates: list[str] | None = None, reason: str = "",
             now: int) -> RegisterChange:
    """`by` delegates `role`, which they hold directly now, to `to`."""
    _id("to", to)
    if to == by:
        raise InvalidInput("to", f"{by} cannot delegate to themself")
    start, end = _window(from_us, until_us, now, until_required=True)
    assert end is not None
    if gates is not None:
        known = set(plan_gates)
        if not gates:
            raise InvalidInput("gates", "an empty list of gates would cover nothing; leave it out for the whole mission")
        unknown = [g for g in gates if g not in known]
        if unknown:
            raise InvalidInput("gates", f"not gates of the mission's plan: {', '.join(unknown)}")
    if not holds(reg, by, role, now):
        if any(d.delegate == by and d.role == role and d.active(now) for d in reg.delegations):
            raise Refusal("CannotRedelegate", f"{by} holds role {role!r} only by delegation and cannot "
                                              "delegate it further")
        raise Refusal("RoleNotHeld", _why_not(reg, by, role, now, "grant", None, None))
    d = Delegation(delegator=by, role=role, delegate=to, from_us=start, until_us=end, gates=gates,
                   reason=reason, made_by=by)
    return RegisterChange(at_us=now, add_delegation=d, audit=[AuditNote(kind="delegation_made", actor=by, payload={
        "mission": reg.mission, "delegator": by, "delegate": to, "role": role, "from": format_timestamp(start),
        "until": format_timestamp(end), "gates": gates, "reason": reason})])


def end_delegation(reg: Register, coordinator_roles: Iterable[str], *, by: str, by_role: str | None, seq: int,
                   reason: str = "", now: int, operator: bool = False) -> RegisterChange:
    """The delegator, a coordinator (`by_role`) or an operator (`operator`, no role) ends a
    delegation early."""
    d = next((d for d in reg.delegations if d.seq == seq), None)
    if d is None:
        raise InvalidInput("delegation", f"mission {reg.mission!r} has no delegation {seq}")
    if by != d.delegator and by_role is None and not operator:
        raise Refusal("RoleNotHeld", f"{by} is not the delegator ({d.delegator}): a coordinator role is needed to "
                                     f"end delegation {seq}")
    act = None if by == d.delegator else _authorise(reg, coordinator_roles, by, by_role, now)
    if d.until_us <= now:
        raise Refusal("NoActiveAssignment", f"delegation {seq} ({d.delegator} to {d.delegate}, role {d.role!r}) "
                                            f"already ended at {format_timestamp(d.until_us)}")
    who = {"by": by, "by_role": None, "as": "delegator"} if act is None and by == d.delegator else _by(by, act)
    return RegisterChange(at_us=now, end_delegation=seq, audit=[AuditNote(kind="delegation_ended", actor=by, payload={
        "mission": reg.mission, "delegation": seq, "delegator": d.delegator, "delegate": d.delegate,
        "role": d.role, "at": format_timestamp(now), "reason": reason, **who})])


# --- import ---


@dataclass
class ImportRejected(Exception):
    """An import refused whole: every problem, as (path, reason), e.g. ("[2].until", "...")."""

    problems: list[tuple[str, str]]

    def __str__(self) -> str:
        return "; ".join(f"{p}: {r}" for p, r in self.problems)


_ITEM_FIELDS = {"person", "role", "from", "until", "reason"}


def import_assignments(reg: Register, coordinator_roles: Iterable[str], plan_roles: Iterable[str] | None,
                       items: Any, *, by: str, by_role: str | None, now: int) -> RegisterChange:
    """Grants from a list of `{person, role, from?, until?, reason?}` (times RFC 3339), all or
    nothing: any bad item refuses the whole import with every problem listed."""
    if not isinstance(items, list):
        raise ImportRejected([("$", "expected a list of assignments")])
    problems: list[tuple[str, str]] = []
    grants: list[Assignment] = []
    roles = None if plan_roles is None else list(plan_roles)
    for i, item in enumerate(items):
        where = f"[{i}]"
        if not isinstance(item, dict):
            problems.append((where, "expected an object"))
            continue
        problems += [(f"{where}.{k}", "unknown field") for k in sorted(set(item) - _ITEM_FIELDS, key=str)]
        times: dict[str, int | None] = {}
        for key in ("from", "until"):
            raw = item.get(key)
            try:
                times[key] = None if raw is None else parse_timestamp(raw)
            except (ValueError, TypeError) as exc:
                problems.append((f"{where}.{key}", str(exc)))
        try:
            if not isinstance(item.get("reason", ""), str):
                raise InvalidInput("reason", "must be text")
            change = grant(Register(mission=reg.mission), coordinator_roles, roles, by=by, by_role=None,
                           person=item.get("person", ""), role=item.get("role", ""), from_us=times.get("from"),
                           until_us=times.get("until"), reason=item.get("reason") or "", now=now)
        except InvalidInput as exc:
            # A problem with a time that was read is the item's own; one with a time that
            # could not be read (given as None) is already listed as unreadable.
            if exc.field in times or exc.field not in ("from", "until"):
                problems.append((f"{where}.{exc.field}", exc.message.split(": ", 1)[1]))
            continue
        grants += change.add_assignments
    if problems:
        raise ImportRejected(problems)
    act = _authorise(reg, coordinator_roles, by, by_role, now)
    for a in grants:
        a.granted_by_role = by_role
    return RegisterChange(at_us=now, add_assignments=grants, audit=[_granted(reg.mission, a, by, act) for a in grants])
