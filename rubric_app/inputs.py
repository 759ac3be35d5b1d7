"""Bounded parsing of untrusted input: ASCII-only numbers, plain decimals, JSON depth, storable text.

Pure Python (no Flask, no SQLAlchemy), so services and views share one set of rules. Every check
runs before any ``int()`` or ``Decimal()`` conversion, so a huge exponent or a 5,000-digit number
costs nothing.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

#: the largest id a URL or a query may name (a PostgreSQL ``integer``)
MAX_ID = 2**31 - 1
#: how deep a JSON request body may nest objects and arrays
MAX_JSON_DEPTH = 32
#: digits a plain decimal (weights, thresholds, minimum scores) may have, integer and fraction together
MAX_DECIMAL_DIGITS = 12

_ASCII_INT = re.compile(r"[+-]?[0-9]+")
_PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
#: NUL, and UTF-16 surrogates (only ever unpaired in a Python str): PostgreSQL cannot store either
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def ascii_int(text: Any, minimum: int | None = None, maximum: int | None = None, *, max_digits: int = 10) -> int | None:
    """``text`` as an int if it is ASCII digits (an optional sign) within the bounds, else None.

    Refuses what ``str.isdigit()`` and ``int()`` accept but a person did not mean: superscripts
    ("³"), other scripts' digits ("٣"), surrounding spaces, underscores, and more than
    ``max_digits`` digits.
    """
    if not isinstance(text, str) or not _ASCII_INT.fullmatch(text) or len(text.lstrip("+-")) > max_digits:
        return None
    value = int(text)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        return None
    return value


def plain_decimal(value: Any, *, max_digits: int = MAX_DECIMAL_DIGITS) -> Decimal | None:
    """A number written plainly (``12``, ``-0.5``, ``3.25``; no exponent, no inf/nan, ASCII digits,
    at most ``max_digits`` digits) as a Decimal, else None. Ints and floats are read via ``str``."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    text = value.strip() if isinstance(value, str) else str(value)
    if len(text) > max_digits + 2 or not _PLAIN_DECIMAL.fullmatch(text):
        return None
    if sum(ch.isascii() and ch.isdigit() for ch in text) > max_digits:
        return None
    return Decimal(text)


def json_depth(data: Any) -> int:
    """How deep parsed JSON nests arrays and objects (a scalar: 0). Iterative, so any depth is safe.

    Python's JSON parser itself gives up with :class:`RecursionError` (quickly) on bodies nested
    about a thousand deep; this measures what it did parse against :data:`MAX_JSON_DEPTH`.
    """
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, list):
            continue
        deepest = max(deepest, depth)
        stack.extend((item, depth + 1) for item in value if isinstance(item, (dict, list)))
    return deepest


def unstorable(text: str) -> bool:
    """Whether ``text`` holds a NUL byte or an unpaired surrogate (no database can store them as text)."""
    return _UNSTORABLE.search(text) is not None


def unstorable_json_path(data: Any, path: str = "") -> str | None:
    """The path (``answers[0].evidence``) of the first JSON key or string with an unstorable character, else None."""
    for where, text in _json_strings(data, path):
        if unstorable(text):
            return where
    return None


def _json_strings(data: Any, path: str) -> Iterator[tuple[str, str]]:
    stack = [(path, data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            yield where or "body", value
        elif isinstance(value, dict):
            for key, item in value.items():
                name = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and unstorable(key):
                    yield name, key
                stack.append((name, item))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(value))


def printable_name(name: str, limit: int = 80) -> str:
    """A field name safe to show and to encode (unstorable characters replaced, shortened)."""
    return _UNSTORABLE.sub("\ufffd", name)[:limit]
