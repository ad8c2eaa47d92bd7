"""`POST /rehearsals`: a scenario with its files inline in, the transcript out (CONTRACT
section 6). Each rehearsal runs on a time-skipping test server of its own, with a store of its
own in a temporary folder: never on the deployment's Temporal, never in its store.

Body: `{"scenario": {...}, "files": {"plan.json": <text or JSON document>, "evidence.jsonl":
<text>}}`, the scenario naming its files as it would on disk. A refused scenario is a 422
listing every problem by JSON path; one rehearsal runs at a time per API process (each starts
a server and a worker), so a second waits its turn.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from rehearsal import RehearsalFailed, ScenarioError, load_scenario_doc, rehearse

from .deps import IdentityDep

__all__ = ["RehearsalRequest", "router"]

router = APIRouter(tags=["rehearsal"])
_ONE_AT_A_TIME = asyncio.Semaphore(1)


class RehearsalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenario: dict[str, Any] = Field(description="The scenario document (schemas/scenario.schema.json).")
    files: dict[str, str | dict[str, Any] | list[Any]] = Field(
        default={}, description="The files the scenario names: text, or a JSON document.")


@router.post("/rehearsals", summary="Rehearse an exit on a simulated clock and return the transcript")
async def post_rehearsal(body: RehearsalRequest, ident: IdentityDep) -> JSONResponse:
    files = {name: text if isinstance(text, str) else json.dumps(text) for name, text in body.files.items()}
    try:
        scn = load_scenario_doc(body.scenario, Path(tempfile.gettempdir()), files)
    except ScenarioError as exc:
        return JSONResponse({"detail": [{"loc": ["body", "scenario"], "path": p.path, "msg": p.message,
                                         "type": "scenario_problem"} for p in exc.problems]}, status_code=422)
    async with _ONE_AT_A_TIME:
        try:
            transcript = await rehearse(scn)
        except RehearsalFailed as exc:
            return JSONResponse({"type": "RehearsalFailed", "detail": str(exc)}, status_code=500)
    return JSONResponse(transcript)
