"""Write the published JSON Schema files from the pydantic models (the source of truth).

    python -m schemas.generate          # rewrite the files
    python -m schemas.generate --check  # exit 1 if a file is out of date (used by the tests)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from .models import EvidenceRecord, ExitPlan, Node
from .plantest import PlanTestFile
from .scenario import ScenarioFile

HERE = Path(__file__).parent
BASE = "https://exitgate.invalid/schemas/"  # an identifier, never fetched: refs resolve locally
DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _schema(name: str, title: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"$schema": DRAFT, "$id": BASE + name, "title": title, **{k: v for k, v in body.items() if k != "title"}}


def schemas() -> dict[str, dict[str, Any]]:
    return {
        "exit-plan.schema.json": _schema(
            "exit-plan.schema.json", "exitgate exit plan", ExitPlan.model_json_schema(by_alias=True)
        ),
        "rule.schema.json": _schema(
            "rule.schema.json", "exitgate rule node", TypeAdapter(Node).json_schema(by_alias=True)
        ),
        "evidence.schema.json": _schema(
            "evidence.schema.json", "exitgate evidence record", EvidenceRecord.model_json_schema(by_alias=True)
        ),
        "plan-test.schema.json": _schema(
            "plan-test.schema.json", "exitgate plan test file", PlanTestFile.model_json_schema(by_alias=True)
        ),
        "scenario.schema.json": _schema(
            "scenario.schema.json", "exitgate rehearsal scenario", ScenarioFile.model_json_schema(by_alias=True)
        ),
    }


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    stale = []
    for name, doc in schemas().items():
        path = HERE / name
        text = render(doc)
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print("out of date (run python -m schemas.generate):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
