"""A mission's overview: the phases as their dependency graph with traffic lights, every gate's
state, votes, waivers, wait and escalation, the role holders, the latest audit entries and each
indicator's freshness. For anyone holding one of the mission's roles."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from service import Refused
from service.reads import MissionOverview, PhaseNode

from ..errors import refusal_status
from .auth import Signed, signed_in
from .common import templates

__all__ = ["Graph", "graph", "router"]

router = APIRouter(prefix="/ui", include_in_schema=False)

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 190, 58, 50, 22, 12


@dataclass
class Box:
    phase: PhaseNode
    x: int
    y: int


@dataclass
class Edge:
    x1: int
    y1: int
    x2: int
    y2: int
    done: bool  # the phase it leaves from is complete


@dataclass
class Graph:
    boxes: list[Box]
    edges: list[Edge]
    width: int
    height: int


def graph(phases: list[PhaseNode]) -> Graph:
    """Columns by dependency depth, rows in plan order: drawn as SVG by the template."""
    rows: dict[int, int] = {}
    boxes: dict[str, Box] = {}
    for ph in phases:
        row = rows.get(ph.depth, 0)
        rows[ph.depth] = row + 1
        boxes[ph.phase] = Box(ph, PAD + ph.depth * (NODE_W + GAP_X), PAD + row * (NODE_H + GAP_Y))
    edges = [Edge(boxes[d].x + NODE_W, boxes[d].y + NODE_H // 2, b.x, b.y + NODE_H // 2,
                  boxes[d].phase.state == "complete")
             for b in boxes.values() for d in b.phase.depends_on if d in boxes]
    width = max((b.x for b in boxes.values()), default=0) + NODE_W + PAD
    height = max((b.y for b in boxes.values()), default=0) + NODE_H + PAD
    return Graph(list(boxes.values()), edges, width, height)


@router.get("/missions/{mission}", response_class=HTMLResponse)
async def overview_page(request: Request, mission: str) -> Response:
    s = signed_in(request)
    if not isinstance(s, Signed):
        return s
    try:
        ov: MissionOverview = await s.reads.overview(mission, s.ident.caller)
    except Refused as exc:
        return templates.TemplateResponse(request, "problem.html", s.context(error=exc.message),
                                          status_code=refusal_status(exc))
    if not ov.my_roles:
        return templates.TemplateResponse(request, "problem.html", s.context(
            error=f"{s.ident.name} holds none of mission {mission!r}'s roles ({', '.join(sorted(ov.roles))})"),
            status_code=403)
    return templates.TemplateResponse(request, "overview.html", s.context(
        ov=ov, g=graph(ov.phases), node_w=NODE_W, node_h=NODE_H, my_roles=sorted(ov.my_roles)))

