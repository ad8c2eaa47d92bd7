"""Request and response bodies of the HTTP API (the views it answers with live in service.views)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from schemas.models import ID_PATTERN
from schemas.timefmt import TIMESTAMP_PATTERN, parse_timestamp

__all__ = ["ApproveBody", "IngestResult", "MigrateBody", "OnBehalfOf", "RecordResult", "RejectBody", "ReopenBody", "RevokeBody", "StartBody", "Timestamp", "WaiveBody", "WithdrawBody"]

Id = Annotated[str, Field(pattern=ID_PATTERN, max_length=64)]
Digest = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="the evaluation digest being approved")]


def _timestamp(v: str) -> str:
    parse_timestamp(v)  # raises ValueError with the reason, which pydantic reports on the field
    return v


Timestamp = Annotated[str, Field(pattern=TIMESTAMP_PATTERN), AfterValidator(_timestamp)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


OnBehalfOf = Annotated[Id | None, Field(description="the principal you act for as their delegate (default: your "
                                                   "own role if you hold it, else your first delegation covering "
                                                   "the act)")]


class ApproveBody(_Body):
    digest: Digest
    role: Id
    comment: Annotated[str, Field(max_length=4000)] | None = None
    on_behalf_of: OnBehalfOf = None


class RejectBody(_Body):
    digest: Digest
    role: Id
    reason: Annotated[str, Field(min_length=1, max_length=4000)]
    on_behalf_of: OnBehalfOf = None


class WithdrawBody(_Body):
    reason: Annotated[str, Field(min_length=1, max_length=4000)]
    on_behalf_of: OnBehalfOf = None


class WaiveBody(_Body):
    benchmark: Id
    role: Id
    justification: Annotated[str, Field(min_length=1, max_length=4000)]
    until: Timestamp | None = None
    on_behalf_of: OnBehalfOf = None


class FieldProblem(BaseModel):
    field: str
    reason: str


class RecordResult(BaseModel):
    status: str = Field(description="stored | duplicate | rejected")
    id: str | None = None
    line: int | None = Field(None, description="line number in a JSON Lines body (from 1)")
    index: int | None = Field(None, description="position in a JSON array body (from 0)")
    errors: list[FieldProblem] = []


class IngestResult(BaseModel):
    mission: str
    stored: int
    duplicate: int
    rejected: int
    results: list[RecordResult]


class Refusal(BaseModel):
    type: str = Field(description="the refusal type (CONTRACT section 4, or the service's own; docs/api.md)")
    detail: str = Field(description="why, in plain words")


def record_schema() -> dict[str, Any]:
    from schemas.models import EvidenceRecord

    return EvidenceRecord.model_json_schema(ref_template="#/components/schemas/{model}")


class StartBody(_Body):
    role: Id = Field(description="one of the plan's coordinator roles, held by the key's person")


class ReopenBody(_Body):
    role: Id
    reason: Annotated[str, Field(min_length=1, max_length=4000)]


class RevokeBody(_Body):
    role: Id
    reason: Annotated[str, Field(max_length=4000)] | None = None
    on_behalf_of: OnBehalfOf = None


class MigrateBody(_Body):
    role: Id
    plan_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="a plan loaded with POST /v1/plans")]
