"""The two seams between the HTTP layer and the rest of exitgate.

The API never talks to the store or to Temporal directly: it calls an `EvidencePort` (accept
records, find a mission's plan), a `GatesPort` (gate state, approvals, waivers) and an
`AuditPort` (append to the audit log). `api.inprocess` implements all three in memory for
tests and development; production plugs in store- and Temporal-backed ones (docs/api.md).

Errors a port may raise, and what the API turns them into:

    PortError
     ├── NotFoundError   -> 404   unknown mission or gate
     └── RefusedError    -> 403 (forbidden=True) or 409, with the validator's reason
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from rules.evidence import Outcome
from rules.plan import LoadedPlan
from rules.series import EvidenceIndex

__all__ = [
    "ApprovalView",
    "ApproveInput",
    "AuditPort",
    "AwaitingGate",
    "EvidenceBrief",
    "EvidencePort",
    "GateView",
    "GatesPort",
    "MigrateInput",
    "MissionStatus",
    "NotFoundError",
    "PlanLoaded",
    "PortError",
    "RefusedError",
    "RejectInput",
    "ReopenInput",
    "RevokeInput",
    "StartInput",
    "WaiveInput",
    "WaiverView",
]


class PortError(Exception):
    """Anything a port refuses on purpose; other exceptions are server errors."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class NotFoundError(PortError):
    pass


class RefusedError(PortError):
    """An approval, rejection or waiver refused by the gate's validator (nothing recorded).

    `forbidden` marks refusals about who the person is (role not held, separation of duties):
    the API answers 403 for those and 409 for refusals about the gate's state or digest.
    """

    def __init__(self, reason: str, *, forbidden: bool = False):
        super().__init__(reason)
        self.forbidden = forbidden


# Inputs: one typed model per action, carrying the acting person and the roles their key
# holds, so a Temporal update validator can decide without asking anyone else.

class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    person: str
    held_roles: tuple[str, ...]
    role: str


class ApproveInput(_Input):
    digest: str
    comment: str | None = None


class RejectInput(_Input):
    digest: str
    reason: str


class WaiveInput(_Input):
    benchmark: str
    justification: str
    until: str | None = None  # RFC 3339, already validated


class RevokeInput(_Input):
    benchmark: str
    reason: str | None = None


class StartInput(_Input):
    """Start a mission's exit; `role` must be one of the plan's coordinator roles."""


class ReopenInput(_Input):
    reason: str


class MigrateInput(_Input):
    plan_sha256: str


# Views returned by a GatesPort. They are what the API serves, so they are its response models.

class ApprovalView(BaseModel):
    person: str
    role: str
    digest: str
    comment: str | None = None
    at: str
    void: bool = False


class WaiverView(BaseModel):
    benchmark: str
    by: str
    justification: str
    until: str | None = None
    at: str | None = Field(None, description="when it was given, where known")


class EvidenceBrief(BaseModel):
    value: bool | int | float | None
    observed_at: str
    source: str


class GateView(BaseModel):
    mission: str
    phase: str
    gate: str
    name: str
    state: str = Field(description="not_started | collecting | awaiting_approval | approved | paused")
    roles: list[str]
    quorum: int
    waiver_roles: list[str]
    as_of: str
    evaluation: dict[str, Any] | None = Field(
        None, description="CONTRACT section 3 gate evaluation (status, digest, valid_until, explanation); "
                          "null while the phase has not started")
    approvals: list[ApprovalView] = []
    waivers: list[WaiverView] = []
    rejected_digest: str | None = None
    evidence: dict[str, EvidenceBrief] = Field(
        {}, description="the records the explanation names, by id: value, observed_at, source")


class PhaseStatus(BaseModel):
    phase: str
    name: str
    state: str  # not_started | running | paused | complete | failed
    gates: list[GateView]
    failure: str | None = None  # why its last run failed, when state is failed


class MissionStatus(BaseModel):
    mission: str
    plan: str
    plan_sha256: str
    as_of: str
    phases: list[PhaseStatus]


class AwaitingGate(BaseModel):
    mission: str
    phase: str
    gate: str
    name: str
    digest: str
    approvals: int
    quorum: int
    roles: list[str] = Field(description="the gate's roles this person holds")


class PlanLoaded(BaseModel):
    plan: str
    version: str | None
    mission: str
    sha256: str
    registered: bool = Field(description="true when the mission now runs on (or will start on) this plan; "
                                         "false when it already runs on another and needs a migration")
    running_plan_sha256: str | None = None


class EvidencePort(Protocol):
    async def plan_for_mission(self, mission: str) -> LoadedPlan | None: ...

    async def ingest(self, mission: str, raws: Sequence[Any], *, actor: str,
                     backfill: bool = False) -> list[Outcome]:
        """Accept records in order per CONTRACT section 2 (received_at = now unless backfill).

        One Outcome per raw, in the same order. Must also tell running workflows that the
        indicators of stored records changed.
        """
        ...

    async def evidence_index(self, mission: str) -> EvidenceIndex:
        """Every record of the mission, whenever known (an as-of view applies knowledge
        times itself): what the timeline backtests. NotFoundError for an unknown mission."""
        ...


class GatesPort(Protocol):
    async def status(self, mission: str) -> MissionStatus: ...

    async def gates_awaiting(self, person: str, roles: frozenset[str]) -> list[AwaitingGate]: ...

    async def gate(self, mission: str, gate: str) -> GateView: ...

    async def approve(self, mission: str, gate: str, inp: ApproveInput) -> GateView: ...

    async def reject(self, mission: str, gate: str, inp: RejectInput) -> GateView: ...

    async def waive(self, mission: str, gate: str, inp: WaiveInput) -> GateView: ...

    async def revoke_waiver(self, mission: str, gate: str, inp: RevokeInput) -> GateView: ...

    async def load_plan(self, plan: LoadedPlan, actor: str) -> PlanLoaded:
        """Store a plan; it becomes the mission's plan unless the mission's exit has started
        on another one (then a coordinator migrates the mission to it)."""
        ...

    async def start_mission(self, mission: str, inp: StartInput) -> MissionStatus:
        """Start the exit on the mission's registered plan (EvidencePort.register_plan)."""
        ...

    async def reopen(self, mission: str, phase: str, inp: ReopenInput) -> MissionStatus: ...

    async def migrate(self, mission: str, inp: MigrateInput) -> MissionStatus:
        """Move a running exit to another loaded plan of the same mission: every gate is
        re-evaluated and pending approvals are void (CONTRACT section 4)."""
        ...


class AuditPort(Protocol):
    async def append(self, kind: str, payload: dict[str, Any], actor: str) -> None: ...
