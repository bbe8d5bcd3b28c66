"""A hostile JSON value in each field of the webhook, push and task documents, and a hostile
value in each beacon parameter and result: a 4xx in the dialect's error shape naming the field."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.hostile.support import (
    DIGITS,
    Api,
    assert_refused,
    beacon_error,
    push_error,
    task_error,
    webhook_error,
)

# Hostile JSON literals, as a client writes them: the value of one field.
LITERALS = {
    "lone-surrogate": '"\\ud800"',
    "lone-low-surrogate": '"a\\udfffb"',
    "NaN": "NaN",
    "Infinity": "Infinity",
    "-Infinity": "-Infinity",
    "1e999": "1e999",
    "-1e999": "-1e999",
    "huge-int": DIGITS,
    "huge-negative-int": "-" + DIGITS,
    "4301-digits": "1" + "0" * 4300,
    "unicode-digits": '"\u0661\u0662"',
    "superscript-digits": '"\u00b2"',
    "deep-64": "[" * 64 + "1" + "]" * 64,
    "deep-object": '{"a":' * 40 + "1" + "}" * 40,
    "very-deep": "[" * 100_000 + "]" * 100_000,
    "nul": '"a\\u0000b"',
    "crlf": '"a\\r\\nX-Injected: 1"',
    "huge-float": "1.7976931348623157e309",
    "negative": "-1",
    "null": "null",
    "object": '{"\\ud800": 1}',
}
TIMES_ISO = {
    "year-0": '"0000-01-01T00:00:00Z"',
    "year-10000": '"10000-01-01T00:00:00Z"',
    "month-13": '"2030-13-01T00:00:00Z"',
    "feb-30": '"2030-02-30T00:00:00Z"',
    "utc-past-9999": '"9999-12-31T23:59:59-23:59"',
    "before-1": '"-0001-01-01T00:00:00Z"',
    "unicode-digits": '"\u0662\u0660\u0663\u0660-01-01T00:00:00Z"',
}
TIMES_WALL = {
    "year-0": '"0000-01-01 00:00:00"',
    "year-10000": '"10000-01-01 00:00:00"',
    "year-9999": '"9999-12-31 23:59:59"',
    "month-13": '"2030-13-01 00:00:00"',
    "feb-30": '"2030-02-30 10:00:00"',
    "unicode-digits": '"\u0662\u0660\u0663\u0660-01-01 00:00:00"',
}
DATES = {
    "year-0": '"0000-01-01"',
    "year-10000": '"10000-01-01"',
    "feb-30": '"2030-02-30"',
    "month-13": '"2030-13-01"',
    "unicode-digits": '"\u0662\u0660\u0663\u0660-01-01"',
}
HEADER_VALUES = {
    "crlf": '"text/plain\\r\\nX-Injected: 1"',
    "lf": '"a\\nb"',
    "cr": '"a\\rb"',
    "nul": '"a\\u0000b"',
    "vertical-tab": '"a\\u000bb"',
    "non-ascii": '"caf\\u00e9"',
    "leading-space": '" text/plain"',
}

# --- the corpus --------------------------------------------------------------------------------

WEBHOOK_FIELDS = ("url", "cron", "when", "data", "contentType", "signature")
PUSH_FIELDS = (
    "name",
    "enabled",
    "trigger.single.time",
    "trigger.single.zone_type",
    "push.from",
    "push.to.registration_id",
    "push.to.registration_id[0]",
    "push.body.platform",
    "push.body.notification.alert",
    "push.body.message",
    "push.options",
    "push.request_id",
    "push.custom_args",
)
TASK_FIELDS = (
    "user_id",
    "name",
    "class_name",
    "data",
    "active",
    "repeat_items[0].repeat_hour",
    "repeat_items[0].repeat_minute",
    "repeat_items[0].repeat_start",
    "repeat_items[0].repeat_end",
    "repeat_items[0].repeat_interval",
    "repeat_items[0].repeat_weekday",
)
# Values that are acceptable in some fields (a string where any string goes, -1 for a minute
# that is then out of range...) are still refused there: every field here rejects each of them.
ACCEPTABLE = {
    ("webhook", "data", "unicode-digits"),
    ("webhook", "data", "superscript-digits"),
    ("webhook", "data", "nul"),
    ("webhook", "data", "crlf"),
    ("webhook", "data", "null"),
    ("webhook", "contentType", "null"),
    ("webhook", "signature", "null"),
    ("push", "push.custom_args", "negative"),
    ("push", "push.custom_args", "null"),
    ("push", "push.custom_args", "unicode-digits"),
    ("push", "push.custom_args", "superscript-digits"),
    ("push", "push.custom_args", "nul"),
    ("push", "push.custom_args", "crlf"),
    ("push", "push.body.notification.alert", "negative"),
    ("push", "push.body.notification.alert", "null"),
    ("push", "push.body.notification.alert", "unicode-digits"),
    ("push", "push.body.notification.alert", "superscript-digits"),
    ("push", "push.body.notification.alert", "nul"),
    ("push", "push.body.notification.alert", "crlf"),
    ("push", "push.body.notification.alert", "deep-64"),
    ("push", "push.body.notification.alert", "deep-object"),
    ("push", "push.name", "unicode-digits"),
    ("push", "name", "unicode-digits"),
    ("push", "name", "superscript-digits"),
    ("push", "push.from", "unicode-digits"),
    ("push", "push.from", "superscript-digits"),
    ("push", "push.from", "nul"),
    ("push", "push.from", "crlf"),
    ("push", "push.request_id", "unicode-digits"),
    ("push", "push.request_id", "superscript-digits"),
    ("push", "push.request_id", "nul"),
    ("push", "push.request_id", "crlf"),
    ("push", "push.to.registration_id[0]", "unicode-digits"),
    ("push", "push.to.registration_id[0]", "superscript-digits"),
    ("push", "push.to.registration_id[0]", "nul"),
    ("push", "push.to.registration_id[0]", "crlf"),
    ("task", "name", "unicode-digits"),
    ("task", "name", "superscript-digits"),
    ("task", "name", "nul"),
    ("task", "name", "crlf"),
    ("task", "data", "negative"),
    ("task", "data", "null"),
    ("task", "data", "unicode-digits"),
    ("task", "data", "superscript-digits"),
    ("task", "data", "nul"),
    ("task", "data", "crlf"),
    ("task", "data", "deep-object"),
    ("task", "repeat_items[0].repeat_end", "null"),
    ("task", "repeat_items[0].repeat_interval", "null"),
    ("task", "repeat_items[0].repeat_start", "null"),
    ("task", "repeat_items[0].repeat_weekday", "null"),
    ("task", "repeat_items[0].repeat_weekday", "negative"),
    ("task", "repeat_items[0].repeat_hour", "null"),
    ("task", "repeat_items[0].repeat_minute", "null"),
}


def leaf(path: str) -> str:
    """The name a message must hold: the field's own name (``repeat_items[0].repeat_hour``
    -> ``repeat_hour``; a list item -> its list's name)."""
    return re.sub(r"\[\d+\]$", "", path).rsplit(".", 1)[-1]


