"""Access to the published JSON Schema files, resolved offline through a local registry."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource

HERE = Path(__file__).parent
NAMES = ("exit-plan.schema.json", "rule.schema.json", "evidence.schema.json")


@cache
def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((HERE / name).read_text())
    return doc


@cache
def registry() -> Registry[Any]:
    resources = [(load(n)["$id"], Resource.from_contents(load(n))) for n in NAMES]
    return Registry().with_resources(resources)


@cache
def validator(name: str) -> Any:
    return Draft202012Validator(load(name), registry=registry())
