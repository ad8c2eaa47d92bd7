"""Timestamps and durations as CONTRACT section 0 defines them."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.timefmt import (
    DAY,
    HOUR,
    MINUTE,
    WEEK,
    format_timestamp,
    parse_duration,
    parse_timestamp,
)

BASE = parse_timestamp("2025-03-31T00:00:00Z")


@pytest.mark.parametrize(("text", "us"), [
    ("2025-03-31T00:00:00Z", BASE),
    ("2025-03-31T00:00:00z", BASE),
    ("2025-03-31t00:00:00Z", BASE),
    ("2025-03-31T00:00:00+00:00", BASE),
    ("2025-03-31T00:00:00-00:00", BASE),
    ("2025-03-31T03:00:00+03:00", BASE),
    ("2025-03-30T19:30:00-04:30", BASE),
    ("2025-03-31T03:00:00.5+03:00", BASE + 500_000),
    ("2025-03-31T00:00:00.000001Z", BASE + 1),
    ("2025-03-31T00:00:00.123456Z", BASE + 123_456),
    ("2025-03-31T00:00:00.1Z", BASE + 100_000),
    ("1970-01-01T00:00:00Z", 0),
    ("1969-12-31T23:59:59.999999Z", -1),
    ("2024-02-29T00:00:00Z", parse_timestamp("2024-03-01T00:00:00Z") - DAY),
    ("2025-01-01T00:00:00+23:59", parse_timestamp("2025-01-01T00:00:00Z") - 23 * HOUR - 59 * MINUTE),
])
def test_valid_timestamps(text: str, us: int) -> None:
    assert parse_timestamp(text) == us


@pytest.mark.parametrize(("text", "words"), [
    ("2025-03-31T00:00:00", "offset"),
    ("2025-03-31T00:00Z", "with seconds"),
    ("2025-03-31 00:00:00Z", "RFC 3339"),
    ("2025-03-31", "RFC 3339"),
    ("20250331T000000Z", "RFC 3339"),
    ("2025-03-31T00:00:00.Z", "RFC 3339"),
    ("2025-03-31T00:00:00.1234567Z", "RFC 3339"),
    ("2025-03-31T00:00:00+0300", "RFC 3339"),
    ("2025-03-31T00:00:00+03", "RFC 3339"),
    ("2025-03-31T00:00:00 Z", "RFC 3339"),
    (" 2025-03-31T00:00:00Z", "RFC 3339"),
    ("2025-03-31T00:00:00Z\n", "RFC 3339"),
    ("2025-3-31T00:00:00Z", "RFC 3339"),
    ("2016-12-31T23:59:60Z", "leap seconds"),
    ("2025-12-31T23:59:60+01:00", "leap seconds"),
    ("2025-02-29T00:00:00Z", "day is out of range"),
    ("2025-13-01T00:00:00Z", "month must be in 1..12"),
    ("2025-03-31T24:00:00Z", "hour must be in 0..23"),
    ("2025-03-31T00:60:00Z", "minute must be in 0..59"),
    ("2025-03-31T00:00:00+24:00", "out of range"),
    ("2025-03-31T00:00:00+05:60", "out of range"),
    ("", "RFC 3339"),
])
def test_invalid_timestamps(text: str, words: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_timestamp(text)
    assert words in str(info.value)


def test_timestamp_must_be_a_string() -> None:
    with pytest.raises(ValueError, match="string"):
        parse_timestamp(20250331)  # type: ignore[arg-type]


@settings(max_examples=200, derandomize=True)
@given(st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30),
                    timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=3)),
                                               dt.timezone(-dt.timedelta(hours=9, minutes=30))])))
def test_parse_agrees_with_datetime_and_format_round_trips(moment: dt.datetime) -> None:
    text = moment.isoformat()
    us = parse_timestamp(text)
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    assert us == (moment - epoch) // dt.timedelta(microseconds=1)
    out = format_timestamp(us)
    assert out.endswith("Z") and parse_timestamp(out) == us


@pytest.mark.parametrize(("text", "us"), [
    ("P90D", 90 * DAY), ("P2W", 2 * WEEK), ("P1W2D", WEEK + 2 * DAY), ("PT12H", 12 * HOUR),
    ("P1DT6H", DAY + 6 * HOUR), ("PT30M", 30 * MINUTE), ("P1W2DT3H4M", WEEK + 2 * DAY + 3 * HOUR + 4 * MINUTE),
    ("PT0H1M", MINUTE), ("P0DT1H", HOUR), ("P400D", 400 * DAY),
])
def test_valid_durations(text: str, us: int) -> None:
    assert parse_duration(text) == us


@pytest.mark.parametrize(("text", "words"), [
    ("P3M", "use days"), ("P1Y", "use days"), ("PT30S", "use days"), ("P1Y2M3D", "use days"),
    ("PT1H30S", "use days"), ("P1DT0.5S", "use days"),
    ("P0D", "longer than zero"), ("PT0M", "longer than zero"), ("P0W0DT0H0M", "longer than zero"),
    ("P", "not an ISO 8601 duration"), ("PT", "not an ISO 8601 duration"), ("P1DT", "P1DT"),
    ("P1D2W", "not an ISO 8601 duration"), ("PT1M1H", "not an ISO 8601 duration"),
    ("P1.5D", "not an ISO 8601 duration"), ("p1d", "not an ISO 8601 duration"), ("1D", "not an ISO 8601 duration"),
    ("P-1D", "not an ISO 8601 duration"), ("P1H", "not an ISO 8601 duration"), ("", "not an ISO 8601 duration"),
    ("P1D\n", "not an ISO 8601 duration"),
])
def test_invalid_durations(text: str, words: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert words in str(info.value)
