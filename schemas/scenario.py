"""The rehearsal scenario (CONTRACT section 6): a plan, its evidence, the register when the
scenario starts, the start, people's actions at given instants, and the checkpoints to report.

These classes are the shape only; whether the names in it exist (gates, phases, benchmarks,
people) and its times are in order is checked against the plan by `rehearsal.scenario`, which
lists every problem by JSON path. The published JSON Schema (scenario.schema.json) is generated
from them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from .models import Id, Timestamp

__all__ = [
    "ACTIONS",
    "Action",
    "Approve",
    "Assignment",
    "Delegate",
    "EndRole",
    "Grant",
    "Migrate",
    "Reject",
    "Reopen",
    "RevokeWaiver",
    "ScenarioFile",
    "Start",
    "Waive",
    "Withdraw",
]

Text = Annotated[str, Field(min_length=1)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class Assignment(_Doc):
    """A person holds a role from `from` until `until` (exclusive; open when left out)."""

    person: Id
    role: Id
    from_: Timestamp = Field(alias="from")
    until: Timestamp | None = None
    granted_by: Text | None = None
    reason: Text | None = None


class _Act(_Doc):
    at: Timestamp
    person: Id
    note: str | None = Field(default=None, description="Free text, ignored.")


class Start(_Act):
    role: Id


class _Vote(_Act):
    gate: Id
    role: Id
    digest: Sha256 | None = Field(default=None, description="Sign this digest instead of the gate's current one.")
    on_behalf_of: Id | None = None


class Approve(_Vote):
    do: Literal["approve"]
    comment: str | None = None


class Reject(_Vote):
    do: Literal["reject"]
    reason: Text


class Withdraw(_Act):
    do: Literal["withdraw"]
    gate: Id
    reason: Text
    on_behalf_of: Id | None = None


class Waive(_Act):
    do: Literal["waive"]
    gate: Id
    benchmark: Id
    role: Id
    justification: Text
    until: Timestamp | None = None
    on_behalf_of: Id | None = None


class RevokeWaiver(_Act):
    do: Literal["revoke_waiver"]
    gate: Id
    benchmark: Id
    role: Id
    reason: Text | None = None
    on_behalf_of: Id | None = None


class Reopen(_Act):
    do: Literal["reopen"]
    phase: Id
    role: Id
    reason: Text


class Migrate(_Act):
    do: Literal["migrate"]
    plan: Text = Field(description="The plan to migrate to, relative to the scenario file.")
    role: Id


class Grant(_Act):
    """`person` is who receives the role; `by` grants it under `by_role`."""

    do: Literal["grant"]
    role: Id
    until: Timestamp | None = None
    by: Id
    by_role: Id
    reason: Text | None = None


class EndRole(_Act):
    do: Literal["end_role"]
    role: Id
    by: Id
    by_role: Id
    reason: Text | None = None


class Delegate(_Act):
    """`person` (the delegator) delegates `role` to `to`, until an instant, for the whole
    mission or for named gates."""

    do: Literal["delegate"]
    role: Id
    to: Id
    until: Timestamp
    from_: Timestamp | None = Field(default=None, alias="from")
    gates: list[Id] | None = None
    reason: Text | None = None


Action = Annotated[
    Approve | Reject | Withdraw | Waive | RevokeWaiver | Reopen | Migrate | Grant | EndRole | Delegate,
    Field(discriminator="do"),
]
ACTIONS = ("approve", "reject", "withdraw", "waive", "revoke_waiver", "reopen", "migrate", "grant",
           "end_role", "delegate")


class ScenarioFile(_Doc):
    scenario: Id
    plan: Text = Field(description="The exit plan, relative to the scenario file.")
    evidence: Text | None = Field(
        default=None, description="JSON Lines evidence; each record arrives at its reported_at (else observed_at).")
    roles: list[Assignment] = Field(default=[], description="The role register when the scenario starts.")
    start: Start
    actions: list[Action] = []
    checkpoints: list[Timestamp] = Field(default=[], description="Strictly increasing instants to report.")
    end: Timestamp | None = Field(default=None, description="When the rehearsal stops (default: the last checkpoint).")
    strict_evidence: StrictBool = Field(
        default=False, description="Refuse the scenario when a record would be rejected (default: report it).")
