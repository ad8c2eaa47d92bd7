"""Who calls the service, and how it refuses.

Every operation is made by a `Caller`: a person or a system. A caller carries no roles: what a
person may do comes from the mission's role register alone (service/register.py); `operator`
marks someone with direct access to the store (the command line), who may change the register
without holding a role and is recorded as such. Everything the service refuses on purpose is a `Refused`; any other exception is a
server error. Its `type` is one of CONTRACT section 4's refusal types, or one of the service's
own for what the contract leaves open:

    Refused(type, message)
     ├── FORBIDDEN types (RoleNotAllowed, RoleNotHeld, SeparationOfDuties)  who acts   -> HTTP 403
     ├── NOT_FOUND types (UnknownGate/Phase/Benchmark) + UnknownMission, UnknownPlan -> HTTP 404
     ├── InvalidInput (with `field`): malformed input, not a refusal                 -> HTTP 422
     └── every other type: the mission's, phase's or gate's state                   -> HTTP 409
         (and the service's own MissionAlreadyStarted, WrongMission)

Refusals of acts are written to the audit log by the service (`<act>.refused`); reads are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lifecycle import FORBIDDEN, NOT_FOUND, InvalidInput, Refusal

__all__ = ["UNKNOWN", "Caller", "Refused", "Unavailable", "refused_from"]

# Not found, beyond the contract's gates, phases and benchmarks.
UNKNOWN: frozenset[str] = NOT_FOUND | {"UnknownMission", "UnknownPlan"}


@dataclass(frozen=True)
class Caller:
    """Who calls (a key or a sign-in identifies them; it carries no roles)."""

    name: str
    kind: Literal["person", "system"] = "person"
    operator: bool = False

    @property
    def actor(self) -> str:
        """The audit log's name for them: a person's bare name, `system:<name>` for a system."""
        return self.name if self.kind == "person" else f"system:{self.name}"


class Refused(Exception):
    def __init__(self, type: str, message: str, field: str | None = None,
                 problems: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.type = type
        self.message = message
        self.field = field
        self.problems = problems or []  # (path, reason) of each problem, for an input refused whole

    @property
    def category(self) -> Literal["forbidden", "not_found", "invalid", "conflict"]:
        if self.type in FORBIDDEN:
            return "forbidden"
        if self.type in UNKNOWN:
            return "not_found"
        if self.type == "InvalidInput":
            return "invalid"
        return "conflict"


def refused_from(exc: Refusal | InvalidInput) -> Refused:
    if isinstance(exc, InvalidInput):
        return Refused("InvalidInput", exc.message, exc.field)
    return Refused(exc.type, exc.message)


class Unavailable(Exception):
    """Something the service needs did not answer in time (Temporal, or the workers that answer
    a workflow's queries): HTTP 503 naming it, at once rather than after a long timeout."""

    def __init__(self, what: str):
        super().__init__(what)
        self.message = what
