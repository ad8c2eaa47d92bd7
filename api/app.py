"""The FastAPI application: evidence ingestion, gates, approvals, the approver page, metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from . import evidence_routes, gate_routes, mission_routes, timeline_routes, ui
from .bodies import validation_error_response
from .deps import Parts
from .keys import Keys
from .middleware import BodyLimit, Metrics, RequestMetrics
from .ports import AuditPort, EvidencePort, GatesPort
from .settings import ApiSettings

__all__ = ["create_app"]


def create_app(settings: ApiSettings, evidence_port: EvidencePort, gates_port: GatesPort,
               keys: Keys, audit: AuditPort) -> FastAPI:
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        # Ports that hold connections (a store engine, a Temporal client) close with the app.
        for port in {id(x): x for x in (evidence_port, gates_port, audit)}.values():
            close = getattr(port, "aclose", None)
            if close is not None:
                await close()

    app = FastAPIOffline(
        title="exitgate",
        version="0.1.0",
        summary="Exit-readiness gates for peacekeeping missions: evidence in, evaluations and approvals out.",
        lifespan=lifespan,
    )
    # Set here rather than in the lifespan so ASGI test transports that skip it still work.
    app.state.parts = Parts(settings, evidence_port, gates_port, audit, keys, metrics)
    app.include_router(evidence_routes.router)
    app.include_router(gate_routes.router)
    app.include_router(mission_routes.router)
    app.include_router(timeline_routes.router)
    app.include_router(ui.router)
    app.mount("/ui/static", StaticFiles(directory=Path(__file__).parent / "static"), name="ui-static")

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    async def root(request: Request) -> Response:
        return RedirectResponse("/ui/", status_code=307)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_exception_handler(RequestValidationError, validation_error_response)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=metrics)
    _document_evidence_record(app)
    return app


def _document_evidence_record(app: FastAPI) -> None:
    """The evidence body is read raw (so one bad record cannot fail the batch); publish the
    record's schema under components so the docs and schemathesis know its shape."""
    from schemas.models import EvidenceRecord

    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = original()
        schema = EvidenceRecord.model_json_schema(ref_template="#/components/schemas/{model}")
        comps = spec.setdefault("components", {}).setdefault("schemas", {})
        comps.update(schema.pop("$defs", {}))
        comps["EvidenceRecord"] = schema
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
