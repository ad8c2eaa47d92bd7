"""Strict JSON input and RFC 8785 canonical output, checked against the rfc8785 package."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.jsonfmt import (
    MAX_DEPTH,
    JsonFormatError,
    canonical_json,
    loads_strict,
    sha256_canonical,
)

FLOATS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=-1e-300, max_value=1e-300, allow_nan=False),
    st.sampled_from([5e-324, -5e-324, 1.7976931348623157e308, 1e21, 1e-7, 1e-6, 9.999999999999999e20,
                     123456789012345680000.0, 0.1, 1 / 3, 2.0**53, 2.0**53 + 2, -0.0, 100.0, 1e16]),
)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1), FLOATS,
    st.text(), st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=["Cs"])),
)
JSON = st.recursive(
    SCALARS,
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=8), kids, max_size=5),
    max_leaves=25,
)


@settings(max_examples=300, derandomize=True)
@given(JSON)
def test_canonical_json_equals_rfc8785(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)
    assert sha256_canonical(value) == hashlib.sha256(rfc8785.dumps(value)).hexdigest()


@settings(max_examples=300, derandomize=True)
@given(FLOATS)
def test_numbers_equal_rfc8785(x: float) -> None:
    assert canonical_json(x) == rfc8785.dumps(x)
    assert canonical_json([x, {"k": x}]) == rfc8785.dumps([x, {"k": x}])


@pytest.mark.parametrize("value", [
    {"\U0001f600": 1, "\ue000": 2, "a": 3, "é": 4, "": 5},  # keys sorted by UTF-16 code units
    ["\u2028\u2029", "\x00\x1f\x7f", '"\\', "\U0001f600"],
    ["a", "b"], [], {}, [[], {}], 0.0, -0.0, 1e300, -1e-300,
])
def test_edge_values(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


def test_non_finite_has_no_canonical_form() -> None:
    with pytest.raises(ValueError, match="NaN"):
        canonical_json(float("nan"))


@pytest.mark.parametrize(("text", "words"), [
    ('{"a": NaN}', "NaN is not allowed"),
    ('[Infinity]', "Infinity is not allowed"),
    ('[-Infinity]', "-Infinity is not allowed"),
    ('{"a": 1, "a": 1}', "repeated key 'a'"),
    ('{"x": {"a": 1, "b": {"c": 1, "c": 2}}}', "repeated key 'c'"),
    ('{"a": 1', "invalid JSON"),
    ("", "invalid JSON"),
    (b"\xff", "invalid JSON"),
    ("[" * 100_000, "invalid JSON"),
])
def test_loads_strict_rejects(text: str | bytes, words: str) -> None:
    with pytest.raises(JsonFormatError) as info:
        loads_strict(text)
    assert words in str(info.value)


def test_loads_strict_accepts_plain_json() -> None:
    assert loads_strict('{"a": [1, 2.5, true, null, "x"], "b": {"a": 1}}') == {"a": [1, 2.5, True, None, "x"], "b": {"a": 1}}


@pytest.mark.parametrize(("text", "path", "words"), [
    ('{"a": 1, "a": 2}', ("a",), "repeated key 'a'"),
    ('{"x": {"v": NaN}}', ("x", "v"), "NaN is not allowed"),
    ('[1, {"q": 1e400}]', (1, "q"), "beyond the range of a double"),
    ('{"b": [1, -Infinity]}', ("b", 1), "-Infinity is not allowed"),
    ('{"a": {"b": 1, "b": 2}}', ("a", "b"), "repeated key 'b'"),
    ('{"v": ' + "1" * 5000 + "}", ("v",), "5000 digits"),
    ("{bad", (), "invalid JSON"),
])
def test_loads_strict_refusals_name_where(text: str, path: tuple[str | int, ...], words: str) -> None:
    with pytest.raises(JsonFormatError) as exc:
        loads_strict(text)
    assert exc.value.path == path and words in str(exc.value)


def _nested(depth: int, inner: str = "1") -> str:
    return '{"a": ' * depth + inner + "}" * depth


@pytest.mark.parametrize(("text", "path"), [
    (_nested(MAX_DEPTH + 1), ("a",) * MAX_DEPTH),
    ('[{"x": 1}, {"p": ' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}]", (1, "p", *[0] * (MAX_DEPTH - 2))),
    # Refused for another reason too (a NaN): the second parse, which locates it, is as deep.
    ('[{"x": NaN}, ' + "[" * 3000 + "]" * 3000 + "]", ()),
    ('[{"x": NaN}, ' + "[" * 500 + "]" * 500 + "]", (1, *[0] * (MAX_DEPTH - 1))),
    ("[" * 3000 + "]" * 3000, ()),
])
def test_nesting_deeper_than_the_limit_is_refused_naming_where(text: str, path: tuple[str | int, ...]) -> None:
    with pytest.raises(JsonFormatError, match=f"nested deeper than {MAX_DEPTH}") as exc:
        loads_strict(text)
    assert exc.value.path == path


def test_nesting_up_to_the_limit_and_brackets_in_strings_are_taken() -> None:
    assert loads_strict(_nested(MAX_DEPTH))["a"]["a"]["a"]
    assert loads_strict(("[" * MAX_DEPTH + "]" * MAX_DEPTH).encode()) == loads_strict("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    # Brackets inside strings (after escaped quotes and backslashes too) do not nest.
    doc = {"s": "[{" * 500 + '"', "t": "\\" + "[" * 300, "u": ["]}" * 200]}
    assert loads_strict(json.dumps(doc)) == doc
