"""A worker process for the integration tests, killed with -9 and restarted by them.

Until the store is wired in, its backend lives in files the test writes: the plan and an
evidence JSON Lines file re-read on every evaluation; audit and notifications are appended to
JSON Lines files, so several worker processes in turn share one history of side effects.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities import MemoryBackend
from rules.plan import load_plan_file
from rules.series import EvidenceIndex
from worker import build_worker


class FileBackend(MemoryBackend):
    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder
        for p in sorted(folder.glob("plan*.json")):
            self.add_plan(load_plan_file(p))

    def evidence_index(self, mission: str, as_of: int, indicators: frozenset[str]) -> EvidenceIndex:
        plan = next(p for p in self.plans.values() if p.mission_id == mission)
        backend = MemoryBackend()
        backend.add_plan(plan)
        for line in (self.folder / "evidence.jsonl").read_text().splitlines():
            if line.strip():
                backend.add_evidence(mission, json.loads(line))
        return backend.evidence_index(mission, as_of, indicators)

    def _append(self, name: str, row: dict[str, Any]) -> None:
        with (self.folder / name).open("a") as f:
            f.write(json.dumps(row) + "\n")

    def audit_append(self, kind: str, payload: dict[str, Any], actor: str) -> None:
        self._append("audit.jsonl", {"kind": kind, "actor": actor, "payload": payload})

    def notify(self, kind: str, mission: str, phase: str, gate: str, message: str,
               payload: dict[str, Any]) -> None:
        self._append("notifications.jsonl", {"kind": kind, "gate": gate, "message": message})


async def main(address: str, queue: str, folder: str) -> None:
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    worker = build_worker(client, FileBackend(Path(folder)), queue)
    print("worker ready", flush=True)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
