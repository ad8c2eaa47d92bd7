"""Typed messages of the exitgate workflows and activities (signals, updates, queries, state).

Every signal, update, query and activity takes exactly one of these models, so a field added
later never breaks an old caller or an old history. Times are RFC 3339 strings at the edges and
integer microseconds (UTC) inside workflow state, as everywhere else in exitgate.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .register import Register
from .timefmt import parse_timestamp

GateStateName = Literal["collecting", "awaiting_approval", "approved"]
PhaseStateName = Literal["pending", "running", "complete", "failed"]
NonEmpty = Field(min_length=1)

# Search attributes (registered on the server by `temporal operator search-attribute create`
# or the dev server's --search-attribute flag; see docs/workflows.md).
SA_MISSION = "ExitgateMission"
SA_PHASE = "ExitgatePhase"
SA_GATE_STATES = "ExitgateGateStates"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- the plan, as much of it as the workflows need (built by the describe_plan activity) ---


class ApprovalSpec(_Model):
    roles: list[str]
    quorum: int
    distinct_roles: bool = False
    required_roles: list[str] = []
    waiver_roles: list[str] = []
    reject_threshold: int = 1
    veto_roles: list[str] = []
    approval_valid_for_us: int | None = None


class GateSpec(_Model):
    id: str
    name: str
    approval: ApprovalSpec
    remind_after_us: int | None = None
    escalate_after_us: int | None = None
    indicators: list[str]
    benchmarks: list[str]
    waivable: list[str]  # benchmarks not under a `not`


class PhaseSpec(_Model):
    id: str
    name: str
    depends_on: list[str] = []
    gates: list[GateSpec]


class PlanSpec(_Model):
    plan: str
    plan_sha256: str
    mission: str
    coordinator_roles: list[str]
    phases: list[PhaseSpec]


# --- activities ---


class DescribePlanInput(_Model):
    plan_sha256: str


class WaiverInfo(_Model):
    benchmark: str
    by: str
    role: str = ""
    justification: str
    until: str | None = None


class EvaluateGateInput(_Model):
    plan_sha256: str
    mission: str
    gate: str
    as_of: str
    waivers: list[WaiverInfo] = []


class GateEvaluation(_Model):
    status: Literal["pass", "fail", "unknown"]
    digest: str
    valid_until: str | None
    # Not returned any more: the workflow acts on status and digest, and the API re-computes
    # the tree from the store as of the evaluation (its digest proves it is the same one). A
    # 50-benchmark tree in every evaluation's history event only brought continue-as-new
    # closer. Histories recorded before still carry it, hence optional.
    explanation: dict[str, Any] | None = None
    # The store's position for the gate's indicators when it was read (store.outbox).
    evidence_position: int | None = None


class QueuedAuditEntry(_Model):
    """An entry a workflow queued for the audit log (store.audit.AuditEntry is one in the log)."""

    key: str  # workflow id and sequence number: lets a store drop a retried append
    kind: str
    actor: str
    payload: dict[str, Any]


class AuditBatch(_Model):
    entries: list[QueuedAuditEntry]


class NotifyInput(_Model):
    kind: Literal["reminder", "escalation"]
    mission: str
    phase: str
    gate: str
    message: str
    payload: dict[str, Any] = {}


# --- updates and signals (one typed input each) ---


class _Actor(_Model):
    person: str = NonEmpty
    role: str = NonEmpty
    # The roles the person holds at this instant, where the caller knows them (an API key's);
    # the workflow refuses RoleNotHeld in the same step as the decision. None: not checked.
    # A workflow that has a role register (schemas.register) resolves the act with it instead.
    held_roles: list[str] | None = None
    # The principal a delegate acts for (CONTRACT section 5); None: their own assignment if
    # they hold the role, else the first delegation that covers the act.
    on_behalf_of: str | None = None


class ApproveInput(_Actor):
    gate: str
    digest: str
    comment: str | None = None
    # The store's position for the gate's indicators as the caller saw it: a vote on an
    # evaluation that read less is refused (StaleDigest). None: not checked.
    evidence_position: int | None = None


class RejectInput(_Actor):
    gate: str
    digest: str
    reason: str = NonEmpty
    evidence_position: int | None = None


class WithdrawInput(_Model):
    """Take back one's counted approval or rejection; it acts under the vote's own role."""

    person: str = NonEmpty
    gate: str
    reason: str = NonEmpty
    held_roles: list[str] | None = None
    on_behalf_of: str | None = None


class WaiveInput(_Actor):
    gate: str
    benchmark: str
    justification: str = NonEmpty
    until: str | None = None

    @field_validator("until")
    @classmethod
    def _timestamp(cls, v: str | None) -> str | None:
        if v is not None:
            parse_timestamp(v)
        return v


class RevokeWaiverInput(_Actor):
    gate: str
    benchmark: str
    reason: str | None = None


class EvidenceChanged(_Model):
    indicators: list[str] = []  # empty: every gate of the phase


class SetPaused(_Model):
    paused: bool
    reason: str = ""


class PlanChanged(_Model):
    plan_sha256: str
    phase: PhaseSpec
    by: str


class ReopenInput(_Actor):
    phase: str
    reason: str = NonEmpty


class MigrateInput(_Actor):
    plan_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class PhaseCompleted(_Model):
    phase: str
    generation: int


class PhaseFailed(_Model):
    """A phase run ended without completing (an activity failed for good, it was cancelled or
    terminated): the mission marks it failed until a coordinator reopens it."""

    phase: str
    generation: int
    reason: str


# --- workflow state, carried across continue-as-new, and what queries return ---


class ApprovalRecord(_Model):
    """A counted vote: an approval, or a rejection below the threshold (its reason in comment)."""

    person: str
    role: str
    digest: str
    comment: str | None = None
    at: str
    expires: str | None = None  # approvals under approval_valid_for: when it stops counting
    # The principal a delegate voted for (CONTRACT section 5); None: the signer's own vote.
    principal: str | None = None


class GateState(_Model):
    gate: str
    state: GateStateName = "collecting"
    status: str | None = None  # latest rule status
    digest: str | None = None
    valid_until: str | None = None
    evaluated_at: str | None = None
    approvals: list[ApprovalRecord] = []
    rejections: list[ApprovalRecord] = []  # counted, below reject_threshold
    rejected_digest: str | None = None
    rejection_reason: str | None = None
    waivers: list[WaiverInfo] = []
    awaiting_since_us: int | None = None
    reminders_sent: int = 0
    escalated: bool = False
    evaluations: int = 0
    # Why the latest evaluation failed for good (EvaluationFailed), until one succeeds.
    evaluation_error: str | None = None
    evidence_position: int | None = None  # what the latest evaluation saw of the store


class Limits(_Model):
    """When a run continues as new (well under Temporal's 10,000 signals, 2,000 updates)."""

    signals: int = 4000
    updates: int = 800
    history_events: int = 8000
    # Group commit: audit entries are written at most this long after they are queued
    # (0: after every step, as before). Completion and continue-as-new always flush.
    audit_lag_ms: int = Field(5000, ge=0, le=60_000)


class PhaseCarry(_Model):
    gates: list[GateState]
    dirty: list[str]
    audit_pending: list[QueuedAuditEntry]
    audit_seq: int
    signals_total: int
    updates_total: int
    evaluations_total: int
    runs: int


class PhaseInput(_Model):
    mission: str
    plan_sha256: str
    phase: PhaseSpec
    started_by: str
    generation: int = 0
    reopened_by: str | None = None
    reopen_reason: str | None = None
    paused: bool = False
    parent_workflow_id: str | None = None
    # The mission's role register when the phase started (then kept current by set_register
    # updates and carried across continue-as-new); None: acts carry held_roles, as before.
    role_register: Register | None = None
    started_for: str | None = None  # the principal the starter acted for, as a delegate
    reopened_for: str | None = None
    search_attributes: bool = True
    limits: Limits = Limits()
    carried: PhaseCarry | None = None


class PhaseStatus(_Model):
    mission: str
    phase: str
    plan_sha256: str
    generation: int
    paused: bool
    complete: bool
    started_by: str
    reopened_by: str | None
    gates: list[GateState]
    signals_total: int
    updates_total: int
    evaluations_total: int
    runs: int
    pending_evaluation: list[str] = []  # gates with evidence not yet evaluated
    register_version: int | None = None  # the role register it resolves acts with


class PhaseResult(_Model):
    phase: str
    generation: int
    plan_sha256: str
    gates: list[GateState]


class PhaseRecord(_Model):
    id: str
    state: PhaseStateName = "pending"
    generation: int = 0
    paused: bool = False
    reopened_by: str | None = None
    reopen_reason: str | None = None
    reopened_for: str | None = None  # the principal the reopener acted for, as a delegate
    failure: str | None = None  # why the phase's last run failed, while state is "failed"


class MissionCarry(_Model):
    spec: PlanSpec
    started_by: str
    phases: list[PhaseRecord]
    audit_pending: list[QueuedAuditEntry]
    audit_seq: int
    runs: int
    started_for: str | None = None


class MissionInput(_Model):
    plan_sha256: str
    person: str = NonEmpty
    role: str = NonEmpty
    search_attributes: bool = True
    phase_limits: Limits = Limits()
    carried: MissionCarry | None = None
    # The mission's role register (schemas.register), kept current by set_register updates and
    # passed to every phase it starts; None: acts carry held_roles, as before.
    role_register: Register | None = None


class MissionStatus(_Model):
    mission: str
    plan_sha256: str
    started_by: str
    phases: list[PhaseRecord]
    complete: bool
    started_for: str | None = None
    register_version: int | None = None


class MissionResult(_Model):
    mission: str
    plan_sha256: str
    phases: list[str]
