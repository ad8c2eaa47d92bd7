"""POST /v1/missions/{mission}/evidence: one record, a JSON array, or JSON Lines."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError

from rules.evidence import FieldError, Outcome, is_evidence_id, parse_line
from schemas.jsonfmt import JsonFormatError, loads_strict, printable, shown
from schemas.models import ID_PATTERN
from service.keys import Identity

from .deps import IdentityDep, Parts, PartsDep
from .models import FieldProblem, IngestResult, RecordResult

router = APIRouter(tags=["evidence"])

MissionPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]
NDJSON = ("application/x-ndjson", "application/jsonl", "application/json-lines", "application/x-jsonlines")

_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "One evidence record, a JSON array of them, or JSON Lines "
                       "(Content-Type: application/x-ndjson). Records are taken in order.",
        "content": {
            "application/json": {"schema": {"oneOf": [
                {"$ref": "#/components/schemas/EvidenceRecord"},
                {"type": "array", "items": {"$ref": "#/components/schemas/EvidenceRecord"}},
            ]}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    },
}


def _body_error(msg: str, kind: str = "json_invalid") -> RequestValidationError:
    return RequestValidationError([{"loc": ("body",), "msg": msg, "type": kind}])


def _parse(body: bytes, content_type: str) -> list[tuple[Any, int | None, int | None, Outcome | None]]:
    """(raw, line, index, parse failure) per record, in order."""
    if content_type in NDJSON:
        # Split before decoding: a line that is not UTF-8 is one bad record, not a bad body.
        out: list[tuple[Any, int | None, int | None, Outcome | None]] = []
        for n, line in enumerate(body.split(b"\n"), start=1):
            if not line.strip():
                continue
            raw = parse_line(line, n)
            out.append((None, n, None, raw) if isinstance(raw, Outcome) else (raw, n, None, None))
        return out
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _body_error(f"the body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    if content_type not in ("application/json", ""):
        raise HTTPException(415, f"unsupported Content-Type {content_type!r}: send application/json "
                                 "(one record or an array) or application/x-ndjson (JSON Lines)")
    if not text.strip():
        raise _body_error("the body is empty: send a record, an array of records or JSON Lines", "missing")
    try:
        doc = loads_strict(text)
    except JsonFormatError as exc:
        raise _body_error(f"the body is not JSON: {exc}") from None
    if isinstance(doc, list):
        return [(raw, None, i, None) for i, raw in enumerate(doc)]
    return [(doc, None, None, None)]


def _unauthorised_source(ident: Identity, raw: Any) -> FieldError | None:
    if ident.kind != "system" or not isinstance(raw, dict):
        return None
    src = raw.get("source")
    if isinstance(src, str) and src not in ident.sources:
        return FieldError("source", f"the API key of system {ident.name!r} may not submit evidence "
                                    f"from source {shown(src)} (allowed: {', '.join(sorted(ident.sources))})")
    return None


async def _authorise(p: Parts, ident: Identity, mission: str, backfill: bool) -> None:
    if ident.kind == "system":
        if backfill:
            raise HTTPException(403, "only a coordinator may backfill evidence")
        if mission not in ident.missions:
            await p.service.audit("evidence.refused", {"mission": mission, "reason": "mission not allowed"},
                                 ident.actor)
            raise HTTPException(403, f"the API key of system {ident.name!r} may not submit evidence "
                                     f"for mission {mission!r}")
        return
    plan = await p.service.plan_for_mission(mission)
    if plan is None:
        return  # an unknown mission: the service answers 404
    coordinators = plan.model.coordinators
    if not await p.service.roles.may_act_as(mission, ident.name, coordinators, kind="coordinate"):
        raise HTTPException(403, f"{ident.name} holds none of the coordinator roles "
                                 f"({', '.join(sorted(coordinators))}) needed to submit evidence")


@router.post("/v1/missions/{mission}/evidence", response_model=IngestResult, openapi_extra=_BODY_DOC,
             responses={401: {"description": "no or invalid API key"},
                        403: {"description": "the key may not submit for this mission"},
                        404: {"description": "unknown mission"},
                        413: {"description": "body over the size limit"},
                        415: {"description": "unsupported Content-Type"}})
async def submit_evidence(mission: MissionPath, request: Request, p: PartsDep, ident: IdentityDep,
                          backfill: Annotated[bool, Query(description="keep reported_at as knowledge "
                                                          "time (coordinators only; audited)")] = False,
                          ) -> IngestResult:
    """Submit evidence. Every record gets a result: stored, duplicate, or rejected with the field
    and the reason; a bad record never stops the good ones (CONTRACT section 2)."""
    await _authorise(p, ident, mission, backfill)
    if await p.service.plan_for_mission(mission) is None:
        raise HTTPException(404, f"unknown mission {mission!r}")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    parsed = _parse(await request.body(), content_type)

    results: list[Outcome | None] = []
    to_ingest: list[Any] = []
    refused: list[dict[str, Any]] = []
    for raw, line, _index, failure in parsed:
        problem = _unauthorised_source(ident, raw) if failure is None else None
        if failure is not None:
            results.append(failure)
        elif problem is not None:
            rid = raw.get("id") if is_evidence_id(raw.get("id")) else None
            results.append(Outcome("rejected", rid, line, (problem,)))
            # The audit entry is hashed as UTF-8: a lone surrogate goes in escaped, a long one cut.
            refused.append({"id": rid, "source": printable(str(raw.get("source"))[:200])})
        else:
            results.append(None)
            to_ingest.append(raw)
    if refused:
        await p.service.audit("evidence.unauthorised", {"mission": mission, "records": refused}, ident.actor)
    outcomes = iter(await p.service.ingest(mission, to_ingest, actor=ident.actor, backfill=backfill)
                    if to_ingest else [])

    out: list[RecordResult] = []
    counts = {"stored": 0, "duplicate": 0, "rejected": 0}
    for (_, line, index, _), done in zip(parsed, results, strict=True):
        o = done if done is not None else replace(next(outcomes), line=line)
        counts[o.status] += 1
        out.append(RecordResult(status=o.status, id=o.id, line=o.line, index=index,
                                errors=[FieldProblem(field=e.field, reason=e.reason) for e in o.errors]))
    for status, n in counts.items():
        if n:
            p.metrics.evidence.labels(status).inc(n)
    return IngestResult(mission=mission, results=out, **counts)
