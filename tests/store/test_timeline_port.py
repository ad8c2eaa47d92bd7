"""The production evidence port's evidence_index (what GET /v1/missions/{m}/timeline reads)
gives, on both databases, the timeline that file mode gives on the sample."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from api.timeline_routes import parse_range, timeline_json
from rules.evidence import read_jsonl
from rules.plan import LoadedPlan
from rules.series import EvidenceIndex
from service import Refused, Service
from store import Store


def test_store_port_timeline_equals_file_mode(store: Store, sample_plan: LoadedPlan, sample_lines: list[str],
                                             sample_dir: Path) -> None:
    store.register_mission(sample_plan, "test")
    port = Service(store, None)  # type: ignore[arg-type]  # store only: no Temporal to tell
    raws = []
    for line in sample_lines:
        try:
            raws.append(json.loads(line))
        except ValueError:
            raws.append(line)

    async def run() -> EvidenceIndex:
        await port.ingest(sample_plan.mission_id, raws, actor="system:test", backfill=True)
        with pytest.raises(Refused):
            await port.evidence_index("atlantis")
        return await port.evidence_index(sample_plan.mission_id)

    index = asyncio.run(run())
    ledger, _ = read_jsonl((sample_dir / "evidence.jsonl").read_text(), sample_plan)
    r = parse_range("2023-06-01T00:00:00Z", "2025-06-01T00:00:00Z", "P1W")
    got = timeline_json(sample_plan, index, r, None)
    want = timeline_json(sample_plan, EvidenceIndex(ledger.records.values()), r, None)
    assert got == want and got["evidence"] == {"accepted": 295}
