"""Reading JSON and YAML documents strictly: no NaN/Infinity, no repeated keys, and YAML's
implicit timestamps and other surprises kept out, so a YAML plan means what its JSON twin does.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from schemas.jsonfmt import JsonFormatError, loads_strict

__all__ = ["DocumentError", "load_document", "parse_document"]


class DocumentError(ValueError):
    pass


# libyaml's parser when PyYAML was built with it (several times faster on long test files);
# construction, and so every check below, stays the same Python either way.
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_Base):  # type: ignore[valid-type,misc]
    pass


# Dates would become datetime objects that JSON cannot express; keep them as strings.
_StrictLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise DocumentError(f"line {key_node.start_mark.line + 1}: keys must be strings, not {key!r}")
        if key in out:
            raise DocumentError(f"line {key_node.start_mark.line + 1}: repeated key {key!r} in one mapping")
        out[key] = loader.construct_object(value_node, deep=True)
    return out


def _float(loader: _StrictLoader, node: yaml.ScalarNode) -> float:
    value = yaml.SafeLoader.construct_yaml_float(loader, node)
    if not math.isfinite(value):
        raise DocumentError(f"line {node.start_mark.line + 1}: NaN and Infinity are not allowed")
    return value


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_StrictLoader.add_constructor("tag:yaml.org,2002:float", _float)


def parse_document(text: str, fmt: str | None = None) -> Any:
    """Parse JSON or YAML; `fmt` is "json", "yaml" or None to decide from the text."""
    if fmt is None:
        fmt = "json" if text.lstrip().startswith(("{", "[")) else "yaml"
    if fmt == "json":
        try:
            return loads_strict(text)
        except JsonFormatError as exc:
            raise DocumentError(str(exc)) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise DocumentError(f"invalid YAML: {exc}") from None


def load_document(path: str | Path) -> Any:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise DocumentError(f"cannot read {p}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise DocumentError(f"{p} is not UTF-8 text") from None
    suffix = p.suffix.lower()
    fmt = "json" if suffix == ".json" else "yaml" if suffix in (".yaml", ".yml") else None
    return parse_document(text, fmt)
