"""The FastAPI application: evidence ingestion, gates, approvals, the approver page, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from temporalio.service import RPCError

from runtime import TemporalSettings
from runtime.tracing import instrument_app, setup_tracing
from service import Refused, Service, Unavailable
from service.keys import Keys

from . import (
    evidence_routes,
    gate_routes,
    mission_routes,
    rehearsal_routes,
    role_routes,
    timeline_routes,
    ui,
)
from .bodies import validation_error_response
from .deps import Parts
from .errors import refused_response, unavailable_response
from .middleware import BodyLimit, Metrics, RequestMetrics
from .pages.router import router as pages_router
from .settings import ApiSettings

__all__ = ["create_app", "from_environment"]

def create_app(settings: ApiSettings, service: Service, keys: Keys) -> FastAPI:
    """The app over a service that is already connected (closed with the app)."""
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await service.aclose()

    app = _build(settings, metrics, lifespan)
    # Set here rather than in the lifespan so ASGI test transports that skip it still work.
    app.state.parts = Parts(settings, service, keys, metrics)
    return app


def from_environment() -> FastAPI:
    """`exitgate api`'s app (a uvicorn factory): settings, Temporal and the store from the
    environment, connected when the server starts."""
    settings = ApiSettings()
    metrics = Metrics()
    setup_tracing("exitgate-api")  # before Service.connect: its client carries the interceptor

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        patience = TemporalSettings().connect_patience_s
        try:
            # Patient: an API started while its Temporal restarts waits for it (docs/chaos.md).
            service = await asyncio.wait_for(Service.connect(patient=True), timeout=patience + 30)
        except (OSError, RuntimeError, TimeoutError, RPCError) as exc:
            raise RuntimeError(f"cannot reach Temporal ({exc}); check EXITGATE_TEMPORAL_ADDRESS") from None
        app.state.parts = Parts(settings, service, settings.key_registry(service.store), metrics)
        try:
            yield
        finally:
            await service.aclose()

    return _build(settings, metrics, lifespan)


def _build(settings: ApiSettings, metrics: Metrics,
           lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]]) -> FastAPI:
    app = FastAPIOffline(
        title="exitgate",
        version="0.1.0",
        summary="Exit-readiness gates for peacekeeping missions: evidence in, evaluations and approvals out.",
        lifespan=lifespan,
    )
    instrument_app(app)  # a span per request, when tracing is on (runtime/tracing.py)
    app.add_exception_handler(Refused, refused_response)
    app.add_exception_handler(Unavailable, unavailable_response)
    app.include_router(evidence_routes.router)
    app.include_router(gate_routes.router)
    app.include_router(mission_routes.router)
    app.include_router(role_routes.router)
    app.include_router(timeline_routes.router)
    app.include_router(rehearsal_routes.router)
    app.include_router(ui.router)
    app.include_router(pages_router)
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
