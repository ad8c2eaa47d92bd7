"""The two clocks: the shift depends on the scenario alone, keeps the calendar, and server
times map back to the scenario's instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rehearsal.clock import CYCLE_US, Windows, shift_for
from schemas.timefmt import DAY, format_timestamp, parse_timestamp


def test_the_shift_is_whole_400_year_cycles_and_does_not_depend_on_the_day_it_runs() -> None:
    first = parse_timestamp("2023-01-02T00:00:00Z")
    shifts = {shift_for(first, parse_timestamp(f"{year}-06-01T00:00:00Z")) for year in range(2000, 2400, 7)}
    assert shifts == {CYCLE_US}
    assert shift_for(parse_timestamp("1601-01-01T00:00:00Z"), parse_timestamp("2026-12-02T00:00:00Z")) == 2 * CYCLE_US


def test_the_shift_keeps_weekdays_and_leap_days() -> None:
    for text in ("2024-02-29T12:00:00Z", "2023-03-26T01:30:00Z", "2025-12-31T23:59:59.999999Z"):
        t = parse_timestamp(text)
        a = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=t)
        b = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=t + CYCLE_US)
        assert (b.year - a.year, b.month, b.day, b.weekday(), b.time()) == (400, a.month, a.day, a.weekday(), a.time())
        assert format_timestamp(t + CYCLE_US)[4:] == format_timestamp(t)[4:]


def test_windows_map_server_times_back_to_their_instant() -> None:
    w = Windows(CYCLE_US)
    t = parse_timestamp("2023-03-01T09:00:00Z")
    w.open(t, t + CYCLE_US)
    w.close(t + CYCLE_US + 250_000)  # the instant's work took 250 ms of server time
    assert w.scenario(t + CYCLE_US + 120_000) == t
    # Between instants (a durable timer fired), the server time moved back as it is.
    assert w.scenario(t + CYCLE_US + DAY) == t + DAY
