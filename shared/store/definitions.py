"""The stored form of a schedule definition (the ``definitions`` hash's values).

A value is ``<version>.<due bucket>|<JSON>``: ``put_schedule.lua`` writes the version (the edit
counter the beat's commit compares with its claim's) and the bucket of the due index that holds
the schedule (``lua/lib/due_index.lua``) in front of what ``encode_definition`` gives, so a
schedule costs one hash entry instead of two (the ``versions`` hash keeps only the counters of
definitions stored before, until they are next written; a value stored before the buckets is
``<version>|<JSON>``).

The JSON is an array, ``Schedule.to_dict`` by position, without what the reader knows already:

    [account, dialect, trigger, target, created_ms, {other fields}]
    trigger: [kind code, its fields in _TRIGGER_FIELDS order]    e.g. ["c", "*/5 * * * *"]
    target:  [kind code, its spec's fields in _SPEC_FIELDS order, {other spec keys}]

The dialect, and a webhook's content type when it is a common one, are stored as a number: the
code of the name (_DIALECT_CODES, _CONTENT_TYPE_CODES); a string in their place is the name
itself. That takes a webhook-jobs JSON schedule from ~161 to ~131 characters, under a step of
Redis's allocator: 32 bytes less per schedule on the memory benchmark.

No id (it is the hash field, and every reader reads a definition by its id), no field at its
default (the model's ``from_dict`` fills it: a trigger's UTC time zone too), trailing nulls
left off; ``null`` in a position means absent (a spec key present with the value null goes into
the trailing object). The codes and field orders below are the form itself: append to them,
never reorder. A webhook schedule's value is ~80 bytes shorter than the object form with
one-letter names that came before, and ~230 than the whole ``to_dict``.

Both earlier forms (the whole ``to_dict``, id included; the object with one-letter names) read
the same, so stored data needs no migration; a definition takes this form when next written.
"""

from __future__ import annotations

import json
import re
from dataclasses import MISSING, fields
from typing import Any

from shared.errors import InvalidSchedule
from shared.model import Schedule
from shared.store.base import dumps

_DUE_BUCKET = re.compile(r"\d+\.(\d+)\|")
_OMITTED_DEFAULTS = ("enabled", "misfire", "purge_when_done", "doc")


def _defaults() -> dict[str, Any]:
    """The model's own defaults of the omitted fields, so the two cannot drift apart."""
    found: dict[str, Any] = {}
    for f in fields(Schedule):
        if f.name in _OMITTED_DEFAULTS:
            found[f.name] = f.default if f.default_factory is MISSING else f.default_factory()
    return found


_DEFAULTS = _defaults()
_DEFAULT_TIMEZONE = "UTC"  # every zoned trigger's default (shared.model)
_POSITIONS = ("account", "dialect", "trigger", "target", "created_ms")
_TRIGGER_CODES = {
    "once": "o",
    "cron": "c",
    "calendar": "k",
    "interval": "i",
    "instants": "n",
    "rrule": "r",
}
_TRIGGER_FIELDS = {
    "once": ("at_ms",),
    "cron": ("expr", "timezone", "dst"),
    "calendar": ("items", "timezone", "dst"),
    "interval": ("every_ms", "anchor_ms"),
    "instants": ("at_ms",),
    "rrule": ("rule", "dtstart_ms", "timezone"),
}
_TARGET_CODES = {"webhook": "w", "push": "p", "task": "t", "beacon": "b"}
_SPEC_FIELDS = {
    "webhook": ("url", "data", "content_type"),
    "push": ("push",),
    "task": ("class_name", "data"),
    "beacon": ("job",),
}
# Numbers, not letters: a code costs one character, no quotes.
_DIALECT_CODES = {
    "webhook_jobs": 0,
    "push_schedules": 1,
    "task_scheduler": 2,
    "beacon_jobs": 3,
    "native": 4,
    "cli": 5,
}
_CONTENT_TYPE_CODES = {
    "application/json": 0,
    "text/plain; charset=utf-8": 1,
    "text/plain": 2,
    "application/xml": 3,
    "text/xml": 4,
    "application/x-www-form-urlencoded": 5,
    "application/octet-stream": 6,
}
_CODED_SPEC_FIELD = "content_type"  # the one spec field with codes (a webhook's)
_TRIGGER_KINDS = {code: kind for kind, code in _TRIGGER_CODES.items()}
_TARGET_KINDS = {code: kind for kind, code in _TARGET_CODES.items()}
_DIALECTS = {code: name for name, code in _DIALECT_CODES.items()}
_CONTENT_TYPES = {code: name for name, code in _CONTENT_TYPE_CODES.items()}
# The object form before this one named these five by one letter.
_LONG_NAMES = {"a": "account", "d": "dialect", "t": "trigger", "g": "target", "c": "created_ms"}


