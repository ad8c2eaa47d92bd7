"""Fixtures shared by every test area. Area fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "valdoria"

# Every property test is derandomised, so a failure found once is found again on every run
# and machine (print_blob gives the exact example to paste into @reproduce_failure). No example
# database either: what is tested must not depend on what an earlier run happened to find.
_COMMON = {"derandomize": True, "database": None, "print_blob": True, "deadline": None,
           "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
settings.register_profile("exitgate", max_examples=200, **_COMMON)  # type: ignore[arg-type]
# scripts/mutate.py runs the tests hundreds of times: fewer examples, same determinism, and no
# shrinking (it only needs to know that a test fails, not the smallest example).
settings.register_profile("mutation", max_examples=50, phases=[Phase.explicit, Phase.generate],
                          **_COMMON)  # type: ignore[arg-type]
settings.load_profile(os.environ.get("EXITGATE_HYPOTHESIS_PROFILE", "exitgate"))


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE
