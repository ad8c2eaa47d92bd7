"""The import's fast paths decide exactly as the full ones: same accept or refuse, same value,
same error text. Each is compared with the path it shortcuts on drawn inputs (hypothesis,
derandomised), the hand-made hostile values and the schema-drawn corpus of the fuzz run:
- `loads_strict` (orjson where it cannot differ) against `_loads_stdlib`;
- `parse_timestamp` (its date and time-of-day tables) against `_parse_timestamp`;
- `check_record` (`_accept_usual` first) against `_check_record`.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.evidence import Ledger, Record, _accept_usual, _check_record, check_record
from rules.plan import LoadedPlan, load_plan
from schemas.jsonfmt import (
    _DOUBT,
    MAX_DEPTH,
    JsonFormatError,
    _loads_compiled,
    _loads_stdlib,
    loads_strict,
)
from schemas.timefmt import _parse_timestamp, parse_timestamp
from scripts.fuzz_inputs import draw_examples, hostile_values, published, repeated_key, with_hostile

from .helpers import base_plan, record

SETTINGS = settings(derandomize=True, database=None, deadline=None, max_examples=400,
                    suppress_health_check=list(HealthCheck))


def _typed(v: Any) -> Any:
    """A value with every type spelled out: 7 and 7.0, 0.0 and -0.0, key order all differ."""
    if isinstance(v, dict):
        return ("dict", [(_typed(k), _typed(x)) for k, x in v.items()])
    if isinstance(v, list):
        return ("list", [_typed(x) for x in v])
    return (type(v).__name__, repr(v))


def _parsed(parse: Any, text: str) -> Any:
    try:
        return ("ok", _typed(parse(text)))
    except JsonFormatError as exc:
        return ("refused", str(exc), exc.field)


def _same_parse(text: str) -> None:
    assert _parsed(loads_strict, text) == _parsed(_loads_stdlib, text), text[:200]


# --- JSON ---------------------------------------------------------------------------------

_SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**70), max_value=2**70)
            | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=4), inner, max_size=4), max_leaves=12)
# What a hand-written text may hold that an encoder never writes.
_TOKENS = ['"\\ud800"', '"\\udc00x"', '"\\ud83d\\ude00"', '"\\u0022"', '"a\\"b"', '"\\\\"', '"\\u00e9"', "NaN",
           "-Infinity", "1e400", "-1e400", "1" + "0" * 25, "-9223372036854775809", "18446744073709551616",
           "9223372036854775807", "0.1e-400", "-0", "-0.0", "1E2", "01", "1.", ".5", "+1", "tru", '"\t"', '"\x00"',
           '"\\x"', "[]", "{}", "[1,]", '{"a":1,}', '"\ufeff"', '"\ud800"']
_NOISE = [*'"\\{}[],: \t\n\r-+.eE0123456789tfnlu', "\ufeff", "\u00e9", "\x00", "\ud800", "\u2028"]


@st.composite
def _texts(draw: st.DrawFn) -> str:
    value = draw(_VALUES)
    text = json.dumps(value, ensure_ascii=draw(st.booleans()),
                      separators=draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,", " : ")])))
    for _ in range(draw(st.integers(0, 3))):  # tokens spliced in, or keys repeated, or a character changed
        at = draw(st.integers(0, len(text)))
        how = draw(st.integers(0, 3))
        if how == 0:
            text = text[:at] + draw(st.sampled_from(_TOKENS)) + text[at:]
        elif how == 1:
            key = json.dumps(draw(st.sampled_from(["a", "id", "", "\u00e9"])))
            text = "{" + f"{key}: 1, {key}: {text}" + "}"
        elif how == 2:
            text = text[:at] + draw(st.sampled_from(_NOISE)) + text[at + draw(st.integers(0, 1)):]
        else:
            text = f'{{"x": {text}, "y": {draw(st.sampled_from(_TOKENS))}}}'
    return text


@SETTINGS
@given(_texts())
def test_loads_strict_parses_as_the_stdlib_parser(text: str) -> None:
    _same_parse(text)


@pytest.mark.parametrize("depth", [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1])
@pytest.mark.parametrize("shape", ["[{}]", '{{"k": {}}}'])
def test_nesting_at_the_limit_parses_as_the_stdlib_parser(depth: int, shape: str) -> None:
    text = "1"
    for _ in range(depth):
        text = shape.format(text)
    _same_parse(text)
    _same_parse(text.replace("1", "1e19"))


def test_hostile_values_parse_as_the_stdlib_parser() -> None:
    base = record()
    for h in hostile_values(random.Random(5)):
        _same_parse(h.text)
        for key in base:
            _same_parse(with_hostile(base, [key], h))
            _same_parse(with_hostile({**base, "provenance": {"uri": "u", "list": [1, "x"]}},
                                     ["provenance", "list", 1], h))
    for key in base:
        for second in (base[key], 5, None, "x"):
            _same_parse(repeated_key(base, key, second))


@pytest.mark.parametrize("text", [
    # Repeated keys whose lost quotes an escaped quote elsewhere would make up for.
    '{"a": 1, "a": 2, "b": "\\u0022\\u0022"}', '{"a": 1, "a": 2, "b": "\\"\\""}',
    '{"a": "x", "a": "\\u0022"}', '[{"k": 1, "k": 1}, "\\u0022\\u0022"]',
    # Escapes next to quotes and backslashes.
    '{"a\\\\": 1, "a\\\\": 2}', '{"\\u0061": 1, "a": 2}', '{"a": "\\\\", "b": "\\\\\\""}',
    # Integers beyond 64 bits, in and out of records; floats around 2^63.
    '{"value": 18446744073709551616}', '[-9223372036854775809]', "9223372036854775808", "9.3e18", "-9.3e18",
    '{"v": 9223372036854775807, "w": -9223372036854775808}',
])
def test_crafted_texts_parse_as_the_stdlib_parser(text: str) -> None:
    _same_parse(text)


def test_the_usual_record_takes_the_compiled_parser() -> None:
    # Otherwise the comparisons above would pass with the fast path never taken.
    text = json.dumps(record())
    assert _loads_compiled(text) is not _DOUBT
    assert _loads_compiled(json.dumps(record(source="Zürich"))) is not _DOUBT  # an escape, \u00fc
    assert _loads_compiled(text[:-1] + ', "id": "again"}') is _DOUBT  # a repeated key
    assert _loads_compiled(text.replace("7", "1" + "0" * 20)) is _DOUBT  # beyond 64 bits


# --- timestamps ---------------------------------------------------------------------------

_DIGIT = st.sampled_from("0123456789") | st.sampled_from("0123456789\u0662\uff15x ")
_TS_TEXT = st.builds(lambda y, mo, d, t, h, mi, s, frac, off: f"{y}-{mo}-{d}{t}{h}:{mi}:{s}{frac}{off}",
                     st.sampled_from(["2025", "1970", "0000", "0001", "9999", "1969", "2024", "２０２５"]),
                     st.sampled_from(["01", "02", "12", "13", "00", "1"]),
                     st.sampled_from(["01", "28", "29", "30", "31", "00", "32"]),
                     st.sampled_from(["T", "t", " "]),
                     st.sampled_from(["00", "12", "23", "24", "99"]),
                     st.sampled_from(["00", "59", "60"]),
                     st.sampled_from(["00", "59", "60", "61", "5"]),
                     st.sampled_from(["", ".1", ".123456", ".1234567", "."]),
                     st.sampled_from(["Z", "z", "+00:00", "-00:00", "+05:30", "-23:59", "+24:00", "+00:60", "", "Z\n"]))


def _timed(parse: Any, text: str) -> Any:
    try:
        return ("ok", parse(text))
    except ValueError as exc:
        return ("refused", str(exc))


@SETTINGS
@given(st.lists(_TS_TEXT | st.text(max_size=24), min_size=1, max_size=6))
def test_parse_timestamp_parses_as_the_parser_itself(texts: list[str]) -> None:
    for _ in range(2):  # the second time from the tables
        for text in texts:
            assert _timed(parse_timestamp, text) == _timed(_parse_timestamp, text), text


def test_parse_timestamp_tables_split_exactly() -> None:
    parse_timestamp("2025-03-31T12:00:00+02:00")
    parse_timestamp("2024-02-29T00:00:00Z")
    assert parse_timestamp("2024-02-29T12:00:00+02:00") == _parse_timestamp("2024-02-29T12:00:00+02:00")
    assert _timed(parse_timestamp, "2025-02-29T12:00:00+02:00") == _timed(_parse_timestamp, "2025-02-29T12:00:00+02:00")
    for bad in (None, 5, ["2025-03-31"], b"2025-03-31T12:00:00Z"):
        assert _timed(parse_timestamp, bad) == _timed(_parse_timestamp, bad)


# --- acceptance ---------------------------------------------------------------------------

T0 = parse_timestamp("2025-04-05T00:00:00Z")


@pytest.fixture(scope="module")
def plan() -> LoadedPlan:
    return load_plan(base_plan())


def _ledger(plan: LoadedPlan) -> Ledger:
    ledger = Ledger(plan)
    for raw in (record("known1"), record("p1", indicator="pol", value=3.5, source="moi"),
                record("c1"), record("c2", supersedes="c1", value=8)):
        assert ledger.add(raw).status == "stored", raw
    return ledger


_STAMPS = ["2025-03-31T00:00:00Z", "2025-04-03T10:00:00Z", "2025-04-04T00:00:00Z", "2025-04-06T00:00:00Z",
           "2025-03-31T00:00:00+02:00", "2025-03-31T00:00:00.5Z", "2025-02-30T00:00:00Z", "2025-03-31",
           "2016-12-31T23:59:60Z", "2025-04-03T10:00:00-00:01", "２０２５-03-31T00:00:00Z", 1743379200, None, ""]
_FIELD_VALUES: dict[str, Any] = {
    "id": st.sampled_from(["r1", "r2", "known1", "c1", "a b", "", "x" * 129, "abc\n", 7, None, "r\ud800", "ünï"])
    | st.from_regex(r"[A-Za-z0-9._:-]{1,6}", fullmatch=True),
    "mission": st.sampled_from(["lakeland", "hillside", "", 5, None, "lake\ud800"]),
    "indicator": st.sampled_from(["inc", "pol", "elect", "nope", 3, None, ["inc"]]),
    "value": st.none() | st.booleans() | st.integers(-3, 25) | st.sampled_from([2**53, 2**53 - 1, -(2**60), 10**400])
    | st.floats(-5, 25) | st.sampled_from([float("nan"), float("inf"), -0.0, 5.0]) | st.sampled_from(["5", "true"]),
    "observed_at": st.sampled_from(_STAMPS),
    "reported_at": st.sampled_from(_STAMPS),
    "source": st.sampled_from(["jmac", "moi", "nec", "", "jm\x00ac", "rumour", "jmäc", "jm\ud800", 5, None, "a\tb\\"]),
    "supersedes": st.sampled_from([None, "known1", "p1", "c1", "c2", "nope", "a b", 5]),
    "provenance": st.sampled_from([None, {"uri": "u"}, "x", {"k": "\ud800"}, [1]]),
    "colour": st.just(1),
}


@st.composite
def _records(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 30)) == 0:
        return draw(st.sampled_from([[record()], "record", None, 5]))
    raw = record()
    if draw(st.booleans()):
        raw.pop("reported_at")
    for name, values in _FIELD_VALUES.items():
        how = draw(st.integers(0, 5))  # most fields as in the usual record
        if how == 0:
            raw.pop(name, None)
        elif how == 1:
            raw[name] = draw(values)
    if draw(st.booleans()):
        raw = dict(reversed(list(raw.items())))  # unknown fields are reported in key order
    return raw


def _decided(result: Record | Any) -> Any:
    if isinstance(result, Record):  # a Record's equality takes 7 for 7.0
        return ("record", result, type(result.value), repr(result.value))
    return ("outcome", result)


@SETTINGS
@given(_records(), st.sampled_from([(None, False), (T0, False), (T0, True)]))
def test_check_record_decides_as_the_full_check(plan: LoadedPlan, raw: Any, receipt: tuple[int | None, bool]) -> None:
    received_at, backfill = receipt
    ledger = _ledger(plan)
    fast = check_record(raw, plan, ledger, line=3, received_at=received_at, backfill=backfill)
    full = _check_record(raw, plan, ledger, 3, received_at, backfill)
    assert _decided(fast) == _decided(full)


def test_hostile_and_drawn_records_decide_as_the_full_check(plan: LoadedPlan) -> None:
    ledger = _ledger(plan)
    texts = [with_hostile(record(), [key], h) for h in hostile_values(random.Random(5)) for key in record()]
    drawn = draw_examples(published("evidence"), 300, 11)
    for doc in drawn:
        texts.append(json.dumps(doc))
        texts.append(json.dumps({**doc, "mission": "lakeland", "indicator": "pol", "source": "moi"}))
    decided = 0
    for text in texts:
        try:
            raw = loads_strict(text)
        except JsonFormatError:
            continue
        for received_at, backfill in ((None, False), (T0, False), (T0, True)):
            fast = check_record(raw, plan, ledger, line=1, received_at=received_at, backfill=backfill)
            assert _decided(fast) == _decided(_check_record(raw, plan, ledger, 1, received_at, backfill)), text[:200]
            decided += 1
    assert decided > 500


def test_the_usual_record_takes_the_fast_path(plan: LoadedPlan) -> None:
    ledger = _ledger(plan)
    assert _accept_usual(record(), plan, ledger, T0, False) == _check_record(record(), plan, ledger, None, T0, False)
    assert _accept_usual(record("known1"), plan, ledger, T0, False) is None  # a retry: the full check words it
    assert _accept_usual(record(source="jmäc"), plan, ledger, T0, False) is None


def test_quick_construction_refuses_a_class_it_would_build_wrongly() -> None:
    # The twin skips __post_init__ and default factories: such a class must be refused
    # where it is declared, not built without them.
    from dataclasses import dataclass, field

    from rules.evidence import _quick

    @dataclass(frozen=True, slots=True)
    class Checked:
        x: int

        def __post_init__(self) -> None:
            raise AssertionError("never built without this")

    @dataclass(frozen=True, slots=True)
    class Defaulted:
        xs: list[int] = field(default_factory=list)

    for cls in (Checked, Defaulted):
        with pytest.raises(TypeError, match=cls.__name__):
            _quick(cls)
