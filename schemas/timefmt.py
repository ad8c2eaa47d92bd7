"""Timestamps and durations exactly as CONTRACT section 0 defines them.

Instants are carried internally as integer microseconds since the Unix epoch, in UTC: exact
(the contract allows at most microsecond fractions), cheap to compare, and they fit numpy
int64 arrays for the evidence index.
"""

from __future__ import annotations

import datetime as _dt
import re
from functools import lru_cache

__all__ = [
    "DAY",
    "DURATION_PATTERN",
    "HOUR",
    "MINUTE",
    "TIMESTAMP_PATTERN",
    "WEEK",
    "describe_duration",
    "format_date",
    "format_timestamp",
    "parse_duration",
    "parse_timestamp",
]

MINUTE = 60 * 1_000_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEK = 7 * DAY

# ECMA-262 compatible so the same text can sit in the published JSON Schemas.
TIMESTAMP_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-5][0-9](\.[0-9]{1,6})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
# At least one non-zero component, weeks/days/hours/minutes in that order, "T" only before
# hours or minutes. The lookahead keeps zero durations out of the schema as well.
DURATION_PATTERN = r"^P(?=[0-9WDTHM]*[1-9])([0-9]+W)?([0-9]+D)?(T(?=[0-9])([0-9]+H)?([0-9]+M)?)?$"

_TS = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))\Z"
)
_DUR = re.compile(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?\Z")
_CALENDAR = re.compile(r"P(?:\d+Y)?(?:\d+M)?(?:\d+[WD])*(?:T(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d+)?S)?)?\Z")
_CALENDAR_UNIT = re.compile(r"Y|S|^P[^T]*M")
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_ONE_US = _dt.timedelta(microseconds=1)
_EPOCH_DAY = _EPOCH.toordinal()


# Every instant is its date plus its time of day (and offset), the first 10 characters and the
# rest, each valid or not on its own: a text that splits into a date and a time already seen
# valid is their sum, two dict lookups. An import reads two timestamps per record, mostly of
# few distinct dates and times of day, and a cache of whole texts missed on nearly every one.
# Only what `_parse_timestamp` accepted enters, and each table is bounded.
_DATES: dict[str, int] = {}  # "2025-03-31" -> microseconds at its midnight UTC
_TIMES: dict[str, int] = {}  # "T12:00:00Z" -> microseconds after midnight (minus the offset)
_PART_LIMIT = 1 << 17


def parse_timestamp(text: str) -> int:
    """Return microseconds since the epoch (UTC); raise ValueError saying what is wrong."""
    try:
        return _DATES[text[:10]] + _TIMES[text[10:]]
    except (KeyError, TypeError):
        pass
    us = _parse_timestamp(text)
    date, time = text[:10], text[10:]
    # Whether each part is valid alone is worked out by the parser itself, on a text that
    # pairs it with a part known to be valid (the epoch's date, midnight UTC).
    if date not in _DATES and len(_DATES) < _PART_LIMIT:
        _DATES[date] = _parse_timestamp(date + "T00:00:00Z")
    if time not in _TIMES and len(_TIMES) < _PART_LIMIT:
        _TIMES[time] = _parse_timestamp("1970-01-01" + time)
    return us


def _parse_timestamp(text: str) -> int:
    if not isinstance(text, str):
        raise ValueError("must be an RFC 3339 timestamp string")
    m = _TS.match(text)
    if m is None:
        raise ValueError(
            f"{text!r} is not an RFC 3339 timestamp with seconds and an offset "
            "(for example 2025-03-31T00:00:00Z)"
        )
    ys, mos, ds, hs, mis, ss, frac, zulu = m.groups()[:8]
    year, month, day, hour, minute, second = int(ys), int(mos), int(ds), int(hs), int(mis), int(ss)
    micro = int(frac.ljust(6, "0")) if frac else 0
    if zulu is not None and hour < 24 and minute < 60 and second < 60:
        # The usual form, by day number: every record has two of these, and building an aware
        # datetime to subtract the epoch costs several times as much. Out-of-range fields
        # take the general path below, for its messages.
        try:
            days = _dt.date(year, month, day).toordinal() - _EPOCH_DAY
        except ValueError:
            pass
        else:
            return (((days * 24 + hour) * 60 + minute) * 60 + second) * 1_000_000 + micro
    if second == 60:
        raise ValueError(f"{text!r}: leap seconds (:60) are not accepted")
    offset = 0
    if m.group(8) is None:
        oh, om = int(m.group(10)), int(m.group(11))
        if oh > 23 or om > 59:
            raise ValueError(f"{text!r}: offset {m.group(9)}{m.group(10)}:{m.group(11)} is out of range")
        offset = (oh * 60 + om) * (1 if m.group(9) == "+" else -1)
    try:
        local = _dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=_dt.UTC)
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None
    return (local - _EPOCH) // _ONE_US - offset * MINUTE


@lru_cache(maxsize=65536)  # explanations format the same few instants over and over
def format_timestamp(us: int) -> str:
    """UTC, `Z`, fractions only when there are some: the form every output uses."""
    moment = _EPOCH + _dt.timedelta(microseconds=us)
    # strftime's %Y does not pad years below 1000, which RFC 3339 requires.
    base = f"{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%S")
    if moment.microsecond:
        base += f".{moment.microsecond:06d}".rstrip("0")
    return base + "Z"


def format_date(us: int) -> str:
    moment = _EPOCH + _dt.timedelta(microseconds=us)
    return f"{moment.year:04d}-" + moment.strftime("%m-%d")


@lru_cache(maxsize=4096)
def parse_duration(text: str) -> int:
    """Return the duration in microseconds; raise ValueError saying what is wrong."""
    if not isinstance(text, str):
        raise ValueError("must be an ISO 8601 duration string such as P90D")
    m = _DUR.match(text)
    if m is None or text in ("P", "PT") or text.endswith("T"):
        if _CALENDAR.match(text) and _CALENDAR_UNIT.search(text):
            raise ValueError(
                f"{text!r}: months, years and seconds are not fixed lengths; "
                "use days (P30D), weeks (P2W), hours (PT12H) or minutes (PT30M)"
            )
        raise ValueError(
            f"{text!r} is not an ISO 8601 duration of weeks, days, hours and minutes "
            "(for example P90D, P2W, P1DT6H); use days for months or years"
        )
    weeks, days, hours, minutes = (int(g) if g else 0 for g in m.groups())
    total = weeks * WEEK + days * DAY + hours * HOUR + minutes * MINUTE
    if total == 0:
        raise ValueError(f"{text!r}: a duration must be longer than zero")
    return total


def describe_duration(us: int) -> str:
    """Plain words for reasons: `45 days`, `1 day 6 hours`, `30 minutes`."""
    parts = []
    for size, name in ((DAY, "day"), (HOUR, "hour"), (MINUTE, "minute")):
        n, us = divmod(us, size)
        if n:
            parts.append(f"{n} {name}{'s' if n != 1 else ''}")
    return " ".join(parts) or "0 minutes"
