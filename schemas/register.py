"""The role register of CONTRACT section 5: who holds which role of a mission, over time, and who
stands in for whom.

Times are integer microseconds (UTC), as in workflow state; `until` is exclusive everywhere. The
register travels whole: the store builds it, the service checks changes against it
(lifecycle.authority) and sends it to the mission's workflows, which resolve every act with it
in the same step as the decision. `version` rises with every change, so a workflow keeps the
newest copy whatever order copies arrive in.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

NonEmpty = Field(min_length=1)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Assignment(_Model):
    """A person holds `role` in the mission at t when `from_us <= t < until_us`."""

    seq: int = 0  # the store's order of making; 0 before it is stored
    person: str = NonEmpty
    role: str = NonEmpty
    from_us: int
    until_us: int | None = None
    granted_by: str = NonEmpty
    granted_by_role: str | None = None  # None: an operator with direct access to the store
    reason: str = ""

    def active(self, at: int) -> bool:
        return self.from_us <= at and (self.until_us is None or at < self.until_us)


class Delegation(_Model):
    """`delegate` acts for `delegator` under `role` on `[from_us, until_us)`, on the whole
    mission (`gates` None) or on the named gates only."""

    seq: int = 0
    delegator: str = NonEmpty
    role: str = NonEmpty
    delegate: str = NonEmpty
    from_us: int
    until_us: int
    gates: list[str] | None = None
    reason: str = ""
    made_by: str = NonEmpty

    def active(self, at: int) -> bool:
        return self.from_us <= at < self.until_us


class Register(_Model):
    mission: str
    version: int = 0
    assignments: list[Assignment] = []
    delegations: list[Delegation] = []


class AuditNote(_Model):
    kind: str
    actor: str
    payload: dict[str, Any]


class RegisterChange(_Model):
    """What one checked change does to a register, for the store to write in one transaction
    with its audit entries: assignments added, assignments or a delegation ended at `at_us`."""

    at_us: int
    add_assignments: list[Assignment] = []
    end_assignments: list[int] = []  # seqs
    add_delegation: Delegation | None = None
    end_delegation: int | None = None  # seq
    audit: list[AuditNote] = []


RegisterKind = Literal["role_granted", "role_ended", "delegation_made", "delegation_ended"]
