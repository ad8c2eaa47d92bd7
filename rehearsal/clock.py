"""The rehearsal's two clocks: the scenario's, and the time-skipping test server's.

The test server's clock starts at the real now and never goes back, while scenarios lie in
the past. Every scenario instant is therefore moved forward by a whole number of 400-year
Gregorian cycles (146,097 days: weekdays, leap days and month lengths stay what they were),
chosen from the scenario alone (its first instant), so two runs move it alike and give the same
digests; the transcript shows the scenario's own instants.

The server's clock also runs with the wall clock between skips, so whatever a workflow does
at a scenario instant t happens at t plus the milliseconds the work took. An instant's window
is that stretch of server time: an approval or an awaiting episode that began inside it began
at t, whatever the milliseconds (`Windows.scenario`), and a timer counted from it is due at t
plus its duration.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from schemas.timefmt import DAY

__all__ = ["CYCLE_US", "ClockHeld", "ServerClock", "Windows", "shift_for", "to_us"]

CYCLE_US = 146_097 * DAY  # 400 Gregorian years
# A scenario instant must land this far after the server's start, whatever the day it runs.
MARGIN_US = 366 * DAY
# How long one skip may take in real time before the rehearsal says why it will not move.
PATIENCE_S = 60.0
RETRIES = 3


def shift_for(first_us: int, now_us: int) -> int:
    """Whole 400-year cycles that put the scenario's first instant after `now` (at least one:
    the same scenario gets the same shift for centuries, whenever it runs)."""
    cycles = max(1, -(-(now_us + MARGIN_US - first_us) // CYCLE_US))
    return cycles * CYCLE_US


class ClockHeld(RuntimeError):
    """The test server would not move its clock: a diagnosis, not a hang."""


def to_us(dt: datetime) -> int:
    return int((dt - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))


class ServerClock:
    def __init__(self, env: WorkflowEnvironment, shift_us: int,
                 diagnose: Callable[[], Awaitable[list[str]]]):
        self.env = env
        self.shift = shift_us
        self.diagnose = diagnose

    def server(self, scenario_us: int) -> int:
        return scenario_us + self.shift

    async def now(self) -> int:
        return to_us(await self.env.get_current_time())

    async def advance_to(self, server_us: int) -> None:
        """Skip the server's clock to `server_us` (if it is not there yet); every timer due by
        then fires and its work is done before this returns, or ClockHeld says what holds it."""
        for attempt in range(RETRIES):
            now = await self.now()
            if server_us <= now:
                return
            try:
                await asyncio.wait_for(self.env.sleep(timedelta(microseconds=server_us - now)), timeout=PATIENCE_S)
                return
            except RPCError as exc:
                # Seen once on a loaded machine: the sleep's stream ended with "h2 protocol
                # error" while the server lived on. Ask again from where its clock now is.
                if attempt == RETRIES - 1:
                    raise ClockHeld(f"the test server's sleep kept failing: {exc}") from None
            except TimeoutError:
                await self._held()

    async def _held(self) -> None:
        t1 = await self.now()
        await asyncio.sleep(1)
        t2 = await self.now()
        raise ClockHeld(f"the test server would not skip to the next instant within {PATIENCE_S:.0f} s; "
                        f"its clock moved {(t2 - t1) / 1e6:.3f} s in 1 s of real time. Open work:\n  "
                        + "\n  ".join(await self.diagnose()))


class Windows:
    """Which scenario instant a server time belongs to."""

    def __init__(self, shift_us: int):
        self.shift = shift_us
        self.starts: list[int] = []  # server times, increasing
        self.ends: list[int] = []
        self.instants: list[int] = []  # scenario times

    def open(self, scenario_us: int, server_start: int) -> None:
        self.starts.append(server_start)
        self.ends.append(server_start)
        self.instants.append(scenario_us)

    def close(self, server_end: int) -> None:
        self.ends[-1] = max(self.ends[-1], server_end)

    def scenario(self, server_us: int, tolerance_us: int = 0) -> int:
        """The scenario instant of something that happened at `server_us`: the instant whose
        window holds it, else (a timer fired between instants) the server time moved back."""
        i = bisect.bisect_right(self.starts, server_us) - 1
        if i >= 0 and server_us <= self.ends[i] + tolerance_us:
            return self.instants[i]
        return server_us - self.shift
