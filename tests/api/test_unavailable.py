"""With no worker answering, reading a mission or a gate answers 503 naming what did not
answer, within a few seconds (issue 11, item 7), not a 500 after half a minute."""

from __future__ import annotations

import copy
import time
import uuid
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.settings import ApiSettings
from rules.plan import load_plan
from schemas.ids import mission_workflow_id, phase_workflow_id
from schemas.messages import MissionInput, PhaseInput
from service import Caller, Service
from service.keys import KeyRegistry
from store import Store
from store.spec import plan_spec

from .conftest import PLAN, forget_workflows


async def test_reads_answer_503_at_once_when_no_worker_answers(temporal: WorkflowEnvironment, tmp_path: Path) -> None:
    plan_doc = copy.deepcopy(PLAN)
    mission = f"nobody-{uuid.uuid4().hex[:8]}"
    plan_doc["mission"]["id"] = mission
    plan = load_plan(plan_doc)
    store = Store.from_url(f"sqlite:///{tmp_path / 'store.sqlite'}")
    service = Service(store, temporal.client, f"no-worker-{uuid.uuid4()}")
    reg = KeyRegistry()
    key = reg.create_person("alice")[0]
    app = create_app(ApiSettings(data_dir=tmp_path), service, reg)
    try:
        await service.load_plan(plan, Caller("dave", operator=True))
        # The exit started, but no worker polls its task queue (stopped, or never started).
        await temporal.client.start_workflow(
            "Mission", MissionInput(plan_sha256=plan.sha256, person="dave", role="coordinator"),
            id=mission_workflow_id(mission), task_queue=service.task_queue)
        spec = plan_spec(plan).phases[0]
        await temporal.client.start_workflow(
            "Phase", PhaseInput(mission=mission, plan_sha256=plan.sha256, phase=spec, started_by="dave"),
            id=phase_workflow_id(mission, "p1"), task_queue=service.task_queue)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            for path in (f"/v1/missions/{mission}/status", f"/v1/missions/{mission}/gates/g1"):
                t = time.monotonic()
                r = await client.get(path, headers={"Authorization": f"Bearer {key}"})
                took = time.monotonic() - t
                assert r.status_code == 503, (path, r.status_code, r.text)
                body = r.json()
                assert body["type"] == "Unavailable" and "exitgate/" in body["detail"], body
                assert "worker" in body["detail"] and r.headers["retry-after"] == "5"
                assert took < 20, f"{path} took {took:.1f} s"
    finally:
        await forget_workflows(temporal.client, plan_doc, timeout_s=30)
        store.close()
