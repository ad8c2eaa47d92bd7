"""A gate's decision dossier, now, at an instant or as of one approval: a printable page, the
same page as a PDF (Chromium's print to PDF, the browser the deployment already ships), and
the audit excerpt as JSON Lines. The PDF carries the excerpt armored (base64 between markers)
so scripts/verify_audit_excerpt.py can check it from the PDF's text alone."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from schemas.timefmt import parse_timestamp
from service import Refused, Unavailable
from service.dossier import Dossier, build_dossier, excerpt_lines

from .auth import Signed, signed_in
from .common import render, templates

__all__ = ["armor", "pdf_of", "router"]

router = APIRouter(prefix="/ui", include_in_schema=False)

CSS = Path(__file__).resolve().parents[1] / "static" / "ui.css"
BEGIN, END = "-----BEGIN EXITGATE AUDIT EXCERPT-----", "-----END EXITGATE AUDIT EXCERPT-----"


def armor(d: Dossier) -> str:
    lines = "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in excerpt_lines(d))
    b64 = base64.b64encode(lines.encode("utf-8")).decode("ascii")
    body = "\n".join(b64[i:i + 76] for i in range(0, len(b64), 76))
    return f"{BEGIN}\nHead-Seq: {d.head[0]}\nHead-Hash: {d.head[1]}\n\n{body}\n{END}"


async def _load(request: Request, mission: str, gate: str, upto: int | None,
                at: str | None) -> tuple[Signed, Dossier] | Response:
    s = signed_in(request)
    if not isinstance(s, Signed):
        return s
    try:
        plan = await s.reads.plan(mission)
    except Refused as exc:
        return templates.TemplateResponse(request, "problem.html", s.context(error=exc.message), status_code=404)
    if not await asyncio.to_thread(s.reads.roles_in, s.ident.caller, plan):
        return templates.TemplateResponse(request, "problem.html", s.context(
            error=f"{s.ident.name} holds none of mission {mission!r}'s roles"), status_code=403)
    instant = None
    if at:
        try:
            instant = parse_timestamp(at)
        except ValueError as exc:
            return templates.TemplateResponse(request, "problem.html", s.context(error=f"at: {exc}"),
                                              status_code=422)
    try:
        d = await build_dossier(s.reads, mission, gate, upto, instant)
    except KeyError:
        return templates.TemplateResponse(request, "problem.html", s.context(
            error=f"mission {mission!r} has no gate {gate!r}"), status_code=404)
    return s, d


def _context(s: Signed, d: Dossier, printing: bool) -> dict[str, Any]:
    return s.context(d=d, armor=armor(d), printing=printing, css=CSS.read_text() if printing else None)


@router.get("/missions/{mission}/gates/{gate}/dossier", response_class=HTMLResponse)
async def dossier_page(request: Request, mission: str, gate: str, upto: int | None = None,
                       at: str | None = None) -> Response:
    found = await _load(request, mission, gate, upto, at)
    if isinstance(found, Response):
        return found
    s, d = found
    return templates.TemplateResponse(request, "dossier.html", _context(s, d, printing=False))


@router.get("/missions/{mission}/gates/{gate}/dossier.pdf")
async def dossier_pdf(request: Request, mission: str, gate: str, upto: int | None = None,
                      at: str | None = None) -> Response:
    found = await _load(request, mission, gate, upto, at)
    if isinstance(found, Response):
        return found
    s, d = found
    ctx = _context(s, d, printing=True)
    html = render(request, "dossier.html", ctx)
    pdf = await pdf_of(html)
    name = f"dossier-{mission}-{gate}-{d.upto}.pdf"
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private, no-store"})


@router.get("/missions/{mission}/gates/{gate}/dossier/audit.jsonl")
async def dossier_excerpt(request: Request, mission: str, gate: str, upto: int | None = None,
                          at: str | None = None) -> Response:
    found = await _load(request, mission, gate, upto, at)
    if isinstance(found, Response):
        return found
    _, d = found
    body = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in excerpt_lines(d))
    return Response(body, media_type="application/jsonl", headers={
        "Content-Disposition": f'attachment; filename="audit-{mission}-{gate}-{d.upto}.jsonl"'})


async def pdf_of(html: str) -> bytes:
    """Print a self-contained page (styles inline, no scripts, nothing fetched) to PDF."""
    from playwright.async_api import async_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise Unavailable("no chromium on this server: the dossier's PDF cannot be printed (its page can)")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            context = await browser.new_context(java_script_enabled=False, offline=True)
            page = await context.new_page()
            await page.set_content(html, wait_until="load")
            return await page.pdf(format="A4", print_background=True,
                                  margin={"top": "14mm", "bottom": "14mm", "left": "12mm", "right": "12mm"})
        finally:
            await browser.close()
