"""Strict JSON input and RFC 8785 canonical JSON output.

Canonical JSON is on the hot path (every gate evaluation hashes its explanation tree, which can
list thousands of evidence ids), so it is written here over the C `json` encoder rather than
with a pure-Python JCS library; `tests/test_jsonfmt.py` checks it byte for byte against the
`rfc8785` package.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

__all__ = ["JsonFormatError", "canonical_json", "loads_strict", "sha256_canonical"]


class JsonFormatError(ValueError):
    """The text is not JSON this project accepts (syntax, NaN/Infinity, repeated keys)."""


def _reject_constant(name: str) -> Any:
    raise JsonFormatError(f"{name} is not allowed in JSON documents")


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JsonFormatError(f"repeated key {key!r} in one object")
        out[key] = value
    return out


def loads_strict(text: str | bytes) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_no_repeats, parse_constant=_reject_constant)
    except JsonFormatError:
        raise
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JsonFormatError(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise JsonFormatError("invalid JSON: nested too deeply") from None


_dump_str = json.JSONEncoder(ensure_ascii=False).encode


def _float(x: float) -> str:
    """ECMAScript Number.prototype.toString, which RFC 8785 mandates for numbers."""
    if not math.isfinite(x):
        raise ValueError("NaN and Infinity have no canonical JSON form")
    if x == 0:
        return "0"
    if x.is_integer() and abs(x) < 2**53:
        return str(int(x))
    # repr gives the shortest round-tripping digits, as ECMAScript does; only layout differs.
    mantissa, _, exp_text = repr(x).partition("e")
    sign = "-" if mantissa.startswith("-") else ""
    mantissa = mantissa.lstrip("-")
    int_part, _, frac_part = mantissa.partition(".")
    digits = (int_part + frac_part).lstrip("0")
    point = len(int_part) + (int(exp_text) if exp_text else 0)
    if int_part == "0":
        stripped = frac_part.lstrip("0")
        point = -(len(frac_part) - len(stripped)) + (int(exp_text) if exp_text else 0)
        digits = stripped
    digits = digits.rstrip("0") or "0"
    k, n = len(digits), point
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    exp = n - 1
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{head}e{'+' if exp >= 0 else '-'}{abs(exp)}"


def _plain_strings(items: list[Any] | tuple[Any, ...], out: list[str]) -> bool:
    """Lists of evidence ids are the bulk of an explanation tree. When every item is a string of
    printable ASCII with no quote or backslash, its JSON form is the string itself in quotes, so
    the list is one join; the checks are C-speed scans. Otherwise the general path handles it."""
    try:
        joined = '","'.join(items)
    except TypeError:
        return False
    if not (joined.isascii() and joined.isprintable()) or "\\" in joined:
        return False
    if joined.count('"') != 2 * (len(items) - 1):
        return False
    out.append('["' + joined + '"]')
    return True


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be")


def _encode(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_dump_str(value))
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif value is None:
        out.append("null")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(_float(value))
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key in sorted(value, key=_utf16_key):
            if not isinstance(key, str):
                raise TypeError(f"object keys must be strings, not {type(key).__name__}")
            if not first:
                out.append(",")
            first = False
            out.append(_dump_str(key))
            out.append(":")
            _encode(value[key], out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        if value and type(value[0]) is str and _plain_strings(value, out):
            return
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} has no canonical JSON form")


def canonical_json(value: Any) -> bytes:
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode("utf-8")


def sha256_canonical(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()
