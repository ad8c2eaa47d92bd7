"""Fixtures shared by every test area. Area fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import gc
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

from runtime.lifetime import pending_tasks

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


# Real seconds one test (its setup, call and teardown) may take before it is interrupted with
# every thread's and every pending asyncio task's stack: a test that hung 35 minutes with an
# idle event loop said nothing of where it waited. The slowest test takes about 5 minutes on
# a machine loaded to 20.
HANG_S = float(os.environ.get("EXITGATE_TEST_HANG_S", "900"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    timer = threading.Timer(HANG_S, _interrupt_hung, args=(item,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _interrupt_hung(item: pytest.Item) -> None:
    # Past pytest's capture, which an interrupted test's output would not leave.
    capman = item.config.pluginmanager.getplugin("capturemanager")
    with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
        print(f"\n{item.nodeid} still running after {HANG_S:.0f} s: interrupting it. Threads:", file=sys.stderr)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        for loop in [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop) and o.is_running()]:
            print(f"pending asyncio tasks of {loop!r}:\n{pending_tasks(8, loop)}", file=sys.stderr)
        sys.stderr.flush()
    # A real SIGINT, not _thread.interrupt_main: it wakes an event loop blocked in epoll.
    os.kill(os.getpid(), signal.SIGINT)