def encode_definition(schedule: Schedule) -> str:
    """The value stored under ``schedule.id`` in the ``definitions`` hash."""
    data = schedule.to_dict()
    del data["id"]
    for name, default in _DEFAULTS.items():
        if data.get(name) == default:
            del data[name]
    row = [data.pop(name) for name in _POSITIONS]
    row[1] = _DIALECT_CODES.get(row[1], row[1])
    row[2] = _encode_trigger(row[2])
    row[3] = _encode_target(row[3])
    return dumps(row + [data] if data else row)


def _encode_trigger(trigger: dict[str, Any]) -> list[Any]:
    if trigger.get("timezone") == _DEFAULT_TIMEZONE:
        del trigger["timezone"]
    kind = trigger["kind"]
    return _trimmed([_TRIGGER_CODES[kind], *(trigger.get(n) for n in _TRIGGER_FIELDS[kind])])


def _encode_target(target: dict[str, Any]) -> list[Any]:
    kind, spec = target["kind"], target["spec"]
    names = _SPEC_FIELDS[kind]
    row = [_TARGET_CODES[kind], *(_position(n, spec.get(n)) for n in names)]
    rest = {n: v for n, v in spec.items() if n not in names or _position(n, v) is None}
    return row + [rest] if rest else _trimmed(row)


def _position(name: str, value: Any) -> Any:
    """What a spec field's position holds: a common content type as its code."""
    if name != _CODED_SPEC_FIELD or value is None:
        return value
    if not isinstance(value, str):
        return None  # a number there reads as a code: it goes into the trailing object
    return _CONTENT_TYPE_CODES.get(value, value)


def _trimmed(row: list[Any]) -> list[Any]:
    while row and row[-1] is None:
        row.pop()
    return row


def due_bucket(raw: str) -> str | None:
    """The due index's bucket a stored value names (``"<version>.<bucket>|"`` in front), or
    None: stored before the buckets, its entry is in the due index's root."""
    found = _DUE_BUCKET.match(raw)
    return found.group(1) if found else None


def definition_dict(schedule_id: str, raw: str) -> dict[str, Any]:
    """A stored value as ``Schedule.to_dict`` gives it (any form): what a backup keeps."""
    return decode_definition(schedule_id, raw).to_dict()


def decode_definition(schedule_id: str, raw: str) -> Schedule:
    """The schedule stored as ``raw`` under ``schedule_id`` (this form or an older one).
    Raises InvalidSchedule when the value is not a schedule."""
    if raw[:1] not in ("{", "["):  # "<version>|<JSON>"; a value stored before is the JSON alone
        raw = raw.partition("|")[2]
    stored = json.loads(raw)
    if isinstance(stored, list):
        data = _decode_row(schedule_id, stored)
    elif isinstance(stored, dict):
        data = {_LONG_NAMES.get(name) or name: value for name, value in stored.items()}
    else:
        raise InvalidSchedule(f"schedule {schedule_id}: stored value is not a schedule")
    data.setdefault("id", schedule_id)
    return Schedule.from_dict(data)


def _decode_row(schedule_id: str, row: list[Any]) -> dict[str, Any]:
    rest = row[5] if len(row) == 6 else {}
    if len(row) not in (5, 6) or not isinstance(rest, dict):
        raise InvalidSchedule(f"schedule {schedule_id}: stored value is not a schedule")
    try:
        dialect = _decoded(row[1], _DIALECTS)
        trigger, target = _decode_trigger(row[2]), _decode_target(row[3])
    except (TypeError, KeyError, IndexError, ValueError) as exc:
        raise InvalidSchedule(f"schedule {schedule_id}: stored value is not a schedule") from exc
    return {
        **dict(zip(_POSITIONS, row, strict=False)),
        "dialect": dialect,
        "trigger": trigger,
        "target": target,
        **rest,
    }


def _decode_trigger(row: list[Any]) -> dict[str, Any]:
    kind = _TRIGGER_KINDS[row[0]]
    given = zip(_TRIGGER_FIELDS[kind], row[1:], strict=False)
    return {"kind": kind, **{name: value for name, value in given if value is not None}}


def _decode_target(row: list[Any]) -> dict[str, Any]:
    kind = _TARGET_KINDS[row[0]]
    names = _SPEC_FIELDS[kind]
    given = zip(names, row[1 : 1 + len(names)], strict=False)
    spec = {name: _decoded_field(name, value) for name, value in given if value is not None}
    if len(row) > 1 + len(names):
        spec.update(row[1 + len(names)])
    return {"kind": kind, "spec": spec}


def _decoded_field(name: str, value: Any) -> Any:
    return _decoded(value, _CONTENT_TYPES) if name == _CODED_SPEC_FIELD else value


def _decoded(value: Any, names: dict[int, str]) -> Any:
    """A stored code's name; a string is the name itself. Raises KeyError on an unknown code."""
    if isinstance(value, int) and not isinstance(value, bool):
        return names[value]
    return value
