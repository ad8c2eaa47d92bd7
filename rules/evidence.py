"""Evidence acceptance exactly as CONTRACT section 2 says, with no I/O.

`check_record` is the one place the rules live. What it needs to know about records already
accepted comes through the small `Known` protocol, so the in-memory `Ledger` below (files given
to `evaluate --evidence`) and the database store apply identical semantics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import MISSING, dataclass, field, fields, make_dataclass
from typing import Any, Literal, Protocol, TypeGuard, TypeVar

from schemas.jsonfmt import (
    LONE_SURROGATE,
    JsonFormatError,
    field_name,
    loads_strict,
    lone_surrogates,
    shown,
)
from schemas.models import EVIDENCE_ID_PATTERN, ID_PATTERN, Indicator
from schemas.timefmt import format_timestamp, parse_timestamp

from .plan import LoadedPlan

__all__ = [
    "MAX_EXACT_INTEGER",
    "FieldError",
    "Known",
    "Ledger",
    "Outcome",
    "Record",
    "check_record",
    "is_evidence_id",
    "parse_line",
    "read_jsonl",
    "stored_outcome",
    "values_equal",
]

import math
import re

# Values are evaluated as IEEE doubles; beyond this an integer is no longer held exactly
# (2^53 + 1 reads as 2^53), so 9007199254740993 and 9007199254740992 would be one value.
# It is the interoperable range of RFC 7493 (I-JSON), section 2.2.
MAX_EXACT_INTEGER = 2**53 - 1

_EVIDENCE_ID = re.compile(EVIDENCE_ID_PATTERN)
_ID = re.compile(ID_PATTERN)
_FIELDS = ("id", "mission", "indicator", "value", "observed_at", "reported_at", "source", "supersedes", "provenance")
_REQUIRED = ("mission", "indicator", "value", "observed_at", "source")
_FIELD_SET, _REQUIRED_SET = frozenset(_FIELDS), frozenset(_REQUIRED)

Value = bool | int | float | None


@dataclass(frozen=True, slots=True)
class Record:
    """An accepted record. Times are microseconds since the epoch, UTC."""

    id: str
    mission: str
    indicator: str
    value: Value
    observed_at: int
    reported_at: int
    known_at: int  # when the record counts as known for as-of evaluations
    source: str
    supersedes: str | None = None
    provenance: dict[str, Any] | None = None
    received_at: int | None = None

    @property
    def withdrawal(self) -> bool:
        return self.value is None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "mission": self.mission, "indicator": self.indicator, "value": self.value,
            "observed_at": format_timestamp(self.observed_at),
            "reported_at": format_timestamp(self.reported_at), "source": self.source,
        }
        if self.supersedes is not None:
            out["supersedes"] = self.supersedes
        if self.provenance is not None:
            out["provenance"] = self.provenance
        return out


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    reason: str


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Literal["stored", "duplicate", "rejected"]
    id: str | None = None
    line: int | None = None
    errors: tuple[FieldError, ...] = ()

    @property
    def where(self) -> str:
        parts = []
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.id is not None:
            parts.append(f"record {self.id!r}")
        return ", ".join(parts) or "record"

    @property
    def message(self) -> str:
        if self.status != "rejected":
            return f"{self.where}: {self.status}"
        return f"{self.where}: " + "; ".join(f"{e.field}: {e.reason}" for e in self.errors)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "id": self.id}
        if self.line is not None:
            out["line"] = self.line
        if self.errors:
            out["errors"] = [{"field": e.field, "reason": e.reason} for e in self.errors]
        return out


_T = TypeVar("_T")


def _quick(cls: type[_T]) -> Callable[..., _T]:
    """cls's constructor at a plain dataclass's cost. A frozen dataclass's __init__ sets each
    field through object.__setattr__, 2.8 us for a Record against 0.5 us (measured): an import
    makes a Record and an Outcome per record. The instance is built as a mutable twin with the
    same slots and then given its class, which CPython allows between such layouts; it is then
    a cls in every way (frozen, equal to and hashing as one built by cls())."""
    # The twin runs no __post_init__ and knows no default factories: a class that grows
    # either must not be built this way, and says so at import rather than building wrongly.
    if hasattr(cls, "__post_init__") or any(f.default_factory is not MISSING for f in fields(cls)):  # type: ignore[arg-type]
        raise TypeError(f"_quick cannot build {cls.__name__}: it has __post_init__ or a default_factory")
    twin = make_dataclass(f"_{cls.__name__}Draft", [
        (f.name, f.type, field(default=f.default)) if f.default is not MISSING else (f.name, f.type)
        for f in fields(cls)  # type: ignore[arg-type]
    ], slots=True)

    def make(*args: Any) -> _T:
        obj = twin(*args)
        obj.__class__ = cls
        return obj  # type: ignore[no-any-return]

    return make


_record = _quick(Record)
_outcome = _quick(Outcome)


def stored_outcome(record_id: str, line: int | None) -> Outcome:
    """Outcome("stored", record_id, line), made as cheaply as a plain object (one per record)."""
    return _outcome("stored", record_id, line)


class Known(Protocol):
    """What acceptance needs to know about records accepted before."""

    def get(self, record_id: str) -> Record | None: ...

    def is_corrected(self, record_id: str) -> bool: ...


def is_evidence_id(v: Any) -> TypeGuard[str]:
    """Whether `v` is a valid evidence id: only such ids are ever looked up or stored."""
    return isinstance(v, str) and _EVIDENCE_ID.match(v) is not None and v[-1] != "\n"


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def values_equal(kind: str, a: Any, b: Any) -> bool:
    """Equality "as values of the indicator's kind": 7 == 7.0 for numbers, true never == 1."""
    if a is None or b is None:
        return a is None and b is None
    if kind == "boolean" or isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return _is_number(a) and _is_number(b) and a == b


def _instant_equal(a: int, raw: Any) -> bool:
    try:
        return parse_timestamp(raw) == a
    except (ValueError, TypeError):
        return False


def _retry_outcome(raw: dict[str, Any], first: Record, line: int | None, kind: str) -> Outcome:
    rid = first.id
    diffs = []
    if raw.get("mission") != first.mission:
        diffs.append("mission")
    if raw.get("indicator") != first.indicator:
        diffs.append("indicator")
    if "value" not in raw or not values_equal(kind, raw.get("value"), first.value):
        diffs.append("value")
    if not _instant_equal(first.observed_at, raw.get("observed_at")):
        diffs.append("observed_at")
    if raw.get("source") != first.source:
        diffs.append("source")
    if raw.get("supersedes") != first.supersedes:
        diffs.append("supersedes")
    if not diffs:
        return Outcome("duplicate", rid, line)
    return Outcome("rejected", rid, line, tuple(
        FieldError(f, f"conflicts with the record already accepted under id {rid!r}; "
                   "send a new id with supersedes to correct it") for f in diffs))


def check_record(
    raw: Any,
    plan: LoadedPlan,
    known: Known,
    *,
    line: int | None = None,
    received_at: int | None = None,
    backfill: bool = False,
) -> Record | Outcome:
    """Decide one record. Returns the Record to store, or a duplicate/rejected Outcome.

    `received_at` is None for a file given to `evaluate --evidence` (knowledge time is
    `reported_at`, defaulting to `observed_at`). In the service it is the time of receipt:
    a live record is known from max(reported_at, received_at); a backfill keeps `reported_at`.
    """
    if type(raw) is dict:
        usual = _accept_usual(raw, plan, known, received_at, backfill)
        if usual is not None:
            return usual
    return _check_record(raw, plan, known, line, received_at, backfill)


_USUAL_FIELDS = frozenset(("id", "mission", "indicator", "value", "observed_at", "reported_at", "source"))
_USUAL_REQUIRED = frozenset(("id", *_REQUIRED))


def _accept_usual(raw: dict[str, Any], plan: LoadedPlan, known: Known, received_at: int | None,
                  backfill: bool) -> Record | None:
    """The Record `_check_record` makes of a usual new record (no supersedes, no provenance,
    strings where strings belong), in half its time; None for anything else, and
    wherever any rule could refuse it, so that `_check_record` decides it (and words the
    reasons): this only ever accepts what `_check_record` accepts, as the same Record
    (tests/rules/test_fast_paths.py compares the two).

    Why each of `_check_record`'s rules holds here: every key is allowed and each required
    one present; no string can hold a lone surrogate (the keys are those above, the id
    matches its ASCII pattern, mission and indicator equal the plan's ASCII ids, the source
    is ASCII, timestamps parsed, the value is no string); the id is valid and new; mission,
    indicator, source and value pass the same tests (`_value_problem` itself, without
    supersedes); the times are parsed, defaulted and compared as there."""
    if not (_USUAL_FIELDS >= raw.keys() >= _USUAL_REQUIRED):
        return None
    rid, mission, ind_id, source = raw["id"], raw["mission"], raw["indicator"], raw["source"]
    if mission != plan.mission_id or type(ind_id) is not str or type(source) is not str:
        return None
    indicator = plan.indicators.get(ind_id)
    if indicator is None or not is_evidence_id(rid) or not source or not source.isascii() or "\x00" in source:
        return None
    if indicator.sources is not None and source not in indicator.sources:
        return None
    value = raw["value"]
    if _value_problem(value, indicator, False) is not None:
        return None
    observed_text, reported_text = raw["observed_at"], raw.get("reported_at")
    if type(observed_text) is not str or not (reported_text is None or type(reported_text) is str):
        return None
    try:
        observed = parse_timestamp(observed_text)
        reported = parse_timestamp(reported_text) if reported_text is not None else None
    except ValueError:
        return None
    if reported is None:
        reported = _reported_default(observed, received_at)
    elif received_at is not None and reported > received_at and not backfill:
        return None
    if observed > reported or known.get(rid) is not None:
        return None
    return _record(rid, mission, ind_id, value, observed, reported, _known_at(reported, received_at, backfill),
                   source, None, None, received_at)


def _reported_default(observed: int, received_at: int | None) -> int:
    """reported_at when a record gives none: the time of receipt, or in a file (no receipt)
    the time observed."""
    return observed if received_at is None else received_at


def _known_at(reported: int, received_at: int | None, backfill: bool) -> int:
    """Knowledge time: a live record is known from max(reported_at, received_at); a backfill,
    or a file, keeps reported_at."""
    return reported if (received_at is None or backfill) else max(reported, received_at)


def _check_record(raw: Any, plan: LoadedPlan, known: Known, line: int | None, received_at: int | None,
                  backfill: bool) -> Record | Outcome:
    """check_record in full: every rule, every reason."""
    if not isinstance(raw, dict):
        return Outcome("rejected", None, line, (FieldError("$", "a record must be a JSON object"),))
    rid = raw.get("id")
    broken = lone_surrogates(raw)
    if broken:
        # Before any other rule: such text cannot be stored, hashed into the audit log or
        # echoed back, and the other reasons would quote it.
        return Outcome("rejected", rid if is_evidence_id(rid) else None, line,
                       tuple(FieldError(field_name(p), LONE_SURROGATE) for p in broken))
    if not is_evidence_id(rid):
        reason = "required field is missing" if rid is None else (
            f"{shown(rid)} is not a valid evidence id ([A-Za-z0-9._:-], 1 to 128 characters)")
        return Outcome("rejected", None, line, (FieldError("id", reason),))

    first = known.get(rid)
    if first is not None:
        ind = plan.indicators.get(first.indicator)
        return _retry_outcome(raw, first, line, ind.kind if ind else "number")

    errors: list[FieldError] = []
    if not _FIELD_SET.issuperset(raw):
        for key in raw:
            if key not in _FIELDS:
                errors.append(FieldError(key, f"unknown field (allowed: {', '.join(_FIELDS)})"))
    if not raw.keys() >= _REQUIRED_SET:
        for key in _REQUIRED:
            if key not in raw:
                errors.append(FieldError(key, "required field is missing"))

    mission = raw.get("mission")
    if "mission" in raw and mission != plan.mission_id:
        errors.append(FieldError("mission", f"unknown mission {shown(mission)} (this plan is for {plan.mission_id!r})"))

    ind_id = raw.get("indicator")
    indicator: Indicator | None = None
    if "indicator" in raw:
        indicator = plan.indicators.get(ind_id) if isinstance(ind_id, str) else None
        if indicator is None:
            errors.append(FieldError("indicator", f"unknown indicator {shown(ind_id)}"))

    source = raw.get("source")
    if "source" in raw:
        if not isinstance(source, str) or not source:
            errors.append(FieldError("source", "must be a non-empty string"))
        elif "\x00" in source:
            # PostgreSQL's text cannot hold it: stored, it would fail its whole chunk.
            errors.append(FieldError("source", "must not contain the NUL character (U+0000)"))
        elif indicator is not None and indicator.sources is not None and source not in indicator.sources:
            errors.append(FieldError("source", f"source {shown(source)} may not report {indicator.id!r} (allowed: {', '.join(indicator.sources)})"))

    supersedes = raw.get("supersedes")
    value = raw.get("value")
    if "value" in raw and indicator is not None:
        problem = _value_problem(value, indicator, supersedes is not None)
        if problem:
            errors.append(FieldError("value", problem))

    observed = _time_field(raw, "observed_at", errors)
    if "observed_at" in raw and raw["observed_at"] is None:  # (a null reported_at means "not given")
        errors.append(FieldError("observed_at", "must be an RFC 3339 timestamp string, not null"))
    reported = _time_field(raw, "reported_at", errors) if raw.get("reported_at") is not None else None
    if received_at is not None and reported is not None and reported > received_at and not backfill:
        errors.append(FieldError("reported_at", f"{raw['reported_at']} is later than the time of receipt "
                                 f"{format_timestamp(received_at)}"))
    if reported is None and observed is not None:
        reported = _reported_default(observed, received_at)
    if observed is not None and reported is not None and observed > reported:
        errors.append(FieldError("observed_at", f"{raw['observed_at']} is later than reported_at "
                                 f"{format_timestamp(reported)}: a fact cannot be reported before it happens"))

    provenance = raw.get("provenance")
    if provenance is not None and not isinstance(provenance, dict):
        errors.append(FieldError("provenance", "must be an object"))

    if supersedes is not None:
        if not isinstance(supersedes, str) or not _EVIDENCE_ID.match(supersedes):
            errors.append(FieldError("supersedes", f"{shown(supersedes)} is not a valid evidence id"))
        else:
            target = known.get(supersedes)
            if target is None:
                errors.append(FieldError("supersedes", f"no record {supersedes!r} was accepted before this one"))
            elif target.mission != mission or target.indicator != ind_id:
                errors.append(FieldError("supersedes", f"record {supersedes!r} belongs to indicator {target.indicator!r} of mission {target.mission!r}, not this record's"))
            elif known.is_corrected(supersedes):
                errors.append(FieldError("supersedes", f"record {supersedes!r} was already corrected; correct the correction instead"))
            elif reported is not None and target.reported_at > reported:
                errors.append(FieldError("supersedes", f"record {supersedes!r} was reported at {format_timestamp(target.reported_at)}, "
                                         "after this correction: a correction cannot be known before what it corrects"))

    if errors:
        return Outcome("rejected", rid, line, tuple(errors))
    assert observed is not None and reported is not None and isinstance(mission, str) and isinstance(ind_id, str)
    assert isinstance(source, str)
    return _record(rid, mission, ind_id, value, observed, reported, _known_at(reported, received_at, backfill), source,
                   supersedes, provenance, received_at)


def _time_field(raw: dict[str, Any], name: str, errors: list[FieldError]) -> int | None:
    text = raw.get(name)
    if text is None:
        return None
    if not isinstance(text, str):
        errors.append(FieldError(name, "must be an RFC 3339 timestamp string"))
        return None
    try:
        return parse_timestamp(text)
    except ValueError as exc:
        errors.append(FieldError(name, str(exc)))
        return None


def _value_problem(value: Any, ind: Indicator, has_supersedes: bool) -> str | None:
    if value is None:
        return None if has_supersedes else "null is allowed only in a correction that withdraws a record (with supersedes)"
    if ind.kind == "boolean":
        return None if isinstance(value, bool) else f"{ind.id!r} is boolean: the value must be true or false, not {shown(value)}"
    if ind.kind == "integer" and not (isinstance(value, int) and not isinstance(value, bool)):
        return f"{ind.id!r} is an integer indicator: the value must be a JSON integer, not {shown(value)}"
    if not _is_number(value):
        return f"{ind.id!r} is a number indicator: the value must be a number, not {shown(value)}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} is not a finite number"
    if isinstance(value, int) and abs(value) > MAX_EXACT_INTEGER:
        hint = "" if ind.kind == "integer" else "; a measurement this large can be sent in exponent form (1.5e20)"
        return (f"{shown(value)} is outside -(2^53 - 1) to 2^53 - 1, the integers that evaluation "
                f"holds exactly{hint}")
    if ind.min is not None and value < ind.min:
        return f"{value!r} is below the indicator's minimum {ind.min}"
    if ind.max is not None and value > ind.max:
        return f"{value!r} is above the indicator's maximum {ind.max}"
    return None


@dataclass
class Ledger:
    """Accepted records in memory, in acceptance order: the file mode's store."""

    plan: LoadedPlan
    records: dict[str, Record] = field(default_factory=dict)
    corrected: set[str] = field(default_factory=set)

    def get(self, record_id: str) -> Record | None:
        return self.records.get(record_id)

    def is_corrected(self, record_id: str) -> bool:
        return record_id in self.corrected

    def add(self, raw: Any, *, line: int | None = None, received_at: int | None = None,
            backfill: bool = False) -> Outcome:
        result = check_record(raw, self.plan, self, line=line, received_at=received_at, backfill=backfill)
        if isinstance(result, Outcome):
            return result
        self.records[result.id] = result
        if result.supersedes is not None:
            self.corrected.add(result.supersedes)
        return stored_outcome(result.id, line)

    def add_lines(self, lines: Iterable[str], **kw: Any) -> Iterator[Outcome]:
        for n, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            raw = parse_line(text, n)
            yield raw if isinstance(raw, Outcome) else self.add(raw, line=n, **kw)


def parse_line(text: str | bytes, line: int | None) -> Any:
    """One JSON Lines line as a raw record, or the Outcome rejecting it: a line that is not
    UTF-8 or not strict JSON stops only itself (CONTRACT section 2)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Outcome("rejected", None, line, (FieldError(
                "$", f"the line is not UTF-8 text: {exc.reason} at byte {exc.start}"),))
    try:
        return loads_strict(text)
    except JsonFormatError as exc:
        return Outcome("rejected", None, line, (FieldError(exc.field, str(exc)),))


def read_jsonl(text: str, plan: LoadedPlan) -> tuple[Ledger, list[Outcome]]:
    """Take a JSON Lines file as `evaluate --evidence` does: a backfill keyed by reported_at."""
    ledger = Ledger(plan)
    outcomes = list(ledger.add_lines(text.splitlines()))
    return ledger, outcomes
