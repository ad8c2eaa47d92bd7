"""The readiness timeline over HTTP: `exitgate timeline --mission M --format json`, as JSON,
and the what-if of a newer plan version, `exitgate timeline --mission M --compare NEW --format
json`, for a version loaded for the mission (POST /v1/plans), named by its sha256.

Computed from the mission's stored evidence (every record, with its knowledge time: each step
sees what was known then), without waivers, exactly as the CLI does. Also the chart of one
gate as SVG, for the approver page (see api/ui.py).
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from rules.plan import LoadedPlan
from rules.series import EvidenceIndex
from schemas.timefmt import format_timestamp, parse_duration, parse_timestamp
from service import Refused, Service

from .deps import IdentityDep, PartsDep
from .gate_routes import _REFUSALS, GatePath, MissionPath, _may_read

__all__ = ["MAX_STEPS", "Range", "default_range", "gate_chart_svg", "parse_range", "router", "timeline_json",
           "whatif_json"]

router = APIRouter(tags=["timeline"])

MAX_STEPS = 5000  # a few years of daily steps; beyond, the answer is large and slow to build


def _invalid(field: str, value: Any, msg: str) -> RequestValidationError:
    """A 422 shaped like FastAPI's own: detail = [{loc: [query, field], msg, type, input}]."""
    return RequestValidationError([{"loc": ("query", field), "msg": msg, "type": "value_error", "input": value}])


@dataclass(frozen=True)
class Range:
    start: int
    end: int
    step: str
    step_us: int

    @property
    def steps(self) -> int:
        return (self.end - self.start) // self.step_us + 1


def parse_range(start: str, end: str, step: str) -> Range:
    """from / to / step from a query, or a 422 naming the field and the reason."""
    times: dict[str, int] = {}
    for field, text in (("from", start), ("to", end)):
        try:
            times[field] = parse_timestamp(text)
        except ValueError as exc:
            raise _invalid(field, text, f"{field}: {exc}") from None
    try:
        step_us = parse_duration(step)
    except ValueError as exc:
        raise _invalid("step", step, f"step: {exc}") from None
    if step_us <= 0:
        raise _invalid("step", step, "step: must be a positive duration")
    if times["to"] < times["from"]:
        raise _invalid("to", end, "to: must not be before from")
    r = Range(times["from"], times["to"], step, step_us)
    if r.steps > MAX_STEPS:
        raise _invalid("step", step, f"step: {step} from {start} to {end} gives {r.steps} steps; at most "
                                     f"{MAX_STEPS} are computed at once (use a longer step or a shorter range)")
    return r


async def mission_data(service: Service, mission: str) -> tuple[LoadedPlan, EvidenceIndex]:
    plan = await service.plan_for_mission(mission)
    if plan is None:
        raise HTTPException(404, f"unknown mission {mission!r}")
    return plan, await service.evidence_index(mission)


def timeline_json(plan: LoadedPlan, index: EvidenceIndex, r: Range, gates: list[str] | None) -> dict[str, Any]:
    """The document `exitgate timeline --mission M --format json` prints."""
    from reports.timeline_json import to_json
    from rules.timeline import timeline
    from rules.timeline_summary import summarize

    tl = timeline(plan, index, r.start, r.end, r.step_us, gates=gates)
    head = {"plan": plan.id, "plan_sha256": plan.sha256, "mission": plan.mission_id,
            "from": format_timestamp(r.start), "to": format_timestamp(r.end), "step": r.step,
            "evidence": {"accepted": index.count}}
    return to_json(tl, summarize(tl), head)


@router.get("/v1/missions/{mission}/timeline", responses={
    **{k: v for k, v in _REFUSALS.items() if k in (401, 403, 404)},
    422: {"description": "a bad from, to, step or gate, named in detail[].loc with the reason"}})
async def mission_timeline(
    mission: MissionPath, p: PartsDep, ident: IdentityDep,
    start: Annotated[str, Query(alias="from", description="first instant (RFC 3339)")],
    end: Annotated[str, Query(alias="to", description="last instant (RFC 3339), included when on a step")],
    step: Annotated[str, Query(description="ISO 8601 duration between instants (weeks, days, hours, minutes)")] = "P1D",
    gate: Annotated[list[str] | None, Query(description="only these gates (repeatable)")] = None,
) -> dict[str, Any]:
    """Backtest the mission's plan: each gate's and benchmark's status at every step, as
    `evaluate` would have said with what was known then, and a summary per gate."""
    _may_read(ident, mission)
    r = parse_range(start, end, step)
    plan, index = await mission_data(p.service, mission)
    for g in gate or []:
        if g not in plan.gates:
            raise _invalid("gate", g, f"gate: unknown gate {g!r} (the plan has {', '.join(plan.gates)})")
    # CPU-bound (tens of milliseconds to a few seconds): off the event loop.
    return await asyncio.to_thread(timeline_json, plan, index, r, gate or None)


