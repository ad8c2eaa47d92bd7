"""The plan test file (`exitgate plan test`): a plan, cases of evidence at an instant, and what
the plan must decide there. Like the other models here, the published JSON Schema
(plan-test.schema.json) is generated from these classes.

Inline records are plain objects here on purpose: whether a record is acceptable is decided by
the evidence rules (CONTRACT section 2, `rules.evidence`), with their own messages.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from .models import Id, Number, Timestamp

__all__ = ["BenchmarkExpect", "CaseWaiver", "Expect", "GateExpect", "PlanCase", "PlanTestFile", "ValueRange"]

StatusName = Literal["pass", "fail", "unknown"]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ValueRange(_Doc):
    """Inclusive bounds on a benchmark's aggregate value; either may be left out."""

    min: Number | None = None
    max: Number | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ValueRange:
        if self.min is None and self.max is None:
            raise ValueError("a value range needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class BenchmarkExpect(_Doc):
    status: StatusName | None = None
    reason: Annotated[str, Field(min_length=1)] | None = Field(
        default=None, description="A substring the benchmark's one-line reason must contain.")
    value: StrictBool | Number | ValueRange | None = Field(
        default=None, description="The aggregate value: exactly this number or true/false, or within {min, max}.")
    points: Annotated[StrictInt, Field(ge=0)] | None = None
    waived: StrictBool | None = None


class GateExpect(_Doc):
    status: StatusName | None = None
    digest: Sha256 | None = None


class Expect(_Doc):
    gates: dict[Id, StatusName | GateExpect] | None = Field(
        default=None, description="Gate id -> its status, or {status, digest}.")
    benchmarks: dict[Id, StatusName | BenchmarkExpect] | None = Field(
        default=None, description="Benchmark id -> its status, or {status, reason, value, points, waived}.")


class CaseWaiver(_Doc):
    benchmark: Id
    by: Annotated[str, Field(min_length=1)] = "plan-test"
    justification: Annotated[str, Field(min_length=1)] = "plan test"
    until: Timestamp | None = None


class PlanCase(_Doc):
    name: Annotated[str, Field(min_length=1)]
    as_of: Timestamp
    evidence: Annotated[str, Field(min_length=1)] | None = Field(
        default=None, description="JSON Lines file, relative to the test file; defaults to the file's `evidence`.")
    records: list[dict[str, Any]] | None = Field(
        default=None, description="Inline evidence records, taken after the evidence file's (if any). "
        "`id`, `mission` and (for an indicator with one allowed source) `source` may be left out.")
    waivers: list[CaseWaiver] | None = None
    expect: Expect


class PlanTestFile(_Doc):
    plan: Annotated[str, Field(min_length=1)] = Field(description="The exit plan, relative to the test file.")
    evidence: Annotated[str, Field(min_length=1)] | None = Field(
        default=None, description="Default evidence file for cases that name neither a file nor records.")
    cases: Annotated[list[PlanCase], Field(min_length=1)]

