"""Pydantic models of the contract's documents: exit plan, rule tree, evidence record.

These models are the single source of truth: the published JSON Schema files in this folder
are generated from them (`python -m schemas.generate`), and a test checks both accept and
reject the same documents. Checks that need the whole plan (unknown indicators, cycles,
quorum against roles...) live in `rules.plan`, which reports every problem with its path.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    Tag,
    WithJsonSchema,
)

from .timefmt import DURATION_PATTERN, TIMESTAMP_PATTERN, parse_duration, parse_timestamp

__all__ = [
    "AGGREGATES",
    "BOOLEAN_AGGREGATES",
    "EVIDENCE_ID_PATTERN",
    "ID_PATTERN",
    "OPS",
    "AllNode",
    "AnyNode",
    "Approval",
    "AtLeastNode",
    "Benchmark",
    "BenchmarkNode",
    "EvidenceRecord",
    "ExitPlan",
    "Gate",
    "Indicator",
    "Mission",
    "Node",
    "NotNode",
    "Phase",
    "ScoreBody",
    "ScoreNode",
    "Timers",
]

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
EVIDENCE_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
AGGREGATES = ("latest", "mean", "min", "max", "sum", "count", "change", "trend")
BOOLEAN_AGGREGATES = ("latest", "count", "sum")
OPS = ("<", "<=", ">", ">=", "==", "!=", "between")


def _check_duration(value: str) -> str:
    parse_duration(value)
    return value


def _check_timestamp(value: str) -> str:
    parse_timestamp(value)
    return value


Id = Annotated[str, Field(pattern=ID_PATTERN)]
EvidenceId = Annotated[str, Field(pattern=EVIDENCE_ID_PATTERN)]
Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "x-exitgate-format": "duration",
            "description": "ISO 8601 duration of weeks, days, hours, minutes (P90D, P2W, PT12H).",
        }
    ),
]
Timestamp = Annotated[
    str,
    AfterValidator(_check_timestamp),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": TIMESTAMP_PATTERN,
            "format": "date-time",
            "x-exitgate-format": "timestamp",
            "description": "RFC 3339 timestamp with seconds and an offset (2025-03-31T00:00:00Z).",
        }
    ),
]
def _integral(value: Any) -> Any:
    # JSON Schema's "integer" admits 2.0, and RFC 8785 writes 2.0 as 2, so the plan's sha256
    # cannot tell them apart: a count field takes 2.0 as 2 (evidence values stay strict).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Count = Annotated[StrictInt, BeforeValidator(_integral)]
Number = StrictInt | StrictFloat
# Constraints go on each member: on the union itself pydantic would emit invalid JSON Schema.
Weight = Annotated[StrictInt, Field(ge=0)] | Annotated[StrictFloat, Field(ge=0)]
Share = Annotated[StrictInt, Field(gt=0, le=1)] | Annotated[StrictFloat, Field(gt=0, le=1)]


class _Doc(BaseModel):
    # strict: "5" is never 5 and 5.0 is never an integer: the contract forbids both coercions.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class Mission(_Doc):
    id: Id
    name: str = Field(min_length=1)


class Indicator(_Doc):
    id: Id
    name: str = Field(min_length=1)
    unit: str | None = None
    kind: Literal["number", "integer", "boolean"]
    min: Number | None = None
    max: Number | None = None
    sources: list[Annotated[str, Field(min_length=1)]] | None = None


class Benchmark(_Doc):
    id: Id
    indicator: Id
    aggregate: Literal["latest", "mean", "min", "max", "sum", "count", "change", "trend"]
    op: Literal["<", "<=", ">", ">=", "==", "!=", "between"]
    threshold: StrictBool | Number | Annotated[list[Number], Field(min_length=2, max_length=2)]
    window: Duration | None = None
    min_points: Annotated[StrictInt, Field(ge=0), BeforeValidator(_integral)] = 1
    max_age: Duration | None = None
    weight: Weight = 1


class BenchmarkNode(_Doc):
    benchmark: Benchmark


class AllNode(_Doc):
    all: Annotated[list[Node], Field(min_length=1)]
    weight: Weight = 1


class AnyNode(_Doc):
    any: Annotated[list[Node], Field(min_length=1)]
    weight: Weight = 1


class NotNode(_Doc):
    not_: Node = Field(alias="not")
    weight: Weight = 1


class AtLeastNode(_Doc):
    at_least: Annotated[StrictInt, Field(ge=1), BeforeValidator(_integral)]
    of: Annotated[list[Node], Field(min_length=1)]
    weight: Weight = 1


class ScoreBody(_Doc):
    of: Annotated[list[Node], Field(min_length=1)]
    min: Share


class ScoreNode(_Doc):
    score: ScoreBody
    weight: Weight = 1


OPERATORS = ("benchmark", "all", "any", "not", "at_least", "score")


def _node_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        for op in OPERATORS:
            if op in type(value).model_fields or (op == "not" and isinstance(value, NotNode)):
                return f"node:{op}"
        return None
    if isinstance(value, dict):
        present = [op for op in OPERATORS if op in value]
        return f"node:{present[0]}" if len(present) == 1 else None
    return None


Node = Annotated[
    Annotated[BenchmarkNode, Tag("node:benchmark")]
    | Annotated[AllNode, Tag("node:all")]
    | Annotated[AnyNode, Tag("node:any")]
    | Annotated[NotNode, Tag("node:not")]
    | Annotated[AtLeastNode, Tag("node:at_least")]
    | Annotated[ScoreNode, Tag("node:score")],
    Discriminator(
        _node_tag,
        custom_error_type="rule_node",
        custom_error_message="a rule node needs exactly one operator: benchmark, all, any, not, at_least or score",
    ),
]


class Approval(_Doc):
    roles: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    quorum: Count
    distinct_roles: StrictBool = False
    required_roles: list[str] | None = None
    waiver_roles: list[str] | None = None
    # Rejections by distinct people that send the gate back (default 1: the first).
    reject_threshold: Count | None = None
    # One rejection under one of these sends the gate back at once.
    veto_roles: list[str] | None = None
    # An approval older than this stops counting if the gate is not approved by then.
    approval_valid_for: Duration | None = None


class Timers(_Doc):
    remind_after: Duration | None = None
    escalate_after: Duration | None = None


class Gate(_Doc):
    id: Id
    name: str = Field(min_length=1)
    rule: Node
    approval: Approval
    timers: Timers | None = None


class Phase(_Doc):
    id: Id
    name: str = Field(min_length=1)
    depends_on: list[str] | None = None
    gates: Annotated[list[Gate], Field(min_length=1)]


class ExitPlan(_Doc):
    plan: Id
    version: str | None = None
    mission: Mission
    coordinator_roles: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] | None = None
    indicators: Annotated[list[Indicator], Field(min_length=1)]
    phases: Annotated[list[Phase], Field(min_length=1)]

    @property
    def coordinators(self) -> list[str]:
        return list(self.coordinator_roles or ["coordinator"])


Provenance = dict[str, Any]


class EvidenceRecord(_Doc):
    """The record as sent. Acceptance also depends on the plan and on what is already stored
    (CONTRACT section 2), which `rules.evidence` decides."""

    id: EvidenceId
    mission: Id
    indicator: Id
    value: StrictBool | Number | None
    observed_at: Timestamp
    reported_at: Timestamp | None = None
    source: str = Field(min_length=1)
    supersedes: EvidenceId | None = None
    provenance: Provenance | None = None


for _model in (AllNode, AnyNode, NotNode, AtLeastNode, ScoreBody, ScoreNode, Gate, Phase, ExitPlan):
    _model.model_rebuild()