def whatif_json(old: LoadedPlan, new: LoadedPlan, index: EvidenceIndex, r: Range,
                gates: list[str] | None) -> dict[str, Any]:
    """The document `exitgate timeline --mission M --compare NEW --format json` prints."""
    from reports.timeline_json import whatif_to_json
    from rules.whatif import what_if

    result = what_if(old, index, new, index, r.start, r.end, r.step_us, gates=gates)
    return whatif_to_json(result, old, new, r.start, r.end, r.step)


_SHA256 = re.compile(r"[0-9a-f]{64}")


@router.get("/v1/missions/{mission}/timeline/compare", responses={
    **{k: v for k, v in _REFUSALS.items() if k in (401, 403, 404)},
    422: {"description": "a bad compare, from, to, step or gate, named in detail[].loc with the reason"}})
async def mission_timeline_compare(
    mission: MissionPath, p: PartsDep, ident: IdentityDep,
    compare: Annotated[str, Query(description="sha256 of the new plan version, loaded for this mission")],
    start: Annotated[str, Query(alias="from", description="first instant (RFC 3339)")],
    end: Annotated[str, Query(alias="to", description="last instant (RFC 3339), included when on a step")],
    step: Annotated[str, Query(description="ISO 8601 duration between instants (weeks, days, hours, minutes)")] = "P1D",
    gate: Annotated[list[str] | None, Query(description="only these gates (repeatable)")] = None,
) -> dict[str, Any]:
    """What-if: the mission's history under its plan and under a newer version. Per gate, the
    first instant it passes under each, the days gained (positive) or lost, and the benchmarks
    responsible (docs/plans.md)."""
    _may_read(ident, mission)
    if not _SHA256.fullmatch(compare):
        raise _invalid("compare", compare[:80], "compare: the sha256 of a loaded plan, 64 lowercase hex digits")
    r = parse_range(start, end, step)
    plan, index = await mission_data(p.service, mission)
    try:
        new = await p.service.loaded_plan(mission, compare)
    except Refused as exc:
        if exc.type != "WrongMission":
            raise
        raise _invalid("compare", compare, f"compare: {exc.message}") from None
    for g in gate or []:
        if g not in plan.gates and g not in new.gates:
            raise _invalid("gate", g, f"gate: unknown gate {g!r} (the plans have "
                                      f"{', '.join({**plan.gates, **new.gates})})")
    return await asyncio.to_thread(whatif_json, plan, new, index, r, gate or None)


DAY_STEPS = 400  # up to this many days: daily steps; longer ranges step by weeks or more


def default_range(index: EvidenceIndex, now: int) -> Range:
    """From the mission's first observation (or 30 days back, with none) to now: daily steps
    for up to DAY_STEPS days, else whole weeks, at most DAY_STEPS steps, so the page stays fast."""
    from schemas.timefmt import DAY, WEEK

    firsts = [int(s.obs[0]) for s in index.series.values() if len(s.obs)]
    start = min(firsts) if firsts else now - 30 * DAY
    start = min(start, now)
    span = now - start
    if span <= DAY_STEPS * DAY:
        return Range(start, now, "P1D", DAY)
    weeks = -(-span // (DAY_STEPS * WEEK))  # ceil
    return Range(start, now, f"P{weeks}W", weeks * WEEK)


def gate_chart_svg(plan: LoadedPlan, index: EvidenceIndex, gate: str, r: Range) -> bytes:
    from reports.timeline_chart import render, svg_bytes
    from rules.timeline import timeline
    from rules.timeline_summary import summarize
    from schemas.timefmt import format_date

    tl = timeline(plan, index, r.start, r.end, r.step_us, gates=[gate])
    title = f"{gate}: readiness {format_date(r.start)} to {format_date(r.end)}, every {r.step}"
    return svg_bytes(render(tl, summarize(tl), title, r.step_us))


@router.get("/ui/missions/{mission}/gates/{gate}/timeline.svg", include_in_schema=False)
async def gate_chart(request: Request, mission: MissionPath, gate: GatePath,
                     start: Annotated[str | None, Query(alias="from")] = None,
                     end: Annotated[str | None, Query(alias="to")] = None,
                     step: Annotated[str | None, Query()] = None) -> Response:
    """The approver page's chart of one gate (gate.html shows it as an <img>), for the
    signed-in approver; by default from the mission's first evidence to now."""
    from .deps import parts
    from .ui import _session

    p = parts(request)
    if _session(request, p) is None:
        return Response("sign in at /ui/login", status_code=401, media_type="text/plain")
    plan, index = await mission_data(p.service, mission)
    if gate not in plan.gates:
        raise HTTPException(404, f"unknown gate {gate!r} in mission {mission!r}")
    if start is None and end is None and step is None:
        r = default_range(index, time.time_ns() // 1000)
    else:
        now = format_timestamp(time.time_ns() // 1000)
        r = parse_range(start or now, end or now, step or "P1D")
    svg = await asyncio.to_thread(gate_chart_svg, plan, index, gate, r)
    # Private: it shows the mission's state; short-lived so the page shows fresh evidence.
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=60"})
