"""A hostile JSON value in each field of a native (/v1) schedule: a 4xx problem document that
names the field, never a 5xx and nothing stored."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.hostile.support import Api, assert_refused, native_error
from tests.hostile.test_json_fields import DATES, HEADER_VALUES, LITERALS, TIMES_ISO

FIELDS = (
    "name",
    "trigger",
    "trigger.cron",
    "target",
    "target.webhook",
    "target.webhook.url",
    "target.webhook.content_type",
    "timezone",
    "dst",
    "start",
    "end",
    "max_runs",
    "jitter_s",
    "catchup_window_s",
    "paused",
    "metadata",
)
TRIGGERS: dict[str, dict[str, Any]] = {
    "at": {"at": "2030-01-01T00:00:00Z"},
    "every": {"every": "PT1H"},
    "anchor": {"every": 60, "anchor": "2030-01-01T00:00:00Z"},
    "rrule": {"rrule": "FREQ=DAILY"},
    "calendar": {"calendar": [{"hour": 3}]},
}
TRIGGER_FIELDS = {
    "at": ("trigger.at",),
    "every": ("trigger.every",),
    "anchor": ("trigger.anchor",),
    "rrule": ("trigger.rrule",),
    "calendar": tuple(
        f"trigger.calendar[0].{name}"
        for name in ("year", "month", "day", "week", "weekday", "hour", "minute", "interval_min")
    )
    + ("trigger.calendar[0].start", "trigger.calendar[0].end"),
}
RRULES = {
    "minutely": '"FREQ=MINUTELY"',
    "lines": '"FREQ=DAILY\\nRDATE:20300101"',
    "dtstart": '"DTSTART:20300101T000000\\nRRULE:FREQ=DAILY"',
    "never": '"FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"',
    "until-local": '"FREQ=DAILY;UNTIL=20300101"',
    "count-huge": '"FREQ=DAILY;COUNT=' + "9" * 40 + '"',
    "interval-0": '"FREQ=DAILY;INTERVAL=0"',
    "bysetpos-0": '"FREQ=MONTHLY;BYDAY=MO;BYSETPOS=0"',
    "byday-junk": '"FREQ=WEEKLY;BYDAY=XX"',
    "nul": '"FREQ=DAILY\\u0000"',
}
DURATIONS = {
    "month": '"P1M"',
    "year": '"P1Y"',
    "zero": '"PT0S"',
    "empty": '"P"',
    "bare-t": '"PT"',
    "fraction": '"PT0.5S"',
    "huge": '"P9999999W"',
    "unicode-digits": '"PT\\u0661\\u0662M"',
    "negative-seconds": "-5",
    "zero-seconds": "0",
    "float": "1.5",
}
# Values some fields take: a string where any string goes, null for an optional item field.
ACCEPTABLE = {
    ("name", "unicode-digits"),
    ("name", "superscript-digits"),
    ("name", "nul"),
    ("name", "crlf"),
    *((f, "null") for fields in TRIGGER_FIELDS.values() for f in fields if "calendar" in f),
}


# Refused, but for what the value leaves: a start past year 9999 (in UTC) leaves no fire.
NO_FIRE_LEFT = {("start", "utc-past-9999")}


def leaf(path: str) -> str:
    return re.sub(r"\[\d+\]$", "", path).rsplit(".", 1)[-1]


def cases() -> Iterator[Any]:
    plans: list[tuple[str | None, tuple[str, ...], dict[str, str]]] = [
        (None, FIELDS, LITERALS),
        (None, ("start", "end"), TIMES_ISO),
        (None, ("target.webhook.content_type",), HEADER_VALUES),
        ("rrule", ("trigger.rrule",), RRULES),
        ("every", ("trigger.every",), DURATIONS),
        ("anchor", ("trigger.anchor",), TIMES_ISO),
        ("at", ("trigger.at",), TIMES_ISO),
        ("calendar", ("trigger.calendar[0].start", "trigger.calendar[0].end"), DATES),
        *((kind, fields, LITERALS) for kind, fields in TRIGGER_FIELDS.items()),
    ]
    for kind, fields, values in plans:
        for field in fields:
            for name, literal in values.items():
                if (field, name) in ACCEPTABLE:
                    continue
                yield pytest.param(kind, field, literal, id=f"{kind or 'cron'}-{field}-{name}")


@pytest.mark.parametrize(("kind", "field", "literal"), list(cases()))
def test_a_hostile_native_value_is_a_problem_naming_its_field(
    api: Api, kind: str | None, field: str, literal: str
) -> None:
    from tests.test_fuzz_all import NATIVE

    doc = NATIVE if kind is None else {**NATIVE, "trigger": TRIGGERS[kind]}
    response = api.native(field, literal, doc)
    names = [leaf(field), field.split(".")[0], "body"]
    if any(field == f and literal == TIMES_ISO.get(n) for f, n in NO_FIRE_LEFT):
        names.append("no future fire")
    assert_refused(response, native_error, *names)
