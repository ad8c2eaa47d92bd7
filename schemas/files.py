"""Access to the published JSON Schema files, resolved offline through a local registry."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import (  # type: ignore[import-untyped]
    Draft202012Validator,
    FormatChecker,
    ValidationError,
    validators,
)
from referencing import Registry, Resource

from .timefmt import parse_timestamp

HERE = Path(__file__).parent
NAMES = ("exit-plan.schema.json", "rule.schema.json", "evidence.schema.json", "plan-test.schema.json", "scenario.schema.json")


@cache
def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((HERE / name).read_text())
    return doc


@cache
def registry() -> Registry[Any]:
    resources = [(load(n)["$id"], Resource.from_contents(load(n))) for n in NAMES]
    return Registry().with_resources(resources)


@cache
def _ecma(pattern: str) -> re.Pattern[str]:
    # ECMA-262 `$` (the dialect JSON Schema patterns are written in) matches only at the very
    # end; Python's also matches before a final newline, which let "id\n" through.
    return re.compile(re.sub(r"(?<!\\)\$$", r"\\Z", pattern))


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    if isinstance(instance, str) and not _ecma(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _is_timestamp(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    try:
        parse_timestamp(instance)
    except ValueError:
        return False
    return True


# "date-time" is checked by the one parser the models use, so calendar errors a pattern cannot
# see (month 13, February 30, offset +24:00) are rejected here as well as there.
FORMATS = FormatChecker(formats=())
FORMATS.checks("date-time")(_is_timestamp)
_Validator = validators.extend(Draft202012Validator, {"pattern": _pattern})


@cache
def validator(name: str) -> Any:
    return _Validator(load(name), registry=registry(), format_checker=FORMATS)
