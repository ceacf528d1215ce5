"""Reading the values of ArcGIS's JSON answers, whatever type a server chose for them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

# What an answer may hold once decoded: a hostile server's `[{},{},…]` costs some thirty times its bytes as Python
# objects, and nesting costs the decoder's stack. A page of 200 jobs holds a few thousand; a job's page (messages,
# parameters with geometries) tens of thousands.
MAX_CONTAINERS = 200_000  # objects and lists in one answer
MAX_DEPTH = 100
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)  # a JSON string, escapes included
_BRACKET = re.compile(rb"[\[\]{}]")


def as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def texts(value: Any) -> list[str]:
    """Messages from an answer: a lone string is one message, not a list of characters."""
    if isinstance(value, str):
        value = [value]
    return [str(v) for v in value if v] if isinstance(value, list) else []


def datetime_from_ms(value: Any) -> datetime | None:
    """Epoch milliseconds, as number or string; None, '', 0 and negatives mean unset."""
    try:
        millis = int(float(value))
    except (TypeError, ValueError, OverflowError):
        return None
    if millis <= 0:
        return None
    try:
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):  # beyond the years a datetime can hold
        return None


def epoch_ms_text(value: datetime | None) -> str:
    return "" if value is None else str(int(value.timestamp() * 1000))


def bounded_text(value: Any, limit: int) -> tuple[str, bool]:
    """A text from an answer, at most `limit` characters: (text, whether it was cut)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return "", False
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        return text[:limit], True
    return text, False


def depth(value: Any, limit: int) -> int:
    """How deeply lists and objects nest in a JSON value, counted up to just past `limit` (without recursion: a
    hostile value may be deep)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            if level > limit:
                return level
            stack += [(child, level + 1) for child in item if isinstance(child, dict | list)]
    return deepest


def shape_problem(raw: bytes) -> str | None:
    """Why an answer's JSON is too much to decode (too many objects and lists, or nested too deeply), before it is
    decoded; None when it is not. Brackets inside strings do not count."""
    skeleton = _STRING.sub(b"", raw)
    containers = skeleton.count(b"{") + skeleton.count(b"[")
    if containers > MAX_CONTAINERS:
        return f"more than {MAX_CONTAINERS:,} objects and lists"
    level = 0
    for bracket in _BRACKET.finditer(skeleton):
        level += 1 if bracket.group() in (b"{", b"[") else -1
        if level > MAX_DEPTH:
            return f"objects and lists nested too deeply: more than {MAX_DEPTH} levels"
    return None
