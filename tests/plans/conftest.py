"""Fixtures for the plans-as-code tests: writing plans and test files into a temporary folder."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

Writer = Callable[[str, Any], Path]


@pytest.fixture
def write(tmp_path: Path) -> Writer:
    """write("name.yaml", doc) -> the file's path; JSON or YAML by the suffix."""

    def _write(name: str, doc: Any) -> Path:
        p = tmp_path / name
        if name.endswith((".yaml", ".yml")):
            p.write_text(yaml.safe_dump(doc, sort_keys=False))
        elif name.endswith(".jsonl"):
            p.write_text("".join(json.dumps(r) + "\n" for r in doc))
        else:
            p.write_text(json.dumps(doc))
        return p

    return _write
