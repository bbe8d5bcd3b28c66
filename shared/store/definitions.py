"""The stored form of a schedule definition (the ``definitions`` hash's values).

A value is ``<version>|<JSON>``: ``put_schedule.lua`` writes the version (the edit counter the
beat's commit compares with its claim's) in front of what ``encode_definition`` gives, so a
schedule costs one hash entry instead of two (the ``versions`` hash keeps only the counters of
definitions stored before, until they are next written).

``Schedule.to_dict`` without what the reader knows already: the id (it is the hash field, and
every reader reads a definition by its id) and the fields that hold their default (the model's
``from_dict`` fills them), a trigger's time zone when it is UTC (its default too), and one-letter
names for the five fields every schedule has (other fields keep their names). A webhook
schedule's value is ~150 bytes shorter for it. Values written before this form (the whole
``to_dict``, id included) read the same, so stored data needs no migration; a definition takes
the short form when it is next written.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, fields
from typing import Any

from shared.errors import InvalidSchedule
from shared.model import Schedule
from shared.store.base import dumps

_OMITTED_DEFAULTS = ("enabled", "misfire", "purge_when_done", "doc")


def _defaults() -> dict[str, Any]:
    """The model's own defaults of the omitted fields, so the two cannot drift apart."""
    found: dict[str, Any] = {}
    for f in fields(Schedule):
        if f.name in _OMITTED_DEFAULTS:
            found[f.name] = f.default if f.default_factory is MISSING else f.default_factory()
    return found


_DEFAULTS = _defaults()
_SHORT_NAMES = {"account": "a", "dialect": "d", "trigger": "t", "target": "g", "created_ms": "c"}
_LONG_NAMES = {short: name for name, short in _SHORT_NAMES.items()}
_DEFAULT_TIMEZONE = "UTC"  # every zoned trigger's default (shared.model)


def encode_definition(schedule: Schedule) -> str:
    """The value stored under ``schedule.id`` in the ``definitions`` hash."""
    data = schedule.to_dict()
    del data["id"]
    for name, default in _DEFAULTS.items():
        if data.get(name) == default:
            del data[name]
    trigger = data["trigger"]  # a fresh dict of to_dict's own
    if trigger.get("timezone") == _DEFAULT_TIMEZONE:
        del trigger["timezone"]
    return dumps({_SHORT_NAMES.get(name, name): value for name, value in data.items()})


def definition_dict(schedule_id: str, raw: str) -> dict[str, Any]:
    """A stored value as ``Schedule.to_dict`` gives it (either form): what a backup keeps."""
    return decode_definition(schedule_id, raw).to_dict()


def decode_definition(schedule_id: str, raw: str) -> Schedule:
    """The schedule stored as ``raw`` under ``schedule_id`` (short form or the older whole one).
    Raises InvalidSchedule when the value is not a schedule."""
    if not raw.startswith("{"):  # "<version>|<JSON>"; a value stored before is the JSON alone
        raw = raw.partition("|")[2]
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise InvalidSchedule(f"schedule {schedule_id}: stored value is not an object")
    data = {_LONG_NAMES.get(name, name): value for name, value in data.items()}
    data.setdefault("id", schedule_id)
    return Schedule.from_dict(data)
