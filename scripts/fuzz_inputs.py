"""What the fuzz run sends (scripts/fuzz.py): examples drawn from the published JSON Schemas by
hypothesis-jsonschema, and hand-made hostile values, as JSON texts written by hand so that
they can hold what a JSON encoder refuses to write (NaN, lone surrogates, repeated keys).

Everything here is deterministic: hypothesis draws derandomised, the rest from a seeded
`random.Random`.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings

ROOT = Path(__file__).resolve().parent.parent

# --- drawing from a JSON Schema -------------------------------------------------------------


def _legacy_many() -> None:
    """hypothesis-jsonschema 0.23.1 drives `many` with `.more()`, which Hypothesis 6.170 no
    longer has (it iterates instead): give it the old interface over the new one."""
    import hypothesis_jsonschema._from_schema as fs
    from hypothesis.internal.conjecture import utils as cu

    names = vars(fs)  # its module globals: where it finds `cu`
    if hasattr(cu.many, "more") or getattr(names["cu"], "_exitgate_shim", False):
        return

    class Many:
        def __init__(self, data: Any, **kw: Any):
            self._m = cu.many(data, **kw)
            self._m.__enter__()
            self._it = iter(self._m)

        def more(self) -> bool:
            if next(self._it, StopIteration) is StopIteration:
                self._m.__exit__(None, None, None)
                return False
            return True

        def reject(self, why: str | None = None) -> None:
            self._m.reject(why)

    class Shim:
        _exitgate_shim = True
        many = Many

    names["cu"] = Shim


def inline(schema: Any, defs: dict[str, Any], depth: int = 3, stack: tuple[str, ...] = ()) -> Any:
    """The schema with its local $refs replaced by what they name, recursion cut after
    `depth` levels (a oneOf/anyOf drops the branches that would go deeper), and the
    keywords hypothesis-jsonschema does not know removed. None: nothing left to draw."""
    if isinstance(schema, list):
        return [inline(s, defs, depth, stack) for s in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if stack.count(name) >= depth:
            return None
        return inline(defs[name], defs, depth, (*stack, name))
    out: dict[str, Any] = {}
    for k, v in schema.items():
        if k in ("$schema", "$id", "$defs", "components", "title", "description", "examples") or k.startswith("x-"):
            continue
        if k in ("oneOf", "anyOf"):
            kept = [s for s in (inline(x, defs, depth, stack) for x in v) if s is not None]
            if not kept:
                return None
            out[k] = kept
        elif k == "properties":
            props = {p: inline(s, defs, depth, stack) for p, s in v.items()}
            if any(s is None and p in schema.get("required", []) for p, s in props.items()):
                return None
            out[k] = {p: s for p, s in props.items() if s is not None}
        else:
            got = inline(v, defs, depth, stack)
            if got is None and isinstance(v, dict):
                return None
            out[k] = got
    return out


def draw_examples(schema: dict[str, Any], n: int, seed: int) -> list[Any]:
    """n examples of the schema (fewer if it has fewer), the same ones for the same seed."""
    from hypothesis import seed as with_seed
    from hypothesis_jsonschema import from_schema

    _legacy_many()
    out: list[Any] = []

    @with_seed(seed)
    @settings(max_examples=n, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(from_schema(schema))
    def collect(example: Any) -> None:
        out.append(example)

    collect()
    return out


def published(name: str) -> dict[str, Any]:
    """schemas/<name>.schema.json, inlined for drawing."""
    doc = json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text())
    out: dict[str, Any] = inline(doc, doc.get("$defs", {}))
    return out


# --- hostile values, as JSON text -----------------------------------------------------------

LONE = '"\\ud800"'  # a lone surrogate, escaped: valid JSON text, no valid Unicode string
BIG_STRING_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Hostile:
    name: str
    text: str  # the value as JSON text
    invalid: bool  # a correct server refuses a record (or body) holding it


def hostile_values(rng: random.Random) -> list[Hostile]:
    deep = 3000
    return [
        Hostile("lone surrogate", LONE, True),
        Hostile("lone surrogate inside", '"ab\\udc00cd"', True),
        Hostile("NaN", "NaN", True),
        Hostile("Infinity", "Infinity", True),
        Hostile("-Infinity", "-Infinity", True),
        Hostile("huge int", "1" + "0" * 400, True),
        Hostile("2**53", str(2**53), True),
        Hostile("-(2**63)-1", str(-(2**63) - 1), True),
        Hostile("1e400", "1e400", True),
        Hostile("deep array", "[" * deep + "]" * deep, False),
        Hostile("deep object", '{"a":' * deep + "1" + "}" * deep, False),
        Hostile("empty string", '""', False),
        Hostile("nul and controls", '"\\u0000\\u001f\\u007f"', False),
        Hostile("bidi and zero width", '"\\u202e\\u200b\\ufeff"', False),
        Hostile("long string", json.dumps("x" * rng.randint(300, 5000)), False),
        Hostile("wrong type object", '{"x": 1}', False),
        Hostile("wrong type list", "[1, 2]", False),
        Hostile("bool", "true", False),
        Hostile("null", "null", False),
        Hostile("negative zero", "-0.0", False),
        Hostile("tiny", "5e-324", False),
        Hostile("bad date", '"2025-02-30T00:00:00Z"', False),
        Hostile("year 0", '"0000-01-01T00:00:00Z"', False),
        Hostile("far future", '"9999-12-31T23:59:59Z"', False),
    ]


BIG = Hostile("5 MB string", json.dumps("y" * BIG_STRING_BYTES), False)


def obj_text(pairs: list[tuple[str, str]]) -> str:
    """A JSON object from (key, value as JSON text) pairs, repeated keys and all."""
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in pairs) + "}"


def with_hostile(doc: dict[str, Any], path: list[str | int], h: Hostile) -> str:
    """doc as JSON text with the value at path replaced by h's text (added if missing)."""
    marker = "\u0000@HOSTILE@\u0000"
    d = copy.deepcopy(doc)
    node: Any = d
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = marker
    return json.dumps(d).replace(json.dumps(marker), h.text)


def repeated_key(doc: dict[str, Any], key: str, second: Any) -> str:
    pairs = [(k, json.dumps(v)) for k, v in doc.items()]
    return obj_text([*pairs, (key, json.dumps(second))])


def leaf_paths(doc: Any, prefix: list[str | int] | None = None) -> list[list[str | int]]:
    """Every path to a scalar of doc (dict keys and list indices)."""
    prefix = prefix or []
    if isinstance(doc, dict):
        return [p for k, v in doc.items() for p in leaf_paths(v, [*prefix, k])] or [prefix]
    if isinstance(doc, list):
        return [p for i, v in enumerate(doc) for p in leaf_paths(v, [*prefix, i])] or [prefix]
    return [prefix]


Pick = Callable[[random.Random], Any]
