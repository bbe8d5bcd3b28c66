"""The one rule for client JSON, whatever the dialect: how deep, how large, and what it may hold.

Every JSON value a client hands us to store and deliver later (a task's ``data``, a push
document, a beacon job's ``tasks``, each of a job's ``result[]``) is checked here, where it
enters the core, before it is stored:

- at most ``MAX_DEPTH`` levels of arrays/objects, counted from the field itself;
- at most ``SCHEDULER_JSON_MAX_BYTES`` bytes as compact UTF-8 JSON;
- numbers are finite (``NaN``, ``Infinity`` and ``1e999`` are not JSON and are never stored),
  and integers have at most ``MAX_INT_DIGITS`` digits (Python's own ``int()`` limit);
- strings and keys are valid Unicode (a lone surrogate such as ``"\\ud800"`` can't be UTF-8).

Why: deep JSON kills a worker's main process (it pickles each message for its pool processes,
and pickling recurses once per level), and large or unencodable values break the store or the
receiver. Pure functions, no I/O; a violation raises ``InvalidSchedule`` naming the field.
"""

from __future__ import annotations

import json
import math
from typing import Any

from shared.errors import InvalidSchedule

MAX_DEPTH = 32
# A pool's message wraps a client's JSON in a few levels of its own (execution -> target ->
# spec -> job -> tasks): the pools refuse messages nested deeper than the rule allows plus this.
ENVELOPE_DEPTH = 8
MESSAGE_MAX_DEPTH = MAX_DEPTH + ENVELOPE_DEPTH
PATH_LEVELS = 3  # levels of a too-deep value's path named in the error


MAX_INT_DIGITS = 4300  # int(str) raises ValueError past this many digits


class HugeInteger(int):
    """What ``parse_int`` reads for an integer of too many digits (0, marked): refused by
    ``first_unstorable`` with the field's path, as a NaN is."""

    digits: int


def parse_int(text: str) -> int:
    """``json.loads``'s ``parse_int``: an integer of too many digits becomes a ``HugeInteger``
    (instead of the ValueError that ``int()`` raises there, which names no field)."""
    if len(text.lstrip("-")) <= MAX_INT_DIGITS:
        return int(text)
    huge = HugeInteger(0)
    huge.digits = len(text.lstrip("-"))
    return huge


class TooDeep(ValueError):
    """A value nests deeper than allowed."""


def depth(value: Any, limit: int | None = None, name: str = "") -> int:
    """How deeply arrays/objects nest in ``value`` (a scalar is 0), walked without recursion.
    With ``limit``, raises ``TooDeep`` naming where (``name`` and its first keys) as soon as a
    level beyond it is seen."""
    deepest, stack = 0, [(value, 1, name)]
    while stack:
        item, level, path = stack.pop()
        if not isinstance(item, dict | list | tuple):
            continue
        if limit is not None and level > limit:
            raise TooDeep(f"{path}: nested more than {limit} levels deep")
        deepest = max(deepest, level)
        pairs = item.items() if isinstance(item, dict) else enumerate(item)
        stack.extend((child, level + 1, _child(path, key, level)) for key, child in pairs)
    return deepest


def _child(path: str, key: Any, level: int) -> str:
    """The path of a child, spelled out for the first few levels only (then "...")."""
    if level > PATH_LEVELS:
        return path if path.endswith("...") else path + "..."
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}.{_short(str(key))}"


def check_json(name: str, value: Any, max_bytes: int, max_depth: int = MAX_DEPTH) -> None:
    """Refuse ``value`` (the field ``name``) unless it follows the rule; the message names it."""
    try:
        depth(value, max_depth, name)
    except TooDeep as exc:
        raise InvalidSchedule(str(exc)) from None
    problem = first_unstorable(value, name)
    if problem:
        raise InvalidSchedule(problem)
    size = json_size(value)
    if size > max_bytes:
        raise InvalidSchedule(f"{name}: {size} bytes of JSON; at most {max_bytes}")


def check_fields(fields: dict[str, Any], max_bytes: int) -> None:
    for name, value in fields.items():
        check_json(name, value, max_bytes)


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON (how it is stored). Call on checked values."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def first_unstorable(value: Any, name: str) -> str | None:
    """Where ``value`` holds a non-finite number, a ``HugeInteger`` or a string that is not valid
    Unicode, said as ``<path>: <why>`` (the path starts with ``name``; with none, at a top-level
    key, or ``body`` for the value itself)."""
    stack = [(value, name)]
    while stack:
        item, path = stack.pop()
        where = path or "body"
        if isinstance(item, HugeInteger):
            return f"{where}: an integer of {item.digits} digits; at most {MAX_INT_DIGITS}"
        if isinstance(item, float) and not math.isfinite(item):
            text = json.dumps(item)
            return f"{where}: {text} is not a JSON number (NaN and Infinity are refused)"
        if isinstance(item, str) and not _is_unicode(item):
            return f"{where}: not valid Unicode (a lone surrogate such as \\ud800)"
        if isinstance(item, dict):
            for key, child in item.items():
                if not _is_unicode(str(key)):
                    return f"{where}: a key is not valid Unicode (a lone surrogate such as \\ud800)"
                key_path = _short(str(key))
                stack.append((child, f"{path}.{key_path}" if path else key_path))
        elif isinstance(item, list | tuple):
            stack.extend((child, f"{where}[{n}]") for n, child in enumerate(item))
    return None


def _short(key: str) -> str:
    """A key as it appears in a message: cut, so an error never echoes a huge key back."""
    return key if len(key) <= 40 else key[:37] + "..."


def _is_unicode(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
