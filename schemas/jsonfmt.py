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
import re
from collections.abc import Callable
from typing import Any

import orjson

__all__ = ["LONE_SURROGATE", "MAX_DEPTH", "Encoded", "JsonFormatError", "canonical_json", "canonical_text", "field_name",
           "loads_strict", "lone_surrogates", "printable", "sha256_canonical", "sha256_canonical_resumed", "shown"]


class JsonFormatError(ValueError):
    """The text is not JSON this project accepts (syntax, NaN/Infinity, repeated keys).

    `path` locates the offending value or key where that is known (empty for syntax errors),
    so an API can name the field."""

    def __init__(self, message: str, path: tuple[str | int, ...] = ()):
        super().__init__(message)
        self.path = path

    @property
    def field(self) -> str:
        """The path as a dotted field name (`provenance.uri`, `items[2]`), `$` for the whole."""
        return field_name(self.path)


def field_name(path: tuple[str | int, ...] | list[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "$"


class _Bad:
    """Stands in for what the parser refuses, so the refusal can be located after parsing."""

    __slots__ = ("key", "message")

    def __init__(self, message: str, key: str | None = None):
        self.message = message
        self.key = key


_MAX_DIGITS = 4300  # Python's own limit for int(str); beyond it int() raises


def _parse_int(text: str) -> int | _Bad:
    if len(text) > _MAX_DIGITS:
        return _Bad(f"an integer of {len(text)} digits is too long (at most {_MAX_DIGITS})")
    return int(text)


def _parse_float(text: str) -> float | _Bad:
    x = float(text)
    if math.isinf(x):
        return _Bad(f"{shown(text)} is beyond the range of a double-precision number")
    return x


def _marking_pairs(items: list[tuple[str, Any]]) -> dict[str, Any] | _Bad:
    out: dict[str, Any] = {}
    for key, value in items:
        if key in out:
            return _Bad(f"repeated key {shown(key)} in one object", key)
        out[key] = value
    return out


def _marking_constant(name: str) -> _Bad:
    return _Bad(f"{name} is not allowed in JSON documents")


class _Refused(Exception):
    pass


def _fast_pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(items)
    if len(out) != len(items):
        raise _Refused
    return out


def _fast_constant(name: str) -> Any:
    raise _Refused


_INF = float("inf")


def _fast_float(text: str) -> float:
    x = float(text)
    if x == _INF or x == -_INF:
        raise _Refused
    return x


_FAST_DECODER = json.JSONDecoder(object_pairs_hook=_fast_pairs, parse_constant=_fast_constant,
                                 parse_float=_fast_float)


def _find_bad(value: Any, path: tuple[str | int, ...]) -> tuple[_Bad, tuple[str | int, ...]] | None:
    if isinstance(value, _Bad):
        return value, path if value.key is None else (*path, printable(value.key))
    if isinstance(value, dict):
        for k, v in value.items():
            found = _find_bad(v, (*path, printable(k)))
            if found:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _find_bad(v, (*path, i))
            if found:
                return found
    return None


MAX_DEPTH = 128  # arrays and objects nested deeper are refused (a rule tree needs a few dozen)
_TOO_DEEP = f"nested deeper than {MAX_DEPTH} arrays or objects"
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_PAIR = re.compile(r"\[\]|\{\}")


def _nests_too_deep(text: str) -> bool:
    """Whether a text that parsed nests deeper than MAX_DEPTH: its brackets outside strings,
    innermost pairs removed MAX_DEPTH times. A few C-speed passes (a list of records is only
    a few levels deep), cheaper than walking the parsed value."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    for _ in range(MAX_DEPTH):
        if not brackets:
            return False
        brackets = _PAIR.sub("", brackets)
    return bool(brackets)


def _too_deep(doc: Any) -> tuple[str | int, ...] | None:
    """The path to the first container nested deeper than MAX_DEPTH, or None. Iterative (an
    explicit stack), so no depth makes it fail; paths are built only once one is found."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            break
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value if isinstance(v, (dict, list)))
    else:
        return None
    path: list[str | int] = []
    node = doc
    for _ in range(MAX_DEPTH):  # walk down again to the first container too deep, along a deep enough branch
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        for k, v in items:
            if isinstance(v, (dict, list)) and _depth_at_least(v, MAX_DEPTH - len(path)):
                path.append(printable(k) if isinstance(k, str) else k)
                node = v
                break
    return tuple(path)


def _depth_at_least(value: Any, n: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if d >= n:
            return True
        children = v.values() if isinstance(v, dict) else v
        stack.extend((c, d + 1) for c in children if isinstance(c, (dict, list)))
    return False


_DOUBT = object()
_INT64 = float(2**63)


def _doubtful(value: Any, depth: int = 1) -> bool:
    """Whether a parsed array or object nests deeper than MAX_DEPTH or holds a float of
    magnitude 2^63 or more (which may have been an integer token: orjson reads those beyond
    64 bits as floats, the stdlib as ints)."""
    for v in value.values() if type(value) is dict else value:
        kind = type(v)
        if kind is float:
            if not -_INT64 < v < _INT64:
                return True
        elif (kind is dict or kind is list) and (depth >= MAX_DEPTH or _doubtful(v, depth + 1)):
            return True
    return False


def _loads_compiled(text: str) -> Any:
    """The document parsed by orjson (C), or _DOUBT wherever it might differ from `_loads_stdlib`.

    orjson refuses NaN/Infinity, invalid UTF-8 and lone surrogates, but keeps the last of
    repeated keys, reads integers beyond 64 bits as floats and nests to 1024 levels. So its
    document is taken only where none of that can have happened unseen:
    - no `\\"` and no `\\u0022` in the text: then no string holds a quote, every quote in
      the text opens or closes a string token (a key or a string value), and so does every
      quote in orjson's encoding of the document. A repeated key drops at least one key token
      from the document, so the two counts of quotes agree exactly when no object repeats one;
    - no `\\ud` or `\\uD` escape (no surrogate escape, lone or paired, is decoded here);
    - no float of 2^63 or more, no nesting deeper than MAX_DEPTH (`_doubtful`).
    Everything else, and anything orjson refuses, goes to the stdlib parser, whose refusals
    name the field: errors come from one place only."""
    if "\\" in text and ('\\"' in text or "\\ud" in text or "\\uD" in text or "\\u0022" in text):
        return _DOUBT
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return _DOUBT
    kind = type(doc)
    if kind is dict or kind is list:
        if _doubtful(doc) or text.count('"') != orjson.dumps(doc).count(b'"'):
            return _DOUBT
    elif kind is float and not -_INT64 < doc < _INT64:
        return _DOUBT
    return doc


def loads_strict(text: str | bytes) -> Any:
    """Parse JSON text, refusing what JSON allows but this project does not: repeated keys,
    NaN/Infinity, numbers beyond a double or 4300 digits, nesting deeper than MAX_DEPTH (lone
    surrogates parse; `lone_surrogates` finds them). JsonFormatError names the field."""
    if type(text) is str:
        # Most documents (every evidence line) take the compiled parser, a fifth of the cost.
        doc = _loads_compiled(text)
        if doc is not _DOUBT:
            return doc
    return _loads_stdlib(text)


def _loads_stdlib(text: str | bytes) -> Any:
    # Good input takes one parse whose hooks only raise. A refusal is then located by parsing
    # again with hooks that leave markers, so the error names the field, not just the document.
    try:
        if isinstance(text, str) and not text.startswith("\ufeff"):
            # What json.loads does with such text, without building a decoder per call (a
            # third of the parse of a small record).
            doc = _FAST_DECODER.decode(text)
        else:
            doc = json.loads(text, object_pairs_hook=_fast_pairs, parse_constant=_fast_constant,
                             parse_float=_fast_float)
    except _Refused:
        pass
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JsonFormatError(f"invalid JSON: {exc}") from None
    except ValueError:
        pass  # an integer too long for int(): located below
    except RecursionError:
        raise JsonFormatError(f"invalid JSON: {_TOO_DEEP}") from None
    else:
        if _nests_too_deep(text if isinstance(text, str) else text.decode("utf-8")):
            raise JsonFormatError(_TOO_DEEP, _too_deep(doc) or ())
        return doc
    try:
        marked = json.loads(text, object_pairs_hook=_marking_pairs, parse_constant=_marking_constant,
                            parse_int=_parse_int, parse_float=_parse_float)
    except RecursionError:  # refused for something else too: depth is reason enough
        raise JsonFormatError(f"invalid JSON: {_TOO_DEEP}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        # The first parse stopped at a repeated key or a NaN before it reached a syntax error
        # further on (found by tests/rules/test_fast_paths.py: the raw JSONDecodeError failed
        # a whole import): the text is not JSON at all, said as for any other such text.
        raise JsonFormatError(f"invalid JSON: {exc}") from None
    deep = _too_deep(marked)
    if deep is not None:  # the values beyond the depth are never walked: none may recurse there
        raise JsonFormatError(_TOO_DEEP, deep)
    found = _find_bad(marked, ())
    if found is None:  # pragma: no cover - the first parse refused something the second must mark
        raise JsonFormatError("invalid JSON")
    raise JsonFormatError(found[0].message, found[1])


def printable(text: str) -> str:
    """`text` with any lone surrogate written as a `\\udxxx` escape, so it can be encoded."""
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")


def shown(value: Any, limit: int = 80) -> str:
    """repr of `value` for an error message, cut to about `limit` characters: a reason names
    what was wrong without echoing megabytes of input."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    text = repr(value[:limit] if isinstance(value, str) else value)
    if isinstance(value, str) and len(value) > limit:
        text += f"... ({len(value)} characters)"
    elif len(text) > limit:
        text = text[:limit] + "..."
    return printable(text)


LONE_SURROGATE = ("holds a lone surrogate (an escape such as \\ud800 that is no Unicode character); "
                  "send valid Unicode text")

_SURROGATES = re.compile("[\ud800-\udfff]")


def _broken(text: str) -> bool:
    return not text.isascii() and _SURROGATES.search(text) is not None


def lone_surrogates(value: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Paths of the strings (values or keys) in a parsed JSON value that hold a lone surrogate
    (a JSON text may escape one, `"\\ud800"`; it is no Unicode character, cannot be encoded
    as UTF-8, so it can be neither stored nor hashed). Paths are built only for what is found:
    this runs on every evidence record."""
    if not path and type(value) is dict:
        try:
            # orjson's encoder refuses any string, key or value at any depth, that is not
            # valid UTF-8: with none, the usual record is cleared in one C call. Whatever it
            # refuses (a lone surrogate, or an integer beyond 64 bits, a key that is no
            # string, a depth past its limit) is looked at below.
            orjson.dumps(value)
        except TypeError:
            pass
        else:
            return []
    out: list[tuple[str | int, ...]] = []
    if isinstance(value, str):
        if _broken(value):
            out.append(path)
    elif isinstance(value, dict):
        try:
            plain = "".join(value).isascii() and "".join([v for v in value.values() if isinstance(v, str)]).isascii()
        except TypeError:  # a key that is no string
            plain = False
        if plain:
            # Every key and string value is ASCII (the usual record, in two C scans): only
            # nested objects and arrays can still hold one.
            for k, v in value.items():
                if isinstance(v, (dict, list)):
                    out += lone_surrogates(v, (*path, k))
            return out
        for k, v in value.items():
            if isinstance(k, str) and _broken(k):
                out.append((*path, printable(k)))
            if isinstance(v, str):
                if _broken(v):
                    out.append((*path, printable(k)))
            elif isinstance(v, (dict, list)):
                out += lone_surrogates(v, (*path, printable(k) if isinstance(k, str) else str(k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, (str, dict, list)):
                out += lone_surrogates(v, (*path, i))
    return out


# What json.JSONEncoder(ensure_ascii=False).encode does with a string, without its wrapper.
_dump_str: Callable[[str], str] = json.encoder.encode_basestring


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


# Explanation trees repeat a few shapes of object thousands of times: their keys' sorted order
# and JSON text are worked out once per shape (bounded, as documents may carry any keys).
_KEY_ORDER: dict[tuple[Any, ...], list[tuple[str, str]]] = {}


def _key_order(keys: tuple[Any, ...]) -> list[tuple[str, str]]:
    for key in keys:
        if not isinstance(key, str):
            raise TypeError(f"object keys must be strings, not {type(key).__name__}")
    order = [(key, _dump_str(key) + ":") for key in sorted(keys, key=_utf16_key)]
    if len(_KEY_ORDER) < 4096:
        _KEY_ORDER[keys] = order
    return order


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
        keys = tuple(value)
        order = _KEY_ORDER.get(keys)
        if order is None:
            order = _key_order(keys)
        sep = "{"
        for key, text in order:
            out.append(sep + text)
            item = value[key]
            kind = type(item)
            # The common leaves inline: one call fewer per value of a large tree.
            if kind is str:
                out.append(_dump_str(item))
            elif item is None:
                out.append("null")
            elif kind is int:
                out.append(str(item))
            elif kind is float:
                out.append(_float(item))
            else:
                _encode(item, out)
            sep = ","
        out.append("{}" if sep == "{" else "}")
    elif isinstance(value, (list, tuple)):
        if value and type(value[0]) is str and _plain_strings(value, out):
            return
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif isinstance(value, Encoded):
        out.append(value.text)
    else:
        raise TypeError(f"{type(value).__name__} has no canonical JSON form")


class Encoded:
    """A value already in canonical JSON (`canonical_text` of it), written out as it is: a part
    of a document that is hashed again and again is encoded once."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


def canonical_text(value: Any) -> str:
    out: list[str] = []
    _encode(value, out)
    return "".join(out)


def canonical_json(value: Any) -> bytes:
    return canonical_text(value).encode("utf-8")


def sha256_canonical(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


# A run of the encoded text ends after a piece at least this long (an Encoded part, a long
# list of ids): the unit that sha256_canonical_resumed compares with what it hashed last time.
_SEGMENT = 1024

HashStates = tuple[tuple[str, Any], ...]


def sha256_canonical_resumed(value: Any, before: HashStates | None) -> tuple[str, HashStates]:
    """sha256_canonical(value), and the states to resume from next time.

    SHA-256 reads its input front to back, so where the text starts as it did when `before`
    was made, the hash state after that common start is taken up instead of hashing it again:
    a document that changed in one part is hashed from that part on. The digest is the one of
    the whole text whatever `before` holds (the text is compared, never assumed)."""
    pieces: list[str] = []
    _encode(value, pieces)
    segments: list[str] = []
    run: list[str] = []
    for piece in pieces:
        run.append(piece)
        if len(piece) >= _SEGMENT:
            segments.append("".join(run) if len(run) > 1 else piece)
            run = []
    if run:
        segments.append("".join(run))
    old = before or ()
    states: list[tuple[str, Any]] = []
    h = hashlib.sha256()
    same = True  # every segment so far is the one hashed before
    for i, seg in enumerate(segments):
        same = same and i < len(old) and old[i][0] == seg
        if same:
            states.append(old[i])
            h = old[i][1]
            continue
        h = h.copy()  # a state kept in `before` or `states` is never updated again
        h.update(seg.encode("utf-8"))
        states.append((seg, h))
    return h.hexdigest(), tuple(states)