def json_cases() -> Iterator[Any]:
    plans: list[tuple[str, tuple[str, ...], dict[str, str]]] = [
        ("webhook", WEBHOOK_FIELDS, LITERALS),
        ("webhook", ("when",), TIMES_ISO),
        ("webhook", ("contentType", "signature"), HEADER_VALUES),
        ("push", PUSH_FIELDS, LITERALS),
        ("push", ("trigger.single.time",), TIMES_WALL),
        ("task", TASK_FIELDS, LITERALS),
        ("task", ("repeat_items[0].repeat_start", "repeat_items[0].repeat_end"), DATES),
    ]
    for dialect, fields, values in plans:
        for field in fields:
            for name, literal in values.items():
                if (dialect, field, name) in ACCEPTABLE:
                    continue
                yield pytest.param(dialect, field, literal, id=f"{dialect}-{field}-{name}")


ERRORS = {"webhook": webhook_error, "push": push_error, "task": task_error}


@pytest.mark.parametrize(("dialect", "field", "literal"), list(json_cases()))
def test_a_hostile_json_value_is_refused_naming_its_field(
    api: Api, dialect: str, field: str, literal: str
) -> None:
    response = getattr(api, dialect)(field, literal)
    # Nesting past the parser's own recursion limit can't be traced to a field: "body" it is.
    names = (leaf(field), "body") if literal.startswith("[" * 1000) else (leaf(field),)
    assert_refused(response, ERRORS[dialect], *names)


BEACON_FIELDS = {
    "q_time": ("\u0661\u0662", "\u00b2", DIGITS, "-1", "253402300800", "NaN", "1e999", "0x10"),
    "start_date": ("\u0661\u0662", DIGITS, "-5", "Infinity", "99999999999999999999"),
    "end_date": ("\u0661\u0662", DIGITS, "253402300800", "1.5"),
    "q": ("\u0661", "\u00b9", "yes", "NaN"),
    "schedule": ("\u0661", "2", "Infinity"),
    "min": ("\u0661\u0662", "\u00b2", DIGITS, "60", "*/0", "\x00"),
    "hour": ("\u0662\u0664", "24", DIGITS),
    "dow": ("\u0661", "8", "MON-\u0661"),
    "tasks": tuple(LITERALS.values()) + ("[" + "{}," * 101 + "{}]", "[1]", '{"a": 1}'),
    "name": ("", "x" * 201),
    "beacon_name": ("x" * 201,),
}


def beacon_cases() -> Iterator[Any]:
    for field, values in BEACON_FIELDS.items():
        for n, value in enumerate(values):
            yield pytest.param(field, value, id=f"beacon-{field}-{n}")


@pytest.mark.parametrize(("field", "value"), list(beacon_cases()))
def test_a_hostile_beacon_parameter_is_refused_naming_it(api: Api, field: str, value: str) -> None:
    fields = {field: value}
    if field in ("min", "hour", "dow", "start_date", "end_date"):  # read only when scheduled
        fields["schedule"] = "1"
    assert_refused(api.beacon(fields), beacon_error, field)


def test_hostile_results_of_a_beacon_job_are_refused_naming_the_result(api: Api) -> None:
    job = api.beacon({})
    number = str(job.get_json()["id"])
    assert api.beacon({}, "pickup", f"/{number}").status_code == 200
    assert api.beacon({}, "start", f"/{number}").status_code == 200
    for name, literal in LITERALS.items():
        if name in ("negative", "null", "unicode-digits", "superscript-digits", "nul", "crlf"):
            continue  # JSON values a task's result may well be
        fields = {"result[]": '{"status": "ok"}', "result": literal}
        response = api.beacon(fields, "end", f"/{number}")
        names = ("result", "body") if name == "very-deep" else ("result",)
        assert_refused(response, beacon_error, *names)
    assert (
        api.client.get(f"/api/jobs/{number}?userkey={api.creds['userkey']}").get_json()["status"]
        == "started"
    )
